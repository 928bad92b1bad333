"""The schema registry through the official client (pulsar.schema) and the
admin API.

Avro and JSON records evolve under the namespace's strategy: a compatible
new version is registered, a breaking one is refused with
IncompatibleSchema, a schema of another type too; consumers learn each
message's version; String schemas work; partitions share their topic's
schema; the admin paths read, post, refuse bad payloads and delete; the
namespace strategy is set and takes effect.

usage: schemas.py all URL ADMIN_URL
       schemas.py check URL ADMIN_URL   (after a restart: versions kept)"""

import json
import sys

import pulsar
from pulsar.schema import AvroSchema, Integer, JsonSchema, Record, String, StringSchema

from common import Checks, admin_request, client

mode, url, admin = sys.argv[1], sys.argv[2], sys.argv[3]
c = client(url, operation_timeout_seconds=10)
check = Checks()


def http(method, path, body=None):
    return admin_request(admin, method, path, body)


# The Python client writes no defaults into its records' schemas, so adding
# a field is never compatible by Avro's rules; removing one is BACKWARD
# compatible (the new schema ignores the old field).
def v1():
    class User(Record):
        name = String()
        age = Integer()
    return User


def v2():
    class User(Record):
        name = String()
    return User


def breaking():
    class User(Record):
        name = Integer()
    return User


# One class per version (the record name, User, is the same in all three).
V1, V2, BREAKING = v1(), v2(), breaking()


def refused(topic, schema):
    try:
        c.create_producer(topic, schema=schema)
        return "created"
    except Exception as error:
        return type(error).__name__


def version_of(msg):
    """The message's schema version (8 bytes, big endian; the client hands
    them over as a str)."""
    version = msg.schema_version()
    if isinstance(version, str):
        version = version.encode("latin-1")
    return int.from_bytes(version, "big")


AVRO = "persistent://public/schema-evolve/py-schema-avro"
SCHEMA_PATH = "/admin/v2/schemas/public/schema-evolve/py-schema-avro/schema"

if mode == "check":
    status, latest = http("GET", SCHEMA_PATH)
    check("kept_after_restart", status == 200 and latest.get("version") == 1, [status, latest])
    consumer = c.subscribe(AVRO, "after-restart", schema=AvroSchema(V1),
                           initial_position=pulsar.InitialPosition.Earliest)
    msg = consumer.receive(timeout_millis=10000)
    check("readable_after_restart", msg.value().name == "first", msg.value().name)
    check.report()

# --- Avro records evolve (in a BACKWARD namespace) ---------------------------------
http("PUT", "/admin/v2/namespaces/public/schema-evolve")
http("PUT", "/admin/v2/namespaces/public/schema-evolve/schemaCompatibilityStrategy", "\"BACKWARD\"")
# Kept unacknowledged for the check after the restart (retention is 0).
c.subscribe(AVRO, "after-restart", initial_position=pulsar.InitialPosition.Earliest).close()
first = c.create_producer(AVRO, schema=AvroSchema(V1))
first.send(V1(name="first", age=7))
second = c.create_producer(AVRO, schema=AvroSchema(V2))
second.send(V2(name="second"))
consumer = c.subscribe(AVRO, "typed", schema=AvroSchema(V2),
                       initial_position=pulsar.InitialPosition.Earliest)
got = []
for _ in range(2):
    msg = consumer.receive(timeout_millis=10000)
    got.append((msg.value().name, version_of(msg)))
    consumer.acknowledge(msg)
check("avro_versions_on_messages", got == [("first", 0), ("second", 1)], got)
check("avro_breaking_refused", refused(AVRO, AvroSchema(BREAKING)) == "IncompatibleSchema",
      refused(AVRO, AvroSchema(BREAKING)))
check("avro_other_type_refused", refused(AVRO, JsonSchema(V1)) == "IncompatibleSchema",
      refused(AVRO, JsonSchema(V1)))
c.create_producer(AVRO, schema=AvroSchema(V1)).close()

# --- JSON records -------------------------------------------------------------------
JSON_TOPIC = "persistent://public/default/py-schema-json"
json_producer = c.create_producer(JSON_TOPIC, schema=JsonSchema(V1))
json_consumer = c.subscribe(JSON_TOPIC, "typed", schema=JsonSchema(V1),
                            initial_position=pulsar.InitialPosition.Earliest)
json_producer.send(V1(name="json", age=1))
msg = json_consumer.receive(timeout_millis=10000)
check("json_round_trip", msg.value().name == "json", msg.value().name)
check("json_breaking_refused", refused(JSON_TOPIC, JsonSchema(BREAKING)) == "IncompatibleSchema",
      refused(JSON_TOPIC, JsonSchema(BREAKING)))
status, body = http("GET", "/admin/v2/schemas/public/default/py-schema-json/schema")
check("json_stored", status == 200 and body["type"] == "JSON" and "name" in body["data"], [status, body])

# --- String -----------------------------------------------------------------------------
STRING_TOPIC = "persistent://public/default/py-schema-string"
string_producer = c.create_producer(STRING_TOPIC, schema=StringSchema())
string_consumer = c.subscribe(STRING_TOPIC, "typed", schema=StringSchema(),
                              initial_position=pulsar.InitialPosition.Earliest)
