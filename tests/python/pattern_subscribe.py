"""Pattern (regex) subscriptions through the official client: the topics of
the namespace that match are consumed, others are not. (The Python client
ignores `pattern_auto_discovery_period`, so its discovery of a topic created
later runs only every 60 s; the Rust client test covers that case.)

usage: pattern_subscribe.py URL TAG"""

import re
import sys

import pulsar

from common import client, drain, report

url, tag = sys.argv[1], sys.argv[2]
c = client(url)
base = "persistent://public/default/"


def produce(name, value):
    producer = c.create_producer(base + name, batching_enabled=False)
    producer.send(value.encode())
    producer.close()


produce("pat-%s-a" % tag, "a")
produce("pat-%s-b" % tag, "b")
produce("other-%s" % tag, "other")
consumer = c.subscribe(re.compile(base + "pat-%s-.*" % tag), "pattern",
                       initial_position=pulsar.InitialPosition.Earliest)


first = sorted(drain(consumer, 1_000_000, idle_ms=2000))
ok = first == ["a", "b"]
report({"first": first}, ok)
