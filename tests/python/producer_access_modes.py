"""Producer access modes through the official client.

Exclusive keeps shared and other exclusive producers out; WaitForExclusive
blocks until the holder closes, then publishes; ExclusiveWithFencing takes
the topic from the waiter-turned-holder, whose sends then fail; a consumer
sees every message that was acknowledged, once.

usage: producer_access_modes.py URL TOPIC"""

import sys
import threading
import time

import pulsar

from common import Checks, client, drain

url, topic = sys.argv[1], sys.argv[2]
c = client(url, operation_timeout_seconds=10)
check = Checks()


def refused(**options):
    started = time.time()
    try:
        c.create_producer(topic, **options)
        return "created"
    except Exception as error:
        return [type(error).__name__, round(time.time() - started, 2)]


consumer = c.subscribe(topic, "access-check", initial_position=pulsar.InitialPosition.Earliest)
holder = c.create_producer(topic, producer_name="holder", access_mode=pulsar.ProducerAccessMode.Exclusive,
                           batching_enabled=False)
holder.send(b"holder-1")

answer = refused(producer_name="shared", access_mode=pulsar.ProducerAccessMode.Shared)
check("shared_refused", answer != "created" and answer[1] < 5, answer)
answer = refused(producer_name="second", access_mode=pulsar.ProducerAccessMode.Exclusive)
check("exclusive_refused", answer != "created" and answer[1] < 5, answer)

waited = {}


def wait_for_exclusive():
    try:
        producer = c.create_producer(topic, producer_name="waiter",
                                     access_mode=pulsar.ProducerAccessMode.WaitForExclusive,
                                     batching_enabled=False, send_timeout_millis=3000)
        waited["at"] = time.time()
        producer.send(b"waiter-1")
        waited["producer"] = producer
    except Exception as error:
        waited["error"] = repr(error)


thread = threading.Thread(target=wait_for_exclusive, daemon=True)
thread.start()
time.sleep(1.5)
check("waiter_waits", thread.is_alive() and "at" not in waited, dict((k, str(v)) for k, v in waited.items()))
closed_at = time.time()
holder.close()
thread.join(timeout=15)
check("waiter_took_over", "producer" in waited and waited["at"] >= closed_at,
      dict((k, str(v)) for k, v in waited.items()))

fencer = c.create_producer(topic, producer_name="fencer",
                           access_mode=pulsar.ProducerAccessMode.ExclusiveWithFencing, batching_enabled=False)
fencer.send(b"fencer-1")
fenced = None
if "producer" in waited:
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            waited["producer"].send(b"must-not-be-stored")
            time.sleep(0.2)
        except Exception as error:
            fenced = type(error).__name__
            break
check("waiter_fenced", fenced is not None, fenced)

got = drain(consumer, 3, idle_ms=3000)
check("delivered", sorted(got) == ["fencer-1", "holder-1", "waiter-1"], got)

check.report()
