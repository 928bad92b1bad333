"""Chunked messages through the official client: a 20 MB message from a
producer with chunking on is split into chunks no larger than the broker's
max message size (each stored as its own entry) and put back together by
the consumer; a small message beside it is untouched.

usage: chunking.py URL TOPIC"""

import hashlib
import os
import sys

import pulsar

from common import client, report

url, topic = sys.argv[1], sys.argv[2]
c = client(url, operation_timeout_seconds=60)
consumer = c.subscribe(topic, "chunks", initial_position=pulsar.InitialPosition.Earliest)
producer = c.create_producer(topic, chunking_enabled=True, batching_enabled=False,
                             send_timeout_millis=60000)
big = os.urandom(20 * 1024 * 1024)
producer.send(big)
producer.send(b"small")
first = consumer.receive(timeout_millis=60000)
consumer.acknowledge(first)
second = consumer.receive(timeout_millis=10000)
consumer.acknowledge(second)
result = {
    "size": len(first.data()),
    "same": hashlib.sha256(first.data()).hexdigest() == hashlib.sha256(big).hexdigest(),
    "second": second.data().decode(errors="replace"),
}
report(result, result["same"] and result["size"] == len(big) and result["second"] == "small")
