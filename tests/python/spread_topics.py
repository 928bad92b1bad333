"""Spreads topics over a namespace's bundles: for each of COUNT topics
persistent://NAMESPACE/spread-I it subscribes (earliest position) and
produces one message through the one service URL, then receives every
message back. The lookups place the bundles; a client of one broker reaches
topics that others own.

usage: spread_topics.py URL NAMESPACE COUNT"""

import sys

import pulsar

from common import client, report

url, namespace, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
topics = ["persistent://%s/spread-%d" % (namespace, i) for i in range(count)]
c = client(url)
failures = []
consumers = {}
produced = 0

for i, topic in enumerate(topics):
    try:
        consumers[i] = c.subscribe(topic, "spread", consumer_type=pulsar.ConsumerType.Exclusive,
                                   initial_position=pulsar.InitialPosition.Earliest)
        producer = c.create_producer(topic, send_timeout_millis=30000)
        producer.send(("spread-%d" % i).encode())
        producer.close()
        produced += 1
    except Exception as error:
        failures.append("produce %s: %s: %s" % (topic, type(error).__name__, error))

consumed = 0
for i, consumer in sorted(consumers.items()):
    try:
        msg = consumer.receive(timeout_millis=15000)
        body = msg.data().decode()
        if body == "spread-%d" % i:
            consumed += 1
        else:
            failures.append("consume %s: got %r" % (topics[i], body))
        consumer.acknowledge(msg)
        consumer.close()
    except Exception as error:
        failures.append("consume %s: %s: %s" % (topics[i], type(error).__name__, error))

report({"produced": produced, "consumed": consumed, "failures": failures[:10]},
       produced == count and consumed == count)