string_producer.send("héllo")
msg = string_consumer.receive(timeout_millis=10000)
check("string_round_trip", msg.value() == "héllo", msg.value())
check("string_then_avro_refused", refused(STRING_TOPIC, AvroSchema(V1)) == "IncompatibleSchema")

# --- partitions share their topic's schema -----------------------------------------------
http("PUT", "/admin/v2/persistent/public/default/py-schema-parts/partitions", "2")
parts = c.create_producer("persistent://public/default/py-schema-parts", schema=AvroSchema(V1))
parts.send(V1(name="p", age=2))
status, body = http("GET", "/admin/v2/schemas/public/default/py-schema-parts/schema")
check("partitioned_schema", status == 200 and body["version"] == 0, [status, body])

# --- admin --------------------------------------------------------------------------------------
status, latest = http("GET", SCHEMA_PATH)
check("admin_latest", status == 200 and latest["version"] == 1 and latest["type"] == "AVRO", [status, latest])
status, old = http("GET", SCHEMA_PATH + "/0")
check("admin_version_0", status == 200 and old["version"] == 0 and "age" in old["data"]
      and "age" not in latest["data"], [status, old])
status, _ = http("GET", SCHEMA_PATH + "/42")
check("admin_missing_version_404", status == 404, status)
status, body = http("POST", SCHEMA_PATH, {"type": "AVRO", "schema": "{not avro", "properties": {}})
check("admin_unparsable_400", status == 400 and "reason" in body, [status, body])
status, body = http("POST", SCHEMA_PATH, {"type": "AVRO", "schema": old["data"], "properties": old["properties"]})
check("admin_identical_same_version", status == 200 and body == {"version": 0}, [status, body])
status, body = http("POST", SCHEMA_PATH, {"type": "SHAPE", "schema": ""})
check("admin_unknown_type_400", status == 400, [status, body])
kv = {"type": "KEY_VALUE",
      "schema": json.dumps({"key": {"type": "string"}, "value": json.loads(old["data"])}),
      "properties": {"key.schema.type": "AVRO", "value.schema.type": "AVRO", "kv.encoding.type": "SEPARATED"}}
status, body = http("POST", "/admin/v2/schemas/public/default/py-schema-kv/schema", kv)
status2, stored = http("GET", "/admin/v2/schemas/public/default/py-schema-kv/schema")
check("admin_key_value", status == 200 and status2 == 200 and stored["type"] == "KEY_VALUE"
      and json.loads(stored["data"])["key"] == {"type": "string"}, [status, body, stored])

# --- namespace strategy ----------------------------------------------------------------------------
http("PUT", "/admin/v2/namespaces/public/schema-free")
status, body = http("GET", "/admin/v2/namespaces/public/schema-free/schemaCompatibilityStrategy")
check("strategy_undefined", body == "UNDEFINED", body)
status, body = http("PUT", "/admin/v2/namespaces/public/schema-free/schemaCompatibilityStrategy", "\"SIDEWAYS\"")
check("strategy_unknown_400", status == 400, [status, body])
status, _ = http("PUT", "/admin/v2/namespaces/public/schema-free/schemaCompatibilityStrategy", "\"ALWAYS_COMPATIBLE\"")
status2, body = http("GET", "/admin/v2/namespaces/public/schema-free/schemaCompatibilityStrategy")
check("strategy_set", status == 204 and body == "ALWAYS_COMPATIBLE", [status, body])
FREE = "persistent://public/schema-free/anything"
c.create_producer(FREE, schema=AvroSchema(V1)).close()
check("always_compatible_takes_breaking", refused(FREE, AvroSchema(BREAKING)) == "created")

http("PUT", "/admin/v2/namespaces/public/schema-forward")
http("PUT", "/admin/v2/namespaces/public/schema-forward/schemaCompatibilityStrategy", "\"FORWARD\"")
record = lambda fields: json.dumps({"type": "record", "name": "R", "fields": fields})
FWD = "/admin/v2/schemas/public/schema-forward/t/schema"
status, _ = http("POST", FWD, {"type": "AVRO", "schema": record([{"name": "a", "type": "string"}])})
status2, body = http("POST", FWD, {"type": "AVRO", "schema": record([{"name": "a", "type": "string"},
                                                                     {"name": "b", "type": "int"}])})
check("forward_takes_a_required_field", status == 200 and status2 == 200 and body == {"version": 1}, [status, status2, body])
http("PUT", "/admin/v2/namespaces/public/schema-forward/schemaCompatibilityStrategy", "\"BACKWARD\"")
status, body = http("POST", FWD, {"type": "AVRO", "schema": record([{"name": "a", "type": "string"},
                                                                    {"name": "b", "type": "int"},
                                                                    {"name": "c", "type": "int"}])})
check("backward_refuses_a_required_field", status == 409, [status, body])

# --- delete ---------------------------------------------------------------------------------------------
DOOMED = "/admin/v2/schemas/public/default/py-schema-doomed/schema"
http("POST", DOOMED, {"type": "AVRO", "schema": record([{"name": "a", "type": "string"}])})
status, body = http("DELETE", DOOMED)
status2, _ = http("GET", DOOMED)
check("deleted", status == 200 and body == {"version": 1} and status2 == 404, [status, body, status2])
status, body = http("POST", DOOMED, {"type": "AVRO", "schema": record([{"name": "a", "type": "long"}])})
check("after_delete_anything_goes", status == 200 and body == {"version": 2}, [status, body])

check.report()
