"""The compose stack's `secure` profile from the host, through the official
Python client: pulsar+ssl:// with the stack's CA, the `admin` token and the
broker's `external` listener.

Checks, each asserted:
- 200 messages produced and consumed in order over TLS with the token;
- the same client without a token cannot produce (refused CONNECT);
- HTTPS admin: listing tenants with the token is 200, without it 401.

usage: secure_round_trip.py PULSAR_TLS_URL HTTPS_BASE CA_FILE TOKEN_FILE"""

import ssl
import sys

import pulsar

from common import Checks, admin_request

url, https, ca, token_file = sys.argv[1:5]
token = open(token_file).read().strip()
check = Checks()
TOPIC = "persistent://public/default/secure-round-trip"


def make_client(auth):
    kwargs = dict(operation_timeout_seconds=8, connection_timeout_ms=3000,
                  tls_trust_certs_file_path=ca, listener_name="external",
                  logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    if auth is not None:
        kwargs["authentication"] = auth
    return pulsar.Client(url, **kwargs)


client = make_client(pulsar.AuthenticationToken(token))
consumer = client.subscribe(TOPIC, "secure", initial_position=pulsar.InitialPosition.Earliest)
producer = client.create_producer(TOPIC, send_timeout_millis=10000)
for i in range(200):
    producer.send(("m-%d" % i).encode())
received = []
for _ in range(200):
    message = consumer.receive(timeout_millis=10000)
    received.append(message.data().decode())
    consumer.acknowledge(message)
check("200 messages over TLS with a token, in order",
      received == ["m-%d" % i for i in range(200)], received[:3])
client.close()

anonymous = make_client(None)
try:
    anonymous.create_producer(TOPIC, send_timeout_millis=5000).send(b"x")
    refused = "ok"
except Exception as error:  # noqa: BLE001 - any refusal will do; success is the failure
    refused = type(error).__name__
anonymous.close()
check("no token: refused", refused != "ok", refused)

context = ssl.create_default_context(cafile=ca)
status, _ = admin_request(https, "GET", "/admin/v2/tenants", None,
                          headers={"Authorization": "Bearer " + token}, context=context)
check("HTTPS admin with the token", status == 200, status)
status, _ = admin_request(https, "GET", "/admin/v2/tenants", None, context=context)
check("HTTPS admin without a token", status == 401, status)
check.report()
