"""End-to-end latency through the official Python client: a producer paced
at RATE msg/s for SECONDS (batching off, asynchronous sends) and a consumer
on the same topic, in one process.

    paced_latency.py PULSAR_URL TOPIC RATE SECONDS SIZE

Each payload starts with its intended send time in microseconds since the
Unix epoch; a message's end-to-end latency runs from that time to its
receipt, its publish latency to its send callback. Prints {"received": n,
"e2e_ms": {...}, "publish_ms": {...}} with p50, p99, p99.9 and max; fails if
a message is missing."""

import struct
import sys
import threading
import time

import pulsar

from common import client, report


def percentiles(samples_us):
    ordered = sorted(samples_us)
    if not ordered:
        return {}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0
    return {"p50": pick(0.5), "p99": pick(0.99), "p99.9": pick(0.999), "max": ordered[-1] / 1000.0}


def main(url, topic, rate, seconds, size):
    c = client(url)
    consumer = c.subscribe(topic, "paced-latency", receiver_queue_size=1000)
    producer = c.create_producer(topic, batching_enabled=False, max_pending_messages=1000,
                                 block_if_queue_full=True)
    expected = int(rate * seconds)
    e2e, published, failed = [], [], []

    def consume():
        while len(e2e) < expected:
            try:
                msg = consumer.receive(timeout_millis=30000)
            except pulsar.Timeout:
                return
            now = time.time_ns() // 1000
            e2e.append(now - struct.unpack(">Q", msg.data()[:8])[0])
            consumer.acknowledge(msg)

    receiver = threading.Thread(target=consume)
    receiver.start()
    filler = b"x" * (size - 8)
    start_us = time.time_ns() // 1000
    start = time.monotonic()
    for i in range(expected):
        due = start + i / rate
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        stamp = start_us + int(i * 1_000_000 / rate)

        def sent(result, _msg_id, stamp=stamp):
            if result == pulsar.Result.Ok:
                published.append(time.time_ns() // 1000 - stamp)
            else:
                failed.append(str(result))

        producer.send_async(struct.pack(">Q", stamp) + filler, sent)
    producer.flush()
    receiver.join()
    c.close()
    report({"received": len(e2e), "sent": expected, "failed": failed[:3],
            "e2e_ms": percentiles(e2e), "publish_ms": percentiles(published)},
           len(e2e) == expected and not failed)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
