"""Exclusive then Shared subscriptions: an exclusive subscription rejects a
second consumer; a shared subscription spreads N messages over 3 consumers
with no loss and no duplicates.

usage: shared_consumers.py URL TOPIC COUNT"""

import sys
import threading

import pulsar

from common import client, drain, report

url, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = client(url)

# Exclusive: the second consumer must be refused.
first = c.subscribe(topic, "excl", consumer_type=pulsar.ConsumerType.Exclusive,
                    initial_position=pulsar.InitialPosition.Earliest)
second_refused = False
try:
    c.subscribe(topic, "excl", consumer_type=pulsar.ConsumerType.Exclusive)
except Exception:  # the client raises ConsumerBusy
    second_refused = True

shared = [c.subscribe(topic, "shared", consumer_type=pulsar.ConsumerType.Shared,
                      initial_position=pulsar.InitialPosition.Earliest, receiver_queue_size=50)
          for _ in range(3)]

producer = c.create_producer(topic, batching_enabled=False, block_if_queue_full=True)
send_failures = []


def on_sent(res, _msg_id):
    if res != pulsar.Result.Ok:
        send_failures.append(str(res))


for i in range(count):
    producer.send_async(("m-%d" % i).encode(), on_sent)
producer.flush()

exclusive_got = drain(first, count)

results = [[] for _ in shared]


def consume(idx):
    results[idx] = drain(shared[idx], count, idle_ms=3000)


threads = [threading.Thread(target=consume, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()

all_shared = [m for r in results for m in r]
expected = {"m-%d" % i for i in range(count)}
ok = (not send_failures and second_refused and exclusive_got == ["m-%d" % i for i in range(count)]
      and len(all_shared) == count and set(all_shared) == expected
      and sum(1 for r in results if r) >= 2)
report({"send_failures": send_failures[:5], "second_refused": second_refused, "exclusive": len(exclusive_got),
        "shared_total": len(all_shared), "shared_distinct": len(set(all_shared)),
        "per_consumer": [len(r) for r in results]}, ok)
