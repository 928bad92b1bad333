"""Consumes everything on a subscription and prints the payload sequence
numbers in arrival order (acking when asked).

usage: consume_all.py URL TOPIC SUBSCRIPTION ACK(ack|noack) [MAX]"""

import sys

import pulsar

from common import client, drain, report

url, topic, sub, ack = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "ack"
limit = int(sys.argv[5]) if len(sys.argv) > 5 else 10**9
c = client(url)
consumer = c.subscribe(topic, sub, consumer_type=pulsar.ConsumerType.Exclusive,
                       initial_position=pulsar.InitialPosition.Earliest)
got = drain(consumer, limit, idle_ms=4000, ack=ack)
if ack:
    consumer.close()  # flushes pending acknowledgements
seqs = [int(m.split("-")[1]) for m in got]
report({"seqs": seqs}, True)
