"""Security through the official Python client and the admin API, against a
standalone started from a Pulsar-style standalone-ssl.conf: TLS on its own
ports, the tls, token and basic providers together, authorization on,
anonymous role `anonymous`, superuser `admin`.

Checks, each asserted:
- setup by the superuser over REST: a tenant whose admin role is
  `acme-admin`, a namespace created with Pulsar's `auth_policies` body
  (`writer` may produce, `reader` may consume), grants over the
  permissions paths;
- the role matrix on the binary protocol: superuser, tenant admin,
  producer-only, consumer-only and an outsider against produce, consume
  and lookup;
- the role matrix on the admin API: the same roles plus anonymous against
  reading clusters, creating a tenant, reading namespace policies,
  creating a topic, topic stats, granting, and listing brokers;
- bad credentials: a malformed, an expired and a wrongly signed token, a
  wrong password (AuthenticationError) beside a right one without grants
  (AuthorizationError); over HTTP 401 for each, and no secret in a reply;
- TLS: a trusted round trip with a token and with a client certificate
  (the `tls` provider), refusals without the CA and with a certificate of
  another CA, plain text to the TLS port and TLS to the plain port; HTTPS
  with a token and with a client certificate;
- credential refresh: a producer whose token supplier hands out
  short-lived tokens keeps sending across several expiries (the broker's
  AUTH_CHALLENGE is answered), while one with a fixed token is cut off;
- a producer and consumer opened at the start are unaffected by all of
  the above.

usage: security.py CONFIG.json"""

import json
import ssl
import subprocess
import sys
import time

import pulsar

from common import Checks, admin_request

config = json.load(open(sys.argv[1]))
check = Checks()

URL, TLS_URL = config["url"], config["tls_url"]
ADMIN, HTTPS = config["admin"], config["https"]
TOKENS = config["tokens"]
NS = "acme/app"
TOPIC = "persistent://acme/app/matrix"


