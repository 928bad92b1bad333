"""Failover subscriptions: the consumer whose name sorts first is active and
gets everything in order; when it leaves, the next one resumes from the
mark-delete position, and a newcomer that sorts first takes over. Cumulative
acks work.

usage: failover_consumers.py URL TOPIC"""

import sys
import time

import pulsar

from common import client, report

url, topic = sys.argv[1], sys.argv[2]
c = client(url)
FAILOVER = pulsar.ConsumerType.Failover


def subscribe(name):
    return c.subscribe(topic, "fo", consumer_type=FAILOVER, consumer_name=name,
                       initial_position=pulsar.InitialPosition.Earliest,
                       receiver_queue_size=10)


def receive_all(consumer, limit, idle_ms=3000, ack="individual"):
    got = []
    while len(got) < limit:
        try:
            msg = consumer.receive(timeout_millis=idle_ms)
        except pulsar.Timeout:
            break
        got.append(int(msg.data().decode()))
        if ack == "individual":
            consumer.acknowledge(msg)
        elif ack == "cumulative":
            consumer.acknowledge_cumulative(msg)
    return got


# "b" joins first, then "a": "a" sorts first and becomes active.
b = subscribe("b")
a = subscribe("a")
time.sleep(1.5)  # the switch to "a" waits the failover delay
producer = c.create_producer(topic, batching_enabled=False)
for i in range(100):
    producer.send(str(i).encode())

first_half = receive_all(a, 50, ack="cumulative")
b_while_a_active = receive_all(b, 100, idle_ms=1500, ack=None)
a.close()  # a's prefetched, unacknowledged messages go to b
second_half = receive_all(b, 100, idle_ms=5000)

# A newcomer whose name sorts first takes over from "b" (the Python client
# has no priority level; the Rust client test covers it).
low = subscribe("0-first")
time.sleep(1.5)
for i in range(100, 120):
    producer.send(str(i).encode())
by_newcomer = receive_all(low, 20, idle_ms=5000)
b_after = receive_all(b, 20, idle_ms=1000)

ok = (first_half == list(range(50)) and b_while_a_active == []
      and second_half == list(range(50, 100)) and by_newcomer == list(range(100, 120))
      and b_after == [])
report({"first_half": first_half[:5], "first_count": len(first_half),
        "b_while_a_active": len(b_while_a_active), "second_first": second_half[:5],
        "second_count": len(second_half), "by_newcomer": by_newcomer[:5],
        "by_newcomer_count": len(by_newcomer), "b_after": b_after[:5]}, ok)
