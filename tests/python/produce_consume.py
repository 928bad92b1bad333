"""Produces N messages (batching on or off, optional compression), then
consumes and acks them all on one exclusive subscription, checking order,
loss and duplicates.

usage: produce_consume.py URL TOPIC COUNT BATCHING(on|off) COMPRESSION"""

import sys

import pulsar

from common import client, drain, report

url, topic, count, batching, compression = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
compression_type = {
    "none": pulsar.CompressionType.NONE,
    "lz4": pulsar.CompressionType.LZ4,
    "zlib": pulsar.CompressionType.ZLib,
    "zstd": pulsar.CompressionType.ZSTD,
    "snappy": pulsar.CompressionType.SNAPPY,
}[compression]

c = client(url)
consumer = c.subscribe(topic, "e2e", consumer_type=pulsar.ConsumerType.Exclusive,
                       initial_position=pulsar.InitialPosition.Earliest)
producer = c.create_producer(topic, batching_enabled=(batching == "on"), batching_max_messages=500,
                             batching_max_publish_delay_ms=5, compression_type=compression_type,
                             block_if_queue_full=True, max_pending_messages=1000)
failures = []
receipts = []


def on_sent(res, msg_id):
    if res != pulsar.Result.Ok:
        failures.append(str(res))
    else:
        receipts.append((msg_id.ledger_id(), msg_id.entry_id(), msg_id.batch_index()))


for i in range(count):
    producer.send_async(("msg-%d" % i).encode(), on_sent)
producer.flush()

got = drain(consumer, count)
expected = ["msg-%d" % i for i in range(count)]
entries = len({(l, e) for (l, e, _) in receipts})
ok = (not failures and len(receipts) == count and got == expected)
report({"produced": len(receipts), "consumed": len(got), "send_failures": failures[:5],
        "distinct_entries": entries, "in_order": got == expected[:len(got)]}, ok)
