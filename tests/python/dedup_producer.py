"""A producer that retries: every message carries its own sequence id, so a
resend (by the client after a reconnect, or by a second run of this script)
is a duplicate the broker must not store again.

usage:
  dedup_producer.py produce URL TOPIC COUNT PROGRESS_FILE
      creates the subscription `check`, then sends payloads 0..COUNT-1 with
      sequence ids 1..COUNT as producer `dedup-writer` with no send timeout, writing the number of
      receipts to PROGRESS_FILE as they arrive; prints the producer's
      last_sequence_id before and after
  dedup_producer.py consume URL TOPIC
      prints every payload of subscription `check`, in order"""

import os
import sys
import threading
import time

import pulsar

from common import client, report

mode, url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
c = client(url, operation_timeout_seconds=30, connection_timeout_ms=2000)

if mode == "consume":
    consumer = c.subscribe(topic, "check", initial_position=pulsar.InitialPosition.Earliest)
    got = []
    while True:
        try:
            msg = consumer.receive(timeout_millis=5000)
        except pulsar.Timeout:
            break
        got.append(int(msg.data().decode()))
        consumer.acknowledge(msg)
    report({"payloads": got}, True)

count, progress_path = int(sys.argv[4]), sys.argv[5]
c.subscribe(topic, "check", initial_position=pulsar.InitialPosition.Earliest).close()
producer = c.create_producer(topic, producer_name="dedup-writer", batching_enabled=False,
                             send_timeout_millis=0, block_if_queue_full=True, max_pending_messages=1000)
last_before = producer.last_sequence_id()
lock = threading.Lock()
acked = [0]
failed = []
duplicates = [0]


def on_sent(res, msg_id):
    with lock:
        if res == pulsar.Result.Ok:
            acked[0] += 1
            if msg_id.ledger_id() < 0 or msg_id.ledger_id() >= 2 ** 63:
                duplicates[0] += 1
        else:
            failed.append(str(res))


def write_progress():
    tmp = progress_path + ".tmp"
    with open(tmp, "w") as out:
        out.write(str(acked[0]))
    os.replace(tmp, progress_path)


# Sequence ids from 1: the client ignores an explicit sequence id of 0
# (it takes 0 for "none") and numbers the message itself.
# About 5,000 messages a second, so that a crash lands in the stream.
started = time.time()
for seq in range(count):
    producer.send_async(str(seq).encode(), on_sent, sequence_id=seq + 1)
    if seq % 100 == 0:
        write_progress()
        ahead = seq / 5000.0 - (time.time() - started)
        if ahead > 0:
            time.sleep(ahead)
deadline = time.time() + 120
while time.time() < deadline and acked[0] + len(failed) < count:
    write_progress()
    time.sleep(0.1)
write_progress()
report({"acked": acked[0], "failed": failed[:5], "duplicate_receipts": duplicates[0],
        "last_before": last_before, "last_after": producer.last_sequence_id()},
       acked[0] == count and not failed)
