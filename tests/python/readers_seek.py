"""Readers and seek through the official client.

Readers start at earliest, latest, or a message id (exclusive and
inclusive), has_message_available is right on an empty topic and at the
end, a closed reader leaves no subscription behind (admin stats), and a
durable consumer seeks back by message id and by publish time.

usage: readers_seek.py URL ADMIN_URL TOPIC"""

import json
import sys
import time
import urllib.request

import pulsar

from common import client, drain, report

url, admin_url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
c = client(url)
short = topic.split("://", 1)[1]


def read_all(reader, idle_ms=1500):
    got = []
    while True:
        try:
            msg = reader.read_next(timeout_millis=idle_ms)
        except pulsar.Timeout:
            return got
        got.append(int(msg.data().decode()))


def subscriptions():
    with urllib.request.urlopen("%s/admin/v2/persistent/%s/stats" % (admin_url, short)) as response:
        return sorted(json.load(response).get("subscriptions", {}).keys())


results = {}
empty_reader = c.create_reader(topic, pulsar.MessageId.earliest)
results["empty_has_available"] = empty_reader.has_message_available()
empty_reader.close()

producer = c.create_producer(topic, batching_enabled=False)
ids = []
for i in range(10):
    ids.append(producer.send(str(i).encode()))
    time.sleep(0.01)

reader = c.create_reader(topic, pulsar.MessageId.earliest)
results["earliest"] = read_all(reader)
results["end_has_available"] = reader.has_message_available()
results["subscriptions_while_open"] = len(subscriptions())
reader.close()
results["subscriptions_after_close"] = subscriptions()

reader = c.create_reader(topic, ids[5])
results["from_5_exclusive"] = read_all(reader)
reader.close()
reader = c.create_reader(topic, ids[5], start_message_id_inclusive=True)
results["from_5_inclusive"] = read_all(reader)
reader.close()

latest = c.create_reader(topic, pulsar.MessageId.latest)
results["latest_has_available"] = latest.has_message_available()
producer.send(b"10")
results["latest"] = read_all(latest)
reader_seek = latest
reader_seek.seek(ids[7])
results["reader_seek_7"] = read_all(reader_seek)
latest.close()

consumer = c.subscribe(topic, "durable", initial_position=pulsar.InitialPosition.Earliest)
publish_times = []
for _ in range(11):
    msg = consumer.receive(timeout_millis=5000)
    publish_times.append(msg.publish_timestamp())
    consumer.acknowledge(msg)


def receive_all(consumer):
    return [int(value) for value in drain(consumer, 1_000_000, idle_ms=1500)]


consumer.seek(ids[3])
results["seek_id_3"] = receive_all(consumer)
consumer.seek(publish_times[6])
results["seek_time_6"] = receive_all(consumer)

expected = {
    "empty_has_available": False,
    "earliest": list(range(10)),
    "end_has_available": False,
    "subscriptions_while_open": 1,
    "subscriptions_after_close": [],
    "from_5_exclusive": list(range(6, 10)),
    "from_5_inclusive": list(range(5, 10)),
    "latest_has_available": False,
    "latest": [10],
    # The broker delivers from the named message; the client drops it, as
    # its seek (like its reader start) is exclusive unless configured
    # inclusive.
    "reader_seek_7": list(range(8, 11)),
    "seek_id_3": list(range(4, 11)),
    "seek_time_6": list(range(6, 11)),
}
wrong = {k: (results.get(k), v) for k, v in expected.items() if results.get(k) != v}
report({"results": results, "wrong": wrong}, not wrong)
