"""Topic compaction through the official client and the admin API.

Ten keys get three values each (batched sends, so the broker compacts
inside batches), two of them a tombstone, and keyless messages go in
between. Compaction is triggered over REST (204) and its status polled to
SUCCESS. A read_compacted reader then sees each live key once, with its
latest value and no keyless message, also once the original ledgers were
trimmed (a plain reader sees fewer messages than were sent), and messages
sent after the compaction after them (also for batches compressed with
LZ4, zlib, zstd and snappy, each live key once); a
read_compacted durable consumer sees the compacted view; one on a Shared
subscription is refused. A TableView built on the topic holds exactly the
latest values. Then a namespace with a small compactionThreshold gets a
topic compacted by the broker's policy pass, with no trigger. An unknown
topic is a 404 and a negative threshold a 400.

usage: compaction.py URL ADMIN_URL"""

import sys
import time

import pulsar

from common import Checks, admin_request, client, until

url, admin = sys.argv[1], sys.argv[2]
check = Checks()

NAME = "py-compacted-%d" % int(time.time())
TOPIC = "persistent://public/default/" + NAME
PATH = "/admin/v2/persistent/public/default/" + NAME + "/compaction"
KEYS = ["k%d" % i for i in range(10)]


def http(method, path, body=None):
    return admin_request(admin, method, path, body)


def read_all(c, topic, compacted):
    """(key, value) of every message a reader from the earliest one gets."""
    reader = c.create_reader(topic, pulsar.MessageId.earliest, is_read_compacted=compacted)
    got = []
    while reader.has_message_available():
        msg = reader.read_next(timeout_millis=5000)
        got.append((msg.partition_key(), msg.data().decode()))
    reader.close()
    return got


def compacted_to_success(path):
    return until(lambda: (lambda s: (s[1].get("status") == "SUCCESS", s))(http("GET", path)),
                 timeout=30)


def ignore(result, message_id):
    pass


def fill(producer, keys, rounds):
    """Values `<key>-v<round>`, sent in batches; the expected final map."""
    latest = {}
    for round_ in range(rounds):
        for key in keys:
            value = "%s-v%d" % (key, round_)
            producer.send_async(value.encode(), ignore, partition_key=key)
            latest[key] = value
        producer.send_async(b"keyless", ignore)
    producer.flush()
    return latest


def main():
    c = client(url)
    producer = c.create_producer(TOPIC, batching_max_publish_delay_ms=50)
    latest = fill(producer, KEYS, 3)
    for key in KEYS[:2]:
        producer.send(b"", partition_key=key)
        del latest[key]

    everything = read_all(c, TOPIC, False)
    check("plain_reader_everything", len(everything) == 3 * 11 + 2, len(everything))

    status, body = http("GET", PATH)
    check("status_not_run", status == 200 and body == {"status": "NOT_RUN", "lastError": ""},
          [status, body])
    status, body = http("PUT", PATH)
    check("trigger_204", status == 204, [status, body])
    done, detail = compacted_to_success(PATH)
    check("status_success", done, detail)

    compacted = read_all(c, TOPIC, True)
    check("compacted_reader_latest_only", sorted(compacted) == sorted(latest.items()), compacted)
    # The __compaction cursor consumed the topic: its full ledgers go (the
    # broker runs with ten entries a ledger), the compacted view stays.
    done, detail = until(lambda: (lambda n: (n < 35, n))(len(read_all(c, TOPIC, False))))
    check("original_ledgers_trimmed", done, detail)
    compacted = read_all(c, TOPIC, True)
    check("compacted_view_outlives_them", sorted(compacted) == sorted(latest.items()), compacted)

    producer.send(b"k2-after", partition_key="k2")
    producer.send(b"k0-back", partition_key="k0")
    compacted = read_all(c, TOPIC, True)
    check("then_the_messages_after_it",
          compacted[-2:] == [("k2", "k2-after"), ("k0", "k0-back")]
          and sorted(compacted[:-2]) == sorted(latest.items()), compacted)
    latest["k2"] = "k2-after"
    latest["k0"] = "k0-back"

    consumer = c.subscribe(TOPIC, "compacted-sub", is_read_compacted=True,
                           initial_position=pulsar.InitialPosition.Earliest)
    got = []
    while True:
        try:
            msg = consumer.receive(timeout_millis=2000)
        except pulsar.Timeout:
            break
        got.append((msg.partition_key(), msg.data().decode()))
        consumer.acknowledge(msg)
    check("compacted_consumer", len(got) == 10 and dict(got) == latest, got)
    consumer.close()

    try:
        c.subscribe(TOPIC, "shared-compacted", consumer_type=pulsar.ConsumerType.Shared,
                    is_read_compacted=True)
        refused = None
    except Exception as error:  # noqa: BLE001 - the class is what is checked
        refused = type(error).__name__
    check("shared_refused", refused is not None, refused)

    table = c.create_table_view(TOPIC)
    view = {}
    table.for_each(lambda k, v: view.__setitem__(k, v.decode()))
    check("table_view", view == latest and len(table) == len(latest), view)
    table.close()

    # Compressed batches are looked into: the view has each live key once.
    for kind in ["LZ4", "ZLib", "ZSTD", "SNAPPY"]:
        name = "%s-%s" % (NAME, kind.lower())
        squeezed = c.create_producer("persistent://public/default/" + name,
                                     compression_type=getattr(pulsar.CompressionType, kind),
                                     batching_max_publish_delay_ms=50)
        expected = fill(squeezed, ["a", "b", "c", "d"], 3)
        squeezed.send(b"", partition_key="d")
        del expected["d"]
        squeezed.close()
        path = "/admin/v2/persistent/public/default/" + name + "/compaction"
        status, body = http("PUT", path)
        done, detail = compacted_to_success(path)
        compacted = read_all(c, "persistent://public/default/" + name, True)
        check("compressed_" + kind, status == 204 and done
              and sorted(compacted) == sorted(expected.items()), [status, detail, compacted])

    status, body = http("PUT", "/admin/v2/persistent/public/default/py-nowhere/compaction")
    check("unknown_404", status == 404, [status, body])
    threshold = "/admin/v2/namespaces/public/default/compactionThreshold"
    status, body = http("POST", threshold, "-5")
    check("negative_threshold_400", status == 400, [status, body])

    # The policy pass compacts once the backlog exceeds the threshold.
    status, body = http("PUT", "/admin/v2/namespaces/public/py-compaction")
    check("namespace_created", status in (204, 409), [status, body])
    status, body = http("POST", "/admin/v2/namespaces/public/py-compaction/compactionThreshold", "500")
    check("threshold_set", status == 204, [status, body])
    status, body = http("GET", "/admin/v2/namespaces/public/py-compaction/compactionThreshold")
    check("threshold_read", status == 200 and body == 500, [status, body])
    auto = "persistent://public/py-compaction/auto"
    auto_producer = c.create_producer(auto, batching_enabled=False)
    expected = fill(auto_producer, ["a", "b", "c"], 10)
    done, detail = compacted_to_success("/admin/v2/persistent/public/py-compaction/auto/compaction")
    check("threshold_compacts", done, detail)
    # A pass may have come while the messages were sent: the view, then
    # what followed it, last value winning, is the expected map, and
    # shorter than what was sent.
    compacted = read_all(c, auto, True)
    check("threshold_view", dict(compacted) == expected and len(compacted) < 40, compacted)
    c.close()
    check.report()


main()
