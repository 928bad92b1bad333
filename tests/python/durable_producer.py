"""Produces a numbered stream and appends each message's sequence number to
RECEIPTS_FILE the moment its receipt arrives (flushed per line). The test
kills the broker under it; this script then exits on the first failure.

usage: durable_producer.py URL TOPIC RECEIPTS_FILE MAX_COUNT"""

import os
import sys
import threading

import pulsar

from common import client

url, topic, path, max_count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = client(url, operation_timeout_seconds=5, connection_timeout_ms=2000)
producer = c.create_producer(topic, batching_enabled=True, batching_max_messages=100,
                             batching_max_publish_delay_ms=2, send_timeout_millis=5000,
                             block_if_queue_full=True, max_pending_messages=500)
out = open(path, "a", buffering=1)
lock = threading.Lock()
failed = threading.Event()


def on_sent(seq):
    def callback(res, msg_id):
        if res == pulsar.Result.Ok:
            with lock:
                out.write("%d\n" % seq)
                out.flush()
                os.fsync(out.fileno())
        else:
            failed.set()
    return callback


for seq in range(max_count):
    if failed.is_set():
        break
    try:
        producer.send_async(("seq-%d" % seq).encode(), on_sent(seq))
    except Exception:
        break
try:
    producer.flush()
except Exception:
    pass
os._exit(0)
