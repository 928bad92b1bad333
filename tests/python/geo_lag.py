"""Replication lag: produces at a steady rate in one cluster and consumes
in another, timing each message from its intended send time to its arrival.

usage: geo_lag.py PRODUCE_URL CONSUME_URL TOPIC RATE SECONDS

Each payload carries its intended send time (the pacing schedule, so a
producer that falls behind counts against the lag). Prints the number
received and the lag's p50, p99 and maximum in milliseconds."""

import sys
import threading
import time

import pulsar

from common import client, report

produce_url, consume_url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
rate, seconds = float(sys.argv[4]), float(sys.argv[5])
count = int(rate * seconds)

consumer_client = client(consume_url)
consumer = consumer_client.subscribe(topic, "lag", consumer_type=pulsar.ConsumerType.Exclusive,
                                     initial_position=pulsar.InitialPosition.Latest,
                                     receiver_queue_size=5000)
lags = []
done = threading.Event()


def consume():
    while len(lags) < count:
        try:
            msg = consumer.receive(timeout_millis=30000)
        except pulsar.Timeout:
            break
        arrived = time.time()
        lags.append((arrived - float(msg.data().decode().split(" ")[0])) * 1000.0)
        consumer.acknowledge(msg)
    done.set()


receiver = threading.Thread(target=consume, daemon=True)
receiver.start()
producer_client = client(produce_url)
producer = producer_client.create_producer(topic, batching_enabled=True, batching_max_messages=100,
                                           batching_max_publish_delay_ms=1, block_if_queue_full=True,
                                           send_timeout_millis=0, max_pending_messages=5000)
failures = []


def on_sent(res, _msg_id):
    if res != pulsar.Result.Ok:
        failures.append(str(res))


start = time.time() + 0.5
for i in range(count):
    due = start + i / rate
    pause = due - time.time()
    if pause > 0:
        time.sleep(pause)
    producer.send_async(("%.6f %d" % (due, i)).encode(), on_sent)
producer.flush()
done.wait(timeout=120)
lags.sort()


def percentile(p):
    if not lags:
        return None
    rank = max(1, int(round(p / 100.0 * len(lags) + 0.4999)))
    return round(lags[min(rank, len(lags)) - 1], 2)


report({"sent": count, "received": len(lags), "p50_ms": percentile(50), "p99_ms": percentile(99),
        "max_ms": percentile(100), "failures": failures[:5]},
       len(lags) == count and not failures)
