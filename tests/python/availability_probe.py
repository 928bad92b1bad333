"""Measures when a topic can take messages: sends one unbatched message
every 1/RATE s until DIR/stop exists, and appends the wall-clock time of
every receipt to DIR/receipts ("SECONDS_SINCE_EPOCH SEQ", flushed at once).
A benchmark reads the gaps between receipts around a fault it injects.

usage: availability_probe.py URL TOPIC DIR RATE"""

import os
import sys
import threading
import time

import pulsar

from common import client as make_client, report

url, topic, out_dir, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
stop_path = os.path.join(out_dir, "stop")
client = make_client(url, operation_timeout_seconds=30, connection_timeout_ms=2000)
producer = client.create_producer(topic, send_timeout_millis=60000, block_if_queue_full=True,
                                  batching_enabled=False, max_pending_messages=10000)
receipts = open(os.path.join(out_dir, "receipts"), "a", buffering=1)
lock = threading.Lock()
counts = {"sent": 0, "receipts": 0, "errors": 0}


def on_sent(seq):
    def callback(res, _msg_id):
        with lock:
            if res == pulsar.Result.Ok:
                counts["receipts"] += 1
                receipts.write("%.6f %d\n" % (time.time(), seq))
            else:
                counts["errors"] += 1
    return callback


start = time.monotonic()
seq = 0
while not os.path.exists(stop_path):
    due = start + seq / rate
    now = time.monotonic()
    if due > now:
        time.sleep(min(due - now, 0.05))
        continue
    producer.send_async(("probe-%d" % seq).encode(), on_sent(seq))
    counts["sent"] += 1
    seq += 1

producer.flush()
report(dict(counts), counts["errors"] == 0)
