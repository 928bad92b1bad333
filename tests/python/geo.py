"""Geo-replication checks through the official client.

usage:
  geo.py produce URL TOPIC ORIGIN COUNT [RATE] [unbatched]
      Produces COUNT messages "ORIGIN:i" (batching on unless asked), each
      with key "k<i % 7>", property origin=ORIGIN and event time 1000 + i;
      RATE messages per second when given and not 0. Prints the number
      acknowledged.
  geo.py consume URL TOPIC SUBSCRIPTION EXPECTED [IDLE_MS] [replicated]
      Subscribes from the earliest message (a replicated subscription when
      asked) and receives and acknowledges until EXPECTED messages arrived
      or nothing came for IDLE_MS (default 15000).
      Prints, per origin, the sequence numbers in arrival order, and any
      message whose key, property or event time does not match its payload.
"""

import sys
import time

import pulsar

from common import client, report

mode, url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
c = client(url)

if mode == "produce":
    origin, count = sys.argv[4], int(sys.argv[5])
    rate = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    batching = not (len(sys.argv) > 7 and sys.argv[7] == "unbatched")
    producer = c.create_producer(topic, batching_enabled=batching, batching_max_messages=50,
                                 batching_max_publish_delay_ms=5, block_if_queue_full=True,
                                 send_timeout_millis=0, max_pending_messages=1000)
    failures = []
    acked = [0]

    def on_sent(res, _msg_id):
        if res == pulsar.Result.Ok:
            acked[0] += 1
        else:
            failures.append(str(res))

    start = time.monotonic()
    for i in range(count):
        if rate > 0:
            due = start + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        producer.send_async(("%s:%d" % (origin, i)).encode(), on_sent, partition_key="k%d" % (i % 7),
                            properties={"origin": origin}, event_timestamp=1000 + i)
    producer.flush()
    report({"acked": acked[0], "failures": failures[:5]}, acked[0] == count and not failures)

elif mode == "consume":
    sub, expected = sys.argv[4], int(sys.argv[5])
    idle_ms = int(sys.argv[6]) if len(sys.argv) > 6 else 15000
    replicated = len(sys.argv) > 7 and sys.argv[7] == "replicated"
    consumer = c.subscribe(topic, sub, consumer_type=pulsar.ConsumerType.Exclusive,
                           initial_position=pulsar.InitialPosition.Earliest,
                           replicate_subscription_state_enabled=replicated)
    by_origin = {}
    mismatched = []
    received = 0
    while received < expected:
        try:
            msg = consumer.receive(timeout_millis=idle_ms)
        except pulsar.Timeout:
            break
        consumer.acknowledge(msg)
        received += 1
        origin, seq = msg.data().decode().rsplit(":", 1)
        seq = int(seq)
        by_origin.setdefault(origin, []).append(seq)
        props = msg.properties()
        if (msg.partition_key() != "k%d" % (seq % 7) or props.get("origin") != origin
                or msg.event_timestamp() != 1000 + seq):
            if len(mismatched) < 5:
                mismatched.append({"data": msg.data().decode(), "key": msg.partition_key(),
                                   "properties": props, "event_time": msg.event_timestamp()})
    consumer.close()  # sends the acknowledgements still grouped
    report({"received": received, "by_origin": by_origin, "mismatched": mismatched},
           not mismatched)

else:
    report({"error": "unknown mode %s" % mode}, False)
