"""One good and one bad request for every operation of the admin API,
against `magnetar standalone`.

The operations come from the broker's own OpenAPI document
(/admin/v2/openapi.json), which is generated from the router's handlers:
an operation without both a good and a bad case below fails the run, so a
new route cannot land untested. A good case expects its 2xx; a bad case
expects its 4xx with a `{"reason": …}` body (a 405 for a method the path
does not serve has no body). Cases run in order, and later ones rely on
what earlier ones created.

usage: admin_routes.py URL ADMIN_URL"""

import json
import sys
import urllib.error
import urllib.request

import pulsar

from common import Checks, client

url, admin = sys.argv[1], sys.argv[2]
check = Checks()

NS = "/admin/v2/namespaces/public/routes"
TOPICS = "/admin/v2/persistent/public/routes"
TOPIC = TOPICS + "/t"
SUB = TOPIC + "/subscription/s"
PARTS = TOPICS + "/p"
SCHEMA = "/admin/v2/schemas/public/routes/typed/schema"
MISSING_NS = "/admin/v2/namespaces/public/nope"
MISSING_TOPIC = TOPICS + "/nope"


def http(method, path, body=None):
    """(status, JSON body, or the text of a body that is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(admin + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


with urllib.request.urlopen(admin + "/admin/v2/openapi.json") as response:
    document = json.loads(response.read())
operations = {
    (method.upper(), path)
    for path, item in document["paths"].items()
    for method in item
    if method in ("get", "put", "post", "delete", "head", "patch")
}
check("document_lists_operations", len(operations) > 90, len(operations))
for path, item in document["paths"].items():
    declared = {p["name"] for op in item.values() if isinstance(op, dict)
                for p in op.get("parameters", []) if p.get("in") == "path"}
    templated = {segment[1:-1] for segment in path.split("/") if segment.startswith("{")}
    check("path_parameters_declared " + path, templated <= declared, (sorted(templated), sorted(declared)))

# (kind, operation, request method, path, body, expected status): the
# operation is the document's (method, template) that the case exercises;
# a bad case may send another method (405).
cases = []


def good(method, template, path=None, body=None, status=204):
    cases.append(("good", (method, template), method, path or template, body, status))


def bad(method, template, path, body=None, status=400, send=None):
    cases.append(("bad", (method, template), send or method, path, body, status))


def policy(name, value, invalid, get_status=200):
    """A namespace policy's get, set and remove: good on public/routes,
    bad with an invalid value or on a namespace that does not exist."""
    template = "/admin/v2/namespaces/{tenant}/{namespace}/" + name
    good("POST", template, NS + "/" + name, value)
    good("GET", template, NS + "/" + name, status=get_status)
    bad("POST", template, NS + "/" + name, invalid)
    bad("GET", template, MISSING_NS + "/" + name, status=404)
    good("DELETE", template, NS + "/" + name)
    bad("DELETE", template, MISSING_NS + "/" + name, status=404)


# Liveness, metrics and the brokers: no input to get wrong but the method.
for template, status in [("/health", 200), ("/metrics", 200), ("/admin/v2/clusters", 200),
                         ("/admin/v2/tenants", 200), ("/admin/v2/bookies/all", 200),
                         ("/admin/v2/brokers/health", 200),
                         ("/admin/v2/brokers/loadManagerDecisions", 200),
                         ("/admin/v2/brokers/metadataHealth", 200),
                         ("/admin/v2/brokers/leaderBroker", 200)]:
    good("GET", template, status=status)
    bad("GET", template, template, status=405, send="DELETE")

# Clusters and tenants.
C = "/admin/v2/clusters/{cluster}"
good("GET", C, "/admin/v2/clusters/standalone", status=200)
bad("GET", C, "/admin/v2/clusters/nope", status=404)
good("PUT", C, "/admin/v2/clusters/routes-east", {"serviceUrl": "http://east:8080"})
bad("PUT", C, "/admin/v2/clusters/routes-west", {"serviceUrl": 5})
good("POST", C, "/admin/v2/clusters/routes-east", {"serviceUrl": "http://east-2:8080"})
bad("POST", C, "/admin/v2/clusters/nope", {"serviceUrl": "http://x:8080"}, status=404)
good("DELETE", C, "/admin/v2/clusters/routes-east")
bad("DELETE", C, "/admin/v2/clusters/standalone", status=412)
T = "/admin/v2/tenants/{tenant}"
good("PUT", T, "/admin/v2/tenants/routes-t", {"allowedClusters": ["standalone"]})
bad("PUT", T, "/admin/v2/tenants/bad!name", {})
good("GET", T, "/admin/v2/tenants/routes-t", status=200)
bad("GET", T, "/admin/v2/tenants/nope", status=404)
good("POST", T, "/admin/v2/tenants/routes-t", {"adminRoles": ["ops"], "allowedClusters": ["standalone"]})
bad("POST", T, "/admin/v2/tenants/nope", {"allowedClusters": ["standalone"]}, status=404)

# Namespaces, permissions and policies.
good("GET", "/admin/v2/namespaces/{tenant}", "/admin/v2/namespaces/public", status=200)
bad("GET", "/admin/v2/namespaces/{tenant}", "/admin/v2/namespaces/nope", status=404)
N = "/admin/v2/namespaces/{tenant}/{namespace}"
good("PUT", N, NS, {"numBundles": 4})
bad("PUT", N, NS, {"numBundles": 4}, status=409)
good("GET", N, NS, status=200)
bad("GET", N, MISSING_NS, status=404)
good("GET", N + "/permissions", NS + "/permissions", status=200)
bad("GET", N + "/permissions", MISSING_NS + "/permissions", status=404)
good("POST", N + "/permissions/{role}", NS + "/permissions/app", ["produce", "consume"])
bad("POST", N + "/permissions/{role}", NS + "/permissions/app", ["fly"])
good("DELETE", N + "/permissions/{role}", NS + "/permissions/app")
bad("DELETE", N + "/permissions/{role}", MISSING_NS + "/permissions/app", status=404)
policy("autoTopicCreation", {"allowAutoTopicCreation": True, "topicType": "non-partitioned"},
       {"allowAutoTopicCreation": True, "topicType": "bogus"})
policy("deduplication", True, "yes")
policy("retention", {"retentionTimeInMinutes": 10, "retentionSizeInMB": 10},
       {"retentionTimeInMinutes": -5, "retentionSizeInMB": 10})
policy("messageTTL", 60, -1)
policy("maxProducersPerTopic", 5, -1)
policy("maxConsumersPerTopic", 5, -1)
policy("maxUnackedMessagesPerConsumer", 100, -1)
policy("maxUnackedMessagesPerSubscription", 100, -1)
policy("subscriptionExpirationTime", 60, -1)
policy("inactiveTopicPolicies", {"maxInactiveDurationSeconds": 60, "deleteWhileInactive": True},
       {"maxInactiveDurationSeconds": 0, "deleteWhileInactive": True})
policy("compactionThreshold", 1000000, -5)
S = N + "/schemaCompatibilityStrategy"
good("PUT", S, NS + "/schemaCompatibilityStrategy", "FULL")
bad("PUT", S, NS + "/schemaCompatibilityStrategy", "NOPE")
good("POST", S, NS + "/schemaCompatibilityStrategy", "BACKWARD")
bad("POST", S, MISSING_NS + "/schemaCompatibilityStrategy", "BACKWARD", status=404)
good("GET", S, NS + "/schemaCompatibilityStrategy", status=200)
bad("GET", S, MISSING_NS + "/schemaCompatibilityStrategy", status=404)
good("DELETE", S, NS + "/schemaCompatibilityStrategy")
bad("DELETE", S, MISSING_NS + "/schemaCompatibilityStrategy", status=404)
Q = N + "/backlogQuota"
good("POST", Q, NS + "/backlogQuota", {"limitSize": 1000000, "policy": "producer_request_hold"})
bad("POST", Q, NS + "/backlogQuota", {"limitSize": 1000000, "policy": "nope"})
good("GET", N + "/backlogQuotaMap", NS + "/backlogQuotaMap", status=200)
bad("GET", N + "/backlogQuotaMap", MISSING_NS + "/backlogQuotaMap", status=404)
good("DELETE", Q, NS + "/backlogQuota")
bad("DELETE", Q, NS + "/backlogQuota?backlogQuotaType=nope")
R = N + "/replication"
good("POST", R, NS + "/replication", ["standalone"])
bad("POST", R, NS + "/replication", [])
good("GET", R, NS + "/replication", status=200)
bad("GET", R, MISSING_NS + "/replication", status=404)

# Bundles.
good("GET", N + "/bundles", NS + "/bundles", status=200)
bad("GET", N + "/bundles", MISSING_NS + "/bundles", status=404)
good("PUT", N + "/unload", NS + "/unload")
bad("PUT", N + "/unload", MISSING_NS + "/unload", status=404)
B = N + "/{bundle}"
good("PUT", B + "/unload", NS + "/0x00000000_0x40000000/unload")
bad("PUT", B + "/unload", NS + "/zz/unload")
good("PUT", B + "/split", NS + "/0x00000000_0x40000000/split")
bad("PUT", B + "/split", NS + "/0x00000000_0x40000000/split", status=404)

# Topics, with messages and a subscription.
P = "/admin/v2/persistent/{tenant}/{namespace}"
TP = P + "/{topic}"
good("PUT", TP, TOPIC)
bad("PUT", TP, TOPIC, status=409)
good("GET", P, TOPICS, status=200)
bad("GET", P, "/admin/v2/persistent/public/nope", status=404)
SP = TP + "/subscription/{subscription}"
good("PUT", SP, SUB)
bad("PUT", SP, SUB, status=409)
cases.append(("produce",))
good("GET", TP + "/stats", TOPIC + "/stats", status=200)
bad("GET", TP + "/stats", MISSING_TOPIC + "/stats", status=404)
good("GET", TP + "/internalStats", TOPIC + "/internalStats", status=200)
bad("GET", TP + "/internalStats", MISSING_TOPIC + "/internalStats", status=404)
good("GET", TP + "/rateHistory", TOPIC + "/rateHistory", status=200)
bad("GET", TP + "/rateHistory", MISSING_TOPIC + "/rateHistory", status=404)
good("GET", TP + "/lastMessageId", TOPIC + "/lastMessageId", status=200)
bad("GET", TP + "/lastMessageId", MISSING_TOPIC + "/lastMessageId", status=404)
good("GET", TP + "/subscriptions", TOPIC + "/subscriptions", status=200)
bad("GET", TP + "/subscriptions", MISSING_TOPIC + "/subscriptions", status=404)
good("GET", SP + "/position/{position}", SUB + "/position/1", status=200)
bad("GET", SP + "/position/{position}", SUB + "/position/0")
good("GET", TP + "/examinemessage", TOPIC + "/examinemessage?initialPosition=earliest&messagePosition=1",
     status=200)
bad("GET", TP + "/examinemessage", TOPIC + "/examinemessage?initialPosition=earliest&messagePosition=0")
good("POST", SP + "/skip/{count}", SUB + "/skip/1")
bad("POST", SP + "/skip/{count}", SUB + "/skip/many")
good("POST", SP + "/resetcursor/{timestamp}", SUB + "/resetcursor/0")
bad("POST", SP + "/resetcursor/{timestamp}", SUB + "/resetcursor/yesterday")
good("POST", SP + "/resetcursor", SUB + "/resetcursor", "MESSAGE_ID")
bad("POST", SP + "/resetcursor", SUB + "/resetcursor", {"ledgerId": "x"})
good("POST", SP + "/expireMessages/{seconds}", SUB + "/expireMessages/3600")
bad("POST", SP + "/expireMessages/{seconds}", SUB + "/expireMessages/soon")
good("POST", SP + "/skip_all", SUB + "/skip_all")
bad("POST", SP + "/skip_all", TOPIC + "/subscription/nope/skip_all", status=404)
good("POST", N + "/clearBacklog", NS + "/clearBacklog")
bad("POST", N + "/clearBacklog", MISSING_NS + "/clearBacklog", status=404)
good("POST", B + "/clearBacklog", NS + "/0x80000000_0xc0000000/clearBacklog")
bad("POST", B + "/clearBacklog", NS + "/0x80000000_0x90000000/clearBacklog", status=404)
good("PUT", TP + "/compaction", TOPIC + "/compaction")
bad("PUT", TP + "/compaction", MISSING_TOPIC + "/compaction", status=404)
good("GET", TP + "/compaction", TOPIC + "/compaction", status=200)
bad("GET", TP + "/compaction", MISSING_TOPIC + "/compaction", status=404)
good("PUT", TP + "/unload", TOPIC + "/unload")
bad("PUT", TP + "/unload", MISSING_TOPIC + "/unload", status=404)
good("DELETE", SP, SUB)
bad("DELETE", SP, SUB, status=404)
good("POST", TP + "/terminate", TOPIC + "/terminate", status=200)
bad("POST", TP + "/terminate", MISSING_TOPIC + "/terminate", status=404)
good("DELETE", TP, TOPIC)
bad("DELETE", TP, TOPIC, status=404)

# Partitioned topics.
PP = TP + "/partitions"
good("PUT", PP, PARTS + "/partitions", 2)
bad("PUT", PP, TOPICS + "/q/partitions", 0)
good("POST", PP, PARTS + "/partitions", 3)
bad("POST", PP, PARTS + "/partitions", 1)
good("GET", PP, PARTS + "/partitions", status=200)
bad("GET", PP, MISSING_TOPIC + "/partitions", status=404)
good("GET", P + "/partitioned", TOPICS + "/partitioned", status=200)
bad("GET", P + "/partitioned", "/admin/v2/persistent/public/nope/partitioned", status=404)
good("GET", TP + "/partitioned-stats", PARTS + "/partitioned-stats", status=200)
bad("GET", TP + "/partitioned-stats", MISSING_TOPIC + "/partitioned-stats", status=404)
good("POST", TP + "/terminate/partitions", PARTS + "/terminate/partitions", status=200)
bad("POST", TP + "/terminate/partitions", MISSING_TOPIC + "/terminate/partitions", status=404)
good("DELETE", PP, PARTS + "/partitions")
bad("DELETE", PP, PARTS + "/partitions", status=404)

# Schemas.
SC = "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema"
schema = {"type": "JSON", "schema": json.dumps({"type": "record", "name": "R", "fields": [
    {"name": "a", "type": "int"}]}), "properties": {}}
good("POST", SC, SCHEMA, schema, status=200)
bad("POST", SC, SCHEMA, {"type": "NOPE", "schema": ""})
good("GET", SC, SCHEMA, status=200)
bad("GET", SC, "/admin/v2/schemas/public/routes/untyped/schema", status=404)
good("GET", SC + "/{version}", SCHEMA + "/0", status=200)
bad("GET", SC + "/{version}", SCHEMA + "/first")
good("DELETE", SC, SCHEMA, status=200)
bad("DELETE", SC, "/admin/v2/schemas/public/nope/typed/schema", status=404)

# Lookup and brokers.
L = "/lookup/v2/topic/{domain}/{tenant}/{namespace}/{topic}"
good("GET", L, "/lookup/v2/topic/persistent/public/routes/looked-up", status=200)
bad("GET", L, "/lookup/v2/topic/bogus/public/routes/looked-up")
good("GET", "/admin/v2/brokers/{cluster}", "/admin/v2/brokers/standalone", status=200)
bad("GET", "/admin/v2/brokers/{cluster}", "/admin/v2/brokers/nope", status=404)
good("GET", "/admin/v2/brokers/{cluster}/loadReports", "/admin/v2/brokers/standalone/loadReports",
     status=200)
bad("GET", "/admin/v2/brokers/{cluster}/loadReports", "/admin/v2/brokers/nope/loadReports",
    status=404)
O = "/admin/v2/brokers/{cluster}/{broker}/ownedNamespaces"
good("GET", O, "OWNED", status=200)
bad("GET", O, "/admin/v2/brokers/standalone/nope:1/ownedNamespaces", status=404)

# Deleting what is left.
good("DELETE", N, NS + "?force=true")
bad("DELETE", N, "/admin/v2/namespaces/public/default-nope", status=404)
good("DELETE", T, "/admin/v2/tenants/routes-t")
bad("DELETE", T, "/admin/v2/tenants/public", status=409)

covered = {}
for case in cases:
    if case[0] in ("good", "bad"):
        covered.setdefault(case[1], set()).add(case[0])
missing = sorted(op for op in operations if covered.get(op) != {"good", "bad"})
check("every_operation_has_a_good_and_a_bad_case", not missing, missing)
unknown = sorted(op for op in covered if op not in operations)
check("every_case_names_a_documented_operation", not unknown, unknown)

pulsar_client = client(url)
for case in cases:
    if case[0] == "produce":
        producer = pulsar_client.create_producer("persistent://public/routes/t", batching_enabled=False)
        ids = [producer.send(("m-%d" % i).encode()) for i in range(5)]
        producer.close()
        continue
    kind, _, method, path, body, status = case
    if path == "OWNED":
        path = "/admin/v2/brokers/standalone/%s/ownedNamespaces" % http("GET", "/admin/v2/brokers/standalone")[1][0]
    if body == "MESSAGE_ID":
        body = {"ledgerId": ids[2].ledger_id(), "entryId": ids[2].entry_id()}
    got, reply = http(method, path, body)
    ok = got == status
    if kind == "bad" and status != 405:
        ok = ok and isinstance(reply, dict) and bool(reply.get("reason"))
    check("%s %s %s" % (kind, method, path), ok, (got, reply if not isinstance(reply, str) else reply[:200]))
pulsar_client.close()
check("counts", True, {"operations": len(operations), "cases": len(cases)})
check.report()
