"""Negative acks and dead letters through the official client, and delayed
delivery.

- Shared: a message negatively acknowledged twice more than the policy
  allows lands in the dead-letter topic; the others are consumed once.
- Exclusive: a negatively acknowledged message comes back.
- Shared: half of a batch acknowledged by index; the rest, and only the
  rest, goes to the next consumer.
- Shared: a message left unacknowledged past the ack timeout comes back.
- Shared: deliver_after holds a message back; Exclusive delivers at once.

usage: redelivery.py URL TOPIC"""

import sys
import time
from datetime import timedelta

import pulsar

from common import client, report

url, topic = sys.argv[1], sys.argv[2]
c = client(url)
results = {}

# Dead letters after repeated negative acks (Shared).
dlq_topic = topic + "-dlq"
dlq = c.subscribe(dlq_topic, "dlq-reader", initial_position=pulsar.InitialPosition.Earliest)
consumer = c.subscribe(topic, "work", consumer_type=pulsar.ConsumerType.Shared,
                       initial_position=pulsar.InitialPosition.Earliest,
                       negative_ack_redelivery_delay_ms=100,
                       dead_letter_policy=pulsar.ConsumerDeadLetterPolicy(
                           max_redeliver_count=2, dead_letter_topic=dlq_topic))
producer = c.create_producer(topic, batching_enabled=False)
for i in range(5):
    producer.send(str(i).encode())
deliveries = {}
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        msg = consumer.receive(timeout_millis=2000)
    except pulsar.Timeout:
        break
    value = int(msg.data().decode())
    deliveries.setdefault(value, []).append(msg.redelivery_count())
    if value == 2:
        consumer.negative_acknowledge(msg)
    else:
        consumer.acknowledge(msg)
results["deliveries"] = {str(k): v for k, v in sorted(deliveries.items())}
try:
    dead = dlq.receive(timeout_millis=5000)
    results["dead_letter"] = dead.data().decode()
    dlq.acknowledge(dead)
except pulsar.Timeout:
    results["dead_letter"] = None
consumer.close()

# Exclusive: a negative ack brings the message back.
excl = c.subscribe(topic + "-excl", "excl", negative_ack_redelivery_delay_ms=100)
excl_producer = c.create_producer(topic + "-excl", batching_enabled=False)
excl_producer.send(b"again")
first = excl.receive(timeout_millis=5000)
excl.negative_acknowledge(first)
second = excl.receive(timeout_millis=5000)
results["exclusive_redelivered"] = second.data().decode()
excl.acknowledge(second)

# Batch-index acks: half of a batch acknowledged, the consumer leaves, and
# the next one gets only the other half.
batch_topic = topic + "-batch-index"
first_half = c.subscribe(batch_topic, "batch", consumer_type=pulsar.ConsumerType.Shared,
                         batch_index_ack_enabled=True)
batch_producer = c.create_producer(batch_topic, batching_enabled=True, batching_max_messages=10,
                                   batching_max_publish_delay_ms=1000)
for i in range(10):
    batch_producer.send_async(str(i).encode(), None)
batch_producer.flush()
for _ in range(10):
    msg = first_half.receive(timeout_millis=5000)
    if int(msg.data().decode()) < 5:
        first_half.acknowledge(msg)
time.sleep(0.5)  # the client groups acks for up to 100 ms
first_half.close()
second_half = c.subscribe(batch_topic, "batch", consumer_type=pulsar.ConsumerType.Shared,
                          batch_index_ack_enabled=True)
rest = []
while True:
    try:
        msg = second_half.receive(timeout_millis=2000)
    except pulsar.Timeout:
        break
    rest.append(int(msg.data().decode()))
    second_half.acknowledge(msg)
results["batch_rest"] = rest
second_half.close()

# Ack timeout: a message left unacknowledged comes back (10 s is the
# client's minimum timeout).
timeout_topic = topic + "-ack-timeout"
timed = c.subscribe(timeout_topic, "timed", consumer_type=pulsar.ConsumerType.Shared,
                    unacked_messages_timeout_ms=10000)
timeout_producer = c.create_producer(timeout_topic, batching_enabled=False)
timeout_producer.send(b"unacked")
kept = timed.receive(timeout_millis=5000)
started = time.monotonic()
back = timed.receive(timeout_millis=30000)
results["ack_timeout"] = (back.data().decode(), back.redelivery_count(),
                          round(time.monotonic() - started, 1))
timed.acknowledge(back)

# Delayed delivery: held on Shared, at once on Exclusive.
delayed_topic = topic + "-delayed"
shared = c.subscribe(delayed_topic, "shared", consumer_type=pulsar.ConsumerType.Shared)
exclusive = c.subscribe(delayed_topic, "exclusive")
delayed_producer = c.create_producer(delayed_topic, batching_enabled=False)
sent = time.monotonic()
delayed_producer.send(b"later", deliver_after=timedelta(seconds=2))
delayed_producer.send(b"now")
results["exclusive_order"] = [exclusive.receive(timeout_millis=5000).data().decode() for _ in range(2)]
first = shared.receive(timeout_millis=5000)
results["shared_first"] = (first.data().decode(), round(time.monotonic() - sent, 2))
second = shared.receive(timeout_millis=10000)
results["shared_second"] = (second.data().decode(), round(time.monotonic() - sent, 2))

ok = (results["deliveries"].get("2") == [0, 1, 2]
      and all(results["deliveries"].get(str(v)) == [0] for v in (0, 1, 3, 4))
      and results["dead_letter"] == "2"
      and results["exclusive_redelivered"] == "again"
      and results["batch_rest"] == [5, 6, 7, 8, 9]
      and results["ack_timeout"][0] == "unacked" and results["ack_timeout"][1] == 1
      and results["ack_timeout"][2] >= 8
      and results["exclusive_order"] == ["later", "now"]
      and results["shared_first"][0] == "now" and results["shared_first"][1] < 1.5
      and results["shared_second"][0] == "later" and results["shared_second"][1] >= 1.9)
report(results, ok)
