"""A slow consumer: receives and acknowledges at about RATE msg/s for
SECONDS, so that a faster producer leaves a growing backlog behind it.

    slow_consumer.py PULSAR_URL TOPIC SUBSCRIPTION SECONDS RATE

Prints {"received": n}; fails if nothing arrived."""

import sys
import time

import pulsar

from common import client, report


def main(url, topic, subscription, seconds, rate):
    c = client(url)
    consumer = c.subscribe(topic, subscription, receiver_queue_size=100)
    received = 0
    started = time.time()
    while time.time() - started < seconds:
        try:
            msg = consumer.receive(timeout_millis=1000)
        except pulsar.Timeout:
            continue
        consumer.acknowledge(msg)
        received += 1
        # Keeps to the rate on average, without sleeping a whole second.
        ahead = received / rate - (time.time() - started)
        if ahead > 0:
            time.sleep(ahead)
    c.close()
    report({"received": received}, received > 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
