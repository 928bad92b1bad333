"""Terminated topics through the official client and the admin API.

`all` mode: five messages are produced, then the topic is terminated over
REST; the answer is the last message's id, and again the same id on a
repeat; internalStats says `Terminated`. The producer's next send fails at
once with pulsar.TopicTerminated (the client's producer, closed by the
broker, is refused when it comes back), creating a producer fails the
same way, a subscription and a
reader get the five messages and then nothing more (the C++ client behind
the Python one has no end-of-topic notice: receive times out, the reader
has no message available, and both stay connected). A partitioned topic's
base name is refused (405), its partitions are terminated together, and an
unknown topic is a 404.

`check` mode (after the broker crashed and restarted): the topic is still
terminated: producers are refused, a new subscription from the earliest
message gets the five messages and then nothing, and terminating again
answers the last message id.

usage: terminate.py all|check URL ADMIN_URL"""

import sys
import time

import pulsar

from common import Checks, admin_request, client, drain

mode, url, admin = sys.argv[1], sys.argv[2], sys.argv[3]
check = Checks()

BASE = "/admin/v2/persistent/public/default/"
NAME = "py-terminated"
TOPIC = "persistent://public/default/" + NAME
SENT = ["m%d" % i for i in range(5)]


def http(method, path, body=None):
    return admin_request(admin, method, path, body)


def refused_producer(c, topic):
    """The exception class name creating a producer raises (None: created)."""
    try:
        c.create_producer(topic)
    except Exception as error:  # noqa: BLE001 - the class is what is checked
        return type(error).__name__
    return None


def after_the_end(consumer):
    """What receive does once everything was received and acknowledged."""
    try:
        msg = consumer.receive(timeout_millis=2000)
        return "message " + msg.data().decode()
    except Exception as error:  # noqa: BLE001
        return type(error).__name__


def run_all():
    c = client(url)
    producer = c.create_producer(TOPIC, batching_enabled=False, send_timeout_millis=3000)
    consumer = c.subscribe(TOPIC, "orders", initial_position=pulsar.InitialPosition.Earliest)
    reader = c.create_reader(TOPIC, pulsar.MessageId.earliest)
    last = None
    for payload in SENT:
        last = producer.send(payload.encode())

    status, body = http("POST", BASE + NAME + "/terminate")
    expected = {"ledgerId": last.ledger_id(), "entryId": last.entry_id(), "partitionIndex": -1}
    check("terminate_answers_the_last_id", status == 200 and body == expected, [status, body, expected])
    status, again = http("POST", BASE + NAME + "/terminate")
    check("terminate_is_idempotent", status == 200 and again == body, [status, again])
    status, internal = http("GET", BASE + NAME + "/internalStats")
    check("internal_stats_terminated", internal.get("state") == "Terminated", internal.get("state"))
    status, stats = http("GET", BASE + NAME + "/stats")
    check("producer_disconnected", status == 200 and stats["publishers"] == [], stats["publishers"])

    # The producer was closed by the broker and is refused when it comes
    # back: the client fails its sends with TopicTerminated from then on.
    started = time.time()
    try:
        producer.send(b"late")
        sent_late = "sent"
    except Exception as error:  # noqa: BLE001
        sent_late = type(error).__name__
    check("send_after_terminate_fails", sent_late == "TopicTerminated",
          [sent_late, round(time.time() - started, 1)])
    refusal = refused_producer(c, TOPIC)
    check("new_producer_refused", refusal == "TopicTerminated", refusal)

    got = drain(consumer, len(SENT))
    check("consumer_gets_everything", got == SENT, got)
    end = after_the_end(consumer)
    check("then_receive_times_out", end == "Timeout", end)
    time.sleep(1)
    check("consumer_stays_connected", consumer.is_connected())
    read = []
    while reader.has_message_available() and len(read) < 10:
        read.append(reader.read_next(timeout_millis=5000).data().decode())
    check("reader_reads_everything", read == SENT, read)
    check("reader_has_nothing_more", not reader.has_message_available())
    status, stats = http("GET", BASE + NAME + "/stats")
    backlog = stats["subscriptions"]["orders"]["msgBacklog"]
    check("backlog_empty", backlog == 0, backlog)

    # Partitioned topics and unknown ones.
    status, _ = http("PUT", BASE + "py-terminated-parts/partitions", "2")
    check("create_partitioned", status == 204, status)
    for index in range(2):
        part = c.create_producer("persistent://public/default/py-terminated-parts-partition-%d" % index)
        part.send(b"p%d" % index)
        part.close()
    status, body = http("POST", BASE + "py-terminated-parts/terminate")
    check("partitioned_base_405", status == 405 and "partitioned" in body.get("reason", ""),
          [status, body])
    status, body = http("POST", BASE + "py-terminated-parts/terminate/partitions")
    ok = status == 200 and sorted(body) == ["0", "1"] and all(
        body[k]["partitionIndex"] == int(k) and body[k]["entryId"] == 0 for k in body)
    check("partitions_terminated", ok, [status, body])
    check("partition_refuses_producers",
          refused_producer(c, "persistent://public/default/py-terminated-parts-partition-0")
          == "TopicTerminated")
    status, body = http("POST", BASE + "py-nowhere/terminate")
    check("unknown_404", status == 404, [status, body])
    c.close()
    check.report()


def run_check():
    c = client(url)
    refusal = refused_producer(c, TOPIC)
    check("still_refuses_producers", refusal == "TopicTerminated", refusal)
    consumer = c.subscribe(TOPIC, "after-restart", initial_position=pulsar.InitialPosition.Earliest)
    got = drain(consumer, len(SENT))
    check("new_subscription_gets_everything", got == SENT, got)
    end = after_the_end(consumer)
    check("then_nothing", end == "Timeout", end)
    status, last = http("GET", BASE + NAME + "/lastMessageId")
    status2, body = http("POST", BASE + NAME + "/terminate")
    check("terminate_again_same_id", status == 200 and status2 == 200 and body == last, [last, body])
    status, internal = http("GET", BASE + NAME + "/internalStats")
    check("internal_stats_terminated", internal.get("state") == "Terminated", internal.get("state"))
    c.close()
    check.report()


if mode == "all":
    run_all()
else:
    run_check()
