"""Aggregate produce throughput over many topics: one producer per topic
persistent://NAMESPACE/load-I (batching on), messages of SIZE bytes sent as
fast as the client's queue allows for SECONDS, round robin over the topics.
Prints the receipts per second after a warm-up second.

usage: multi_topic_produce.py URL NAMESPACE TOPICS SECONDS [SIZE]"""

import sys
import threading
import time

import pulsar

from common import client, report

url, namespace, topics, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
size = int(sys.argv[5]) if len(sys.argv) > 5 else 1024
c = client(url)
producers = [c.create_producer("persistent://%s/load-%d" % (namespace, i), block_if_queue_full=True,
                               max_pending_messages=2000, batching_enabled=True,
                               batching_max_publish_delay_ms=1)
             for i in range(topics)]
payload = b"x" * size
lock = threading.Lock()
state = {"receipts": 0, "errors": 0, "counted_from": None, "counted": 0}


def on_sent(res, _msg_id):
    with lock:
        if res == pulsar.Result.Ok:
            state["receipts"] += 1
        else:
            state["errors"] += 1


start = time.monotonic()
warm = start + 1.0
end = start + seconds
i = 0
base = 0
while True:
    now = time.monotonic()
    if state["counted_from"] is None and now >= warm:
        with lock:
            base = state["receipts"]
        state["counted_from"] = now
    if now >= end:
        break
    producers[i % topics].send_async(payload, on_sent)
    i += 1

with lock:
    counted = state["receipts"] - base
elapsed = time.monotonic() - state["counted_from"]
for p in producers:
    p.flush()
report({"topics": topics, "msg_per_sec": round(counted / elapsed), "errors": state["errors"]},
       state["errors"] == 0)
