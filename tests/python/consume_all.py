"""Consumes everything on a subscription and prints the payload sequence
numbers in arrival order (acking when asked). A message delivered again
with the same message id (a redelivery after the consumer reconnected, for
example when its topic moved to another broker) is counted apart, not
listed again: only a message stored twice shows up twice in "seqs".

usage: consume_all.py URL TOPIC SUBSCRIPTION ACK(ack|noack) [MAX]"""

import sys

import pulsar

from common import client, report

url, topic, sub, ack = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "ack"
limit = int(sys.argv[5]) if len(sys.argv) > 5 else 10**9
c = client(url)
consumer = c.subscribe(topic, sub, consumer_type=pulsar.ConsumerType.Exclusive,
                       initial_position=pulsar.InitialPosition.Earliest)
seqs = []
seen_ids = set()
first_id = {}
twice = []
redelivered = 0
while len(seqs) < limit:
    try:
        msg = consumer.receive(timeout_millis=4000)
    except pulsar.Timeout:
        break
    if ack:
        consumer.acknowledge(msg)
    message_id = str(msg.message_id())
    if message_id in seen_ids:
        redelivered += 1
        continue
    seen_ids.add(message_id)
    seq = int(msg.data().decode().split("-")[1])
    if seq in first_id and len(twice) < 5:
        twice.append([seq, first_id[seq], message_id])
    first_id.setdefault(seq, message_id)
    seqs.append(seq)
if ack:
    consumer.close()  # flushes pending acknowledgements
report({"seqs": seqs, "redelivered": redelivered, "twice": twice}, True)