def make_client(url=URL, auth=None, tls=False, trust=True, timeout=8):
    kwargs = dict(operation_timeout_seconds=timeout, connection_timeout_ms=3000,
                  logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    if auth is not None:
        kwargs["authentication"] = auth
    if tls:
        kwargs["tls_validate_hostname"] = False
        if trust:
            kwargs["tls_trust_certs_file_path"] = config["ca"]
    return pulsar.Client(url, **kwargs)


def token(role):
    return pulsar.AuthenticationToken(TOKENS[role])


def outcome(action):
    """'ok', or the class name of what `action` raised."""
    try:
        action()
        return "ok"
    except Exception as error:  # noqa: BLE001 - the class is what is checked
        return type(error).__name__


def http(method, path, role=None, body=None, base=ADMIN, context=None, header=None):
    headers = {}
    if role is not None:
        headers["Authorization"] = "Bearer " + TOKENS[role]
    if header is not None:
        headers["Authorization"] = header
    return admin_request(base, method, path, body, headers=headers, context=context)


def produce(client, topic=TOPIC, payload=b"x"):
    producer = client.create_producer(topic, send_timeout_millis=5000)
    producer.send(payload)
    producer.close()


def subscribe(client, topic=TOPIC, name="matrix"):
    client.subscribe(topic, name).close()


# Setup by the superuser.
status, _ = http("PUT", "/admin/v2/tenants/acme", "admin",
                 {"adminRoles": ["acme-admin"], "allowedClusters": ["standalone"]})
check("tenant created by the superuser", status == 204, status)
status, _ = http("PUT", "/admin/v2/namespaces/" + NS, "admin",
                 {"auth_policies": {"namespace_auth": {"writer": ["produce"], "reader": ["consume"]},
                                    "destination_auth": {}, "subscription_auth_roles": {}}})
check("namespace created with auth_policies", status == 204, status)
status, granted = http("POST", "/admin/v2/namespaces/%s/permissions/tls-client" % NS, "acme-admin",
                       ["produce", "consume"])
check("tenant admin grants", status == 204, status)
status, granted = http("POST", "/admin/v2/namespaces/%s/permissions/revoked" % NS, "admin", ["consume"])
status, _ = http("DELETE", "/admin/v2/namespaces/%s/permissions/revoked" % NS, "admin")
check("revoke answers 204", status == 204, status)
status, permissions = http("GET", "/admin/v2/namespaces/%s/permissions" % NS, "admin")
check("permissions listed", status == 200 and permissions == {
    "writer": ["produce"], "reader": ["consume"], "tls-client": ["produce", "consume"]},
    permissions)
status, _ = http("POST", "/admin/v2/namespaces/%s/permissions/x" % NS, "admin", ["delete"])
check("an unknown action is a 400", status == 400, status)

# Long-lived clients that every later refusal must leave alone.
steady_writer = make_client(auth=token("writer"))
steady_producer = steady_writer.create_producer("persistent://acme/app/steady")
steady_reader = make_client(auth=token("reader"))
steady_consumer = steady_reader.subscribe("persistent://acme/app/steady", "steady")
steady_producer.send(b"before")

# The protocol matrix.
expected = {
    "admin": {"produce": "ok", "consume": "ok", "lookup": "ok"},
    "acme-admin": {"produce": "ok", "consume": "ok", "lookup": "ok"},
    "writer": {"produce": "ok", "consume": "AuthorizationError", "lookup": "ok"},
    "reader": {"produce": "AuthorizationError", "consume": "ok", "lookup": "ok"},
    "outsider": {"produce": "AuthorizationError", "consume": "AuthorizationError",
                 "lookup": "AuthorizationError"},
}
for role, cells in expected.items():
    client = make_client(auth=token(role))
    got = {
        "produce": outcome(lambda: produce(client)),
        "consume": outcome(lambda: subscribe(client)),
        "lookup": outcome(lambda: client.get_topic_partitions(TOPIC)),
    }
    client.close()
    check("protocol matrix " + role, got == cells, got)

# The admin matrix: role -> statuses, in the order of VERBS.
VERBS = [
    ("read clusters", "GET", "/admin/v2/clusters", None),
    ("create tenant", "PUT", "/admin/v2/tenants/t-{role}", {"adminRoles": [], "allowedClusters": ["standalone"]}),
    ("namespace policies", "GET", "/admin/v2/namespaces/" + NS, None),
    ("create topic", "PUT", "/admin/v2/persistent/acme/app/http-{role}", None),
    ("topic stats", "GET", "/admin/v2/persistent/acme/app/matrix/stats", None),
    ("grant", "POST", "/admin/v2/namespaces/" + NS + "/permissions/g-{role}", ["consume"]),
    ("list brokers", "GET", "/admin/v2/brokers/standalone", None),
]
ADMIN_MATRIX = {
    "admin": [200, 204, 200, 204, 200, 204, 200],
    "acme-admin": [200, 403, 200, 204, 200, 204, 403],
    "writer": [200, 403, 403, 403, 200, 403, 403],
    "reader": [200, 403, 403, 403, 200, 403, 403],
    "outsider": [200, 403, 403, 403, 403, 403, 403],
    None: [200, 403, 403, 403, 403, 403, 403],
}
for role, statuses in ADMIN_MATRIX.items():
    got = []
    for (_, method, path, body) in VERBS:
        got.append(http(method, path.format(role=role or "anonymous"), role, body)[0])
    check("admin matrix " + (role or "anonymous"), got == statuses,
          dict(zip([v[0] for v in VERBS], got)))

# Bad credentials on the protocol. The broker answers CONNECT with
# AuthenticationError and closes (broker/tests/authentication.rs checks the
# frames); the C++ client under the Python one logs that answer and retries
# until its operation timeout, so what Python raises is a timeout.
REFUSED = ("AuthenticationError", "ConnectError", "Timeout")
for name in ["malformed", "expired", "forged"]:
    client = make_client(auth=token(name), timeout=3)
    got = outcome(lambda: client.get_topic_partitions(TOPIC))
    client.close()
    check("token %s refused" % name, got in REFUSED, got)
basic = config["basic"]
client = make_client(auth=pulsar.AuthenticationBasic(basic["user"], "wrong-" + basic["password"]), timeout=3)
got = outcome(lambda: client.get_topic_partitions(TOPIC))
check("wrong password refused", got in REFUSED, got)
client.close()
client = make_client(auth=pulsar.AuthenticationBasic(basic["user"], basic["password"]))
check("right password without grants is not authorized",
      outcome(lambda: client.get_topic_partitions(TOPIC)) == "AuthorizationError")
http("POST", "/admin/v2/namespaces/%s/permissions/%s" % (NS, basic["user"]), "admin", ["consume"])
check("basic user consumes once granted", outcome(lambda: subscribe(client, name="basic")) == "ok")
client.close()

# Bad credentials over HTTP: 401, and nothing secret in the answer.
SECRET = basic["password"]
for name, header in [
    ("malformed bearer", "Bearer " + TOKENS["malformed"]),
    ("expired bearer", "Bearer " + TOKENS["expired"]),
    ("forged bearer", "Bearer " + TOKENS["forged"]),
    ("wrong password", "Basic " + __import__("base64").b64encode(
        (basic["user"] + ":x" + SECRET).encode()).decode()),
    ("unknown scheme", "Digest username=x"),
    ("oversized token", "Bearer " + "a" * 70000),
]:
    status, body = http("GET", "/admin/v2/clusters", header=header)
    text = json.dumps(body)
    leaked = SECRET in text or TOKENS["forged"] in text or TOKENS["expired"] in text
    check("http " + name, status == 401 and not leaked, {"status": status, "body": body})

# TLS.
tls_admin = make_client(TLS_URL, token("admin"), tls=True)
check("tls with a token: round trip", outcome(lambda: (produce(tls_admin), subscribe(tls_admin))) == "ok")
tls_admin.close()
cert_auth = pulsar.AuthenticationTLS(config["client_cert"], config["client_key"])
tls_client = make_client(TLS_URL, cert_auth, tls=True)
topic = "persistent://acme/app/by-certificate"
def certificate_round_trip():
    consumer = tls_client.subscribe(topic, "cert")
    producer = tls_client.create_producer(topic)
    producer.send(b"signed")
    message = consumer.receive(timeout_millis=5000)
    assert message.data() == b"signed"
check("tls with a client certificate: round trip", outcome(certificate_round_trip) == "ok")
tls_client.close()
untrusted = make_client(TLS_URL, token("admin"), tls=True, trust=False, timeout=5)
check("tls without the CA refused", outcome(lambda: untrusted.get_topic_partitions(TOPIC)) != "ok")
untrusted.close()
rogue = make_client(TLS_URL, pulsar.AuthenticationTLS(config["rogue_cert"], config["rogue_key"]), tls=True, timeout=5)
check("a certificate of another CA refused", outcome(lambda: rogue.get_topic_partitions(TOPIC)) != "ok")
rogue.close()
plain_to_tls = make_client(TLS_URL.replace("pulsar+ssl", "pulsar"), token("admin"), timeout=5)
check("plain text to the TLS port refused", outcome(lambda: plain_to_tls.get_topic_partitions(TOPIC)) != "ok")
plain_to_tls.close()
tls_to_plain = make_client(URL.replace("pulsar://", "pulsar+ssl://"), token("admin"), tls=True, timeout=5)
check("TLS to the plain port refused", outcome(lambda: tls_to_plain.get_topic_partitions(TOPIC)) != "ok")
tls_to_plain.close()

context = ssl.create_default_context(cafile=config["ca"])
context.check_hostname = False
status, _ = http("GET", "/admin/v2/brokers/standalone", "admin", base=HTTPS, context=context)
check("https with a token", status == 200, status)
cert_context = ssl.create_default_context(cafile=config["ca"])
cert_context.check_hostname = False
cert_context.load_cert_chain(config["client_cert"], config["client_key"])
status, _ = http("GET", "/admin/v2/persistent/acme/app/matrix/stats", base=HTTPS, context=cert_context)
check("https with a client certificate is its role", status == 200, status)
status, _ = http("GET", "/admin/v2/persistent/acme/app/matrix/stats", base=HTTPS, context=context)
check("https without one is anonymous", status == 403, status)

# Credential refresh: the broker checks every second; tokens live 3 s.
def fresh_token():
    return subprocess.run([config["magnetar"], "tokens", "create", "--subject", "writer",
                           "--secret-key", "file://" + config["secret_key_file"],
                           "--expiry-time", "3s"],
                          check=True, capture_output=True, text=True).stdout.strip()

refreshing = make_client(auth=pulsar.AuthenticationToken(fresh_token))
fixed = make_client(auth=pulsar.AuthenticationToken(fresh_token()))
refreshing_producer = refreshing.create_producer("persistent://acme/app/refresh", send_timeout_millis=4000)
fixed_producer = fixed.create_producer("persistent://acme/app/fixed", send_timeout_millis=4000)
refreshed, fixed_results = [], []
deadline = time.time() + 10
while time.time() < deadline:
    refreshed.append(outcome(lambda: refreshing_producer.send(b"r")))
    fixed_results.append(outcome(lambda: fixed_producer.send(b"f")))
    time.sleep(0.25)
check("a refreshing token keeps its connection", all(r == "ok" for r in refreshed),
      {"sends": len(refreshed), "failures": [r for r in refreshed if r != "ok"][:3]})
check("a fixed token is cut off after expiry", fixed_results[0] == "ok" and fixed_results[-1] != "ok",
      {"first": fixed_results[0], "last": fixed_results[-1]})
refreshing.close()
fixed.close()

# The first clients never noticed.
steady_producer.send(b"after")
got = []
for _ in range(2):
    try:
        got.append(steady_consumer.receive(timeout_millis=5000).data().decode())
    except Exception as error:  # noqa: BLE001
        got.append(type(error).__name__)
check("steady clients unaffected", got == ["before", "after"], got)
steady_writer.close()
steady_reader.close()
check.report()
