"""Key_Shared subscriptions through the official client.

AUTO_SPLIT: three consumers share 30 keys while a fourth joins and one
leaves half way; every message arrives, and for each key the messages
arrive in order across all consumers (a key is never at two consumers at
once). STICKY: two consumers with the two halves of the hash space get
exactly the keys whose Murmur3 slot lies in their half, and a third with an
overlapping range is refused.

usage: key_shared_consumers.py URL TOPIC COUNT"""

import sys
import threading
import time

import pulsar

from common import client, report
from murmur import slot

url, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = client(url)
KEY_SHARED = pulsar.ConsumerType.KeyShared
KEYS = ["key-%d" % k for k in range(30)]


def subscribe(sub, name, policy=None):
    return c.subscribe(topic, sub, consumer_type=KEY_SHARED, consumer_name=name,
                       initial_position=pulsar.InitialPosition.Earliest,
                       receiver_queue_size=20, key_shared_policy=policy)


# --- AUTO_SPLIT with consumers joining and leaving -------------------------
received = []  # (time, consumer, key, seq)
lock = threading.Lock()
stop = threading.Event()


def consume(consumer, name, until=None):
    while not stop.is_set() and (until is None or not until.is_set()):
        try:
            msg = consumer.receive(timeout_millis=200)
        except pulsar.Timeout:
            continue
        key, seq = msg.data().decode().split(":")
        with lock:
            received.append((time.monotonic(), name, key, int(seq)))
        consumer.acknowledge(msg)
    if until is not None:
        consumer.close()


consumers = [subscribe("auto", "c%d" % i) for i in range(3)]
leave = threading.Event()
threads = [threading.Thread(target=consume, args=(consumers[0], "c0", leave))]
threads += [threading.Thread(target=consume, args=(cons, "c%d" % i))
            for i, cons in enumerate(consumers) if i > 0]
for t in threads:
    t.start()

producer = c.create_producer(topic, batching_enabled=True, batching_type=pulsar.BatchingType.KeyBased,
                             block_if_queue_full=True)
for i in range(count):
    key = KEYS[i % len(KEYS)]
    producer.send_async(("%s:%d" % (key, i)).encode(), None, partition_key=key)
    if i == count // 3:
        late = subscribe("auto", "c3")
        t = threading.Thread(target=consume, args=(late, "c3"))
        t.start()
        threads.append(t)
    if i == 2 * count // 3:
        leave.set()
producer.flush()

deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    with lock:
        if len({r[3] for r in received}) >= count:
            break
    time.sleep(0.2)
time.sleep(1)
stop.set()
for t in threads:
    t.join()

seqs = [r[3] for r in received]
missing = count - len(set(seqs))
out_of_order = []
per_key = {}
seen = set()
for when, name, key, seq in sorted(received):
    if seq in seen:
        continue  # a redelivery (an ack the leaving consumer never sent)
    seen.add(seq)
    last = per_key.get(key)
    if last is not None and seq < last[0]:
        out_of_order.append((key, last, (seq, name)))
    per_key[key] = (seq, name)
consumers_used = sorted({r[1] for r in received})

# --- STICKY ---------------------------------------------------------------
sticky = pulsar.KeySharedMode.Sticky
low = subscribe("sticky", "low", pulsar.ConsumerKeySharedPolicy(sticky, sticky_ranges=[(0, 32767)]))
high = subscribe("sticky", "high", pulsar.ConsumerKeySharedPolicy(sticky, sticky_ranges=[(32768, 65535)]))
overlap_refused = False
try:
    subscribe("sticky", "overlap", pulsar.ConsumerKeySharedPolicy(sticky, sticky_ranges=[(30000, 40000)]))
except Exception:
    overlap_refused = True
wrong_half = []
for name, consumer, lo, hi in [("low", low, 0, 32767), ("high", high, 32768, 65535)]:
    while True:
        try:
            msg = consumer.receive(timeout_millis=2000)
        except pulsar.Timeout:
            break
        key = msg.partition_key()
        if not lo <= slot(key) <= hi:
            wrong_half.append((name, key, slot(key)))
        consumer.acknowledge(msg)

ok = (missing == 0 and not out_of_order and len(consumers_used) >= 3 and overlap_refused
      and not wrong_half)
report({"received": len(received), "distinct": len(set(seqs)), "missing": missing,
        "out_of_order": out_of_order[:5], "consumers": consumers_used,
        "overlap_refused": overlap_refused, "wrong_half": wrong_half[:5]}, ok)
