"""Produces a paced, numbered stream ("seq-N") until DIR/stop exists, and
keeps going after errors. Every receipt is appended to DIR/receipts ("N")
and every failed send to DIR/errors ("N RESULT"), one line each, flushed at
once, so the test can watch them while the stream runs. At the end it
flushes the producer and prints one JSON object with the counts.

usage: stream_producer.py URL TOPIC DIR RATE [MAX_PENDING]"""

import json
import os
import sys
import threading
import time

import pulsar

from common import client as make_client

url, topic, out_dir, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
max_pending = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
stop_path = os.path.join(out_dir, "stop")

client = make_client(url, operation_timeout_seconds=30, connection_timeout_ms=5000)
producer = client.create_producer(topic, send_timeout_millis=30000, block_if_queue_full=True,
                                  max_pending_messages=max_pending, batching_enabled=True,
                                  batching_max_messages=100, batching_max_publish_delay_ms=5)
receipts = open(os.path.join(out_dir, "receipts"), "a", buffering=1)
errors = open(os.path.join(out_dir, "errors"), "a", buffering=1)
lock = threading.Lock()
counts = {"sent": 0, "receipts": 0, "errors": 0, "send_exceptions": 0}
error_kinds = {}


def on_sent(seq):
    def callback(res, _msg_id):
        with lock:
            if res == pulsar.Result.Ok:
                counts["receipts"] += 1
                receipts.write("%d\n" % seq)
            else:
                counts["errors"] += 1
                error_kinds[str(res)] = error_kinds.get(str(res), 0) + 1
                errors.write("%d %s\n" % (seq, res))
    return callback


start = time.monotonic()
seq = 0
last_stop_check = 0.0
while True:
    now = time.monotonic()
    if now - last_stop_check >= 0.05:
        last_stop_check = now
        if os.path.exists(stop_path):
            break
    due = start + seq / rate
    if now - due > 1.0:
        # Blocked on a full queue: go on at the rate, do not catch up.
        start = now - seq / rate
    elif due > now:
        time.sleep(min(due - now, 0.05))
        continue
    try:
        # Blocks while max_pending sends wait for receipts.
        producer.send_async(("seq-%d" % seq).encode(), on_sent(seq))
        counts["sent"] += 1
    except Exception as error:  # the producer keeps going after any failure
        with lock:
            counts["send_exceptions"] += 1
            errors.write("%d exception %s\n" % (seq, type(error).__name__))
        time.sleep(0.1)
    seq += 1

try:
    producer.flush()
except Exception as error:
    with lock:
        error_kinds["flush " + type(error).__name__] = 1
with lock:
    result = dict(counts)
    result["error_kinds"] = dict(error_kinds)
    result["max_pending"] = max_pending
    result["ok"] = True
    receipts.flush()
    errors.flush()
print(json.dumps(result), flush=True)
sys.stderr.flush()
os._exit(0)
