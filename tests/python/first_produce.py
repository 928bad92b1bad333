"""The first client of a broker that may still be starting: subscribes,
sends one message and receives it, each step with a 30 s timeout, and
reports how long each step took.

usage: first_produce.py URL TOPIC"""

import sys
import time

import pulsar

from common import client, report

url, topic = sys.argv[1], sys.argv[2]
result = {}
started = time.monotonic()


def step(name, action):
    t0 = time.monotonic()
    try:
        value = action()
    except Exception as error:
        result[name + "_error"] = "%s: %s" % (type(error).__name__, error)
        result["seconds"] = round(time.monotonic() - started, 3)
        report(result, False)
    result[name + "_seconds"] = round(time.monotonic() - t0, 3)
    return value


c = client(url, operation_timeout_seconds=30, connection_timeout_ms=5000)
consumer = step("subscribe", lambda: c.subscribe(
    topic, "first", consumer_type=pulsar.ConsumerType.Exclusive,
    initial_position=pulsar.InitialPosition.Earliest))
producer = step("create_producer", lambda: c.create_producer(topic, send_timeout_millis=30000))
step("send", lambda: producer.send(b"first"))
msg = step("receive", lambda: consumer.receive(timeout_millis=30000))
result["received"] = msg.data().decode()
result["seconds"] = round(time.monotonic() - started, 3)
report(result, result["received"] == "first")
