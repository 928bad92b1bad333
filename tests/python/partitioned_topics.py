"""Partitioned topics through the official client and the admin API.

Creates a partitioned topic over REST, refuses bad counts and names without
changing anything, produces with the client's three routing modes (round
robin, single partition, a custom router), consumes with every subscription
type over the partitions, grows the topic, sums partitioned-stats, follows a
namespace's auto-creation override, fails at once on a namespace that does
not exist, and deletes the topic (refused while a producer is attached,
unless forced).

usage: partitioned_topics.py URL ADMIN_URL"""

import json
import sys
import time

import pulsar

from common import Checks, admin_request, client, drain

url, admin = sys.argv[1], sys.argv[2]
check = Checks()


def http(method, path, body=None):
    return admin_request(admin, method, path, body)


BASE = "/admin/v2/persistent/public/default/"
TOPIC = "persistent://public/default/pt-orders"
N = 200

# --- admin: create, read, bad input -----------------------------------------
status, _ = http("PUT", BASE + "pt-orders/partitions", "4")
check("create", status == 204, status)
status, body = http("GET", BASE + "pt-orders/partitions")
check("get", status == 200 and body == {"partitions": 4}, body)
status, _ = http("PUT", BASE + "pt-orders/partitions", "4")
check("create_twice_409", status == 409, status)
for name, path, method, body in [
    ("zero", "pt-zero/partitions", "PUT", "0"),
    ("negative", "pt-neg/partitions", "PUT", "-3"),
    ("not_a_number", "pt-nan/partitions", "PUT", "\"four\""),
    ("too_many", "pt-huge/partitions", "PUT", "1000000"),
    ("partition_name", "pt-x-partition-1/partitions", "PUT", "2"),
    ("lower", "pt-orders/partitions", "POST", "2"),
    ("same", "pt-orders/partitions", "POST", "4"),
]:
    status, answer = http(method, BASE + path, body)
    has_reason = isinstance(answer, dict) and bool(answer.get("reason"))
    check("bad_" + name, status == 400 and has_reason, [status, answer])
for name in ["pt-zero", "pt-neg", "pt-nan", "pt-huge"]:
    status, _ = http("GET", BASE + name + "/partitions")
    check("bad_left_nothing_" + name, status == 404, status)
status, body = http("GET", BASE + "pt-orders/partitions")
check("count_unchanged", body == {"partitions": 4}, body)
status, _ = http("PUT", BASE + "pt-plain")
status2, _ = http("PUT", BASE + "pt-plain/partitions", "2")
check("partitioned_over_plain_409", status == 204 and status2 == 409, [status, status2])
status, _ = http("PUT", BASE + "pt-orders")
check("plain_over_partitioned_409", status == 409, status)
status, listed = http("GET", BASE.rstrip("/"))
check("partitions_listed", all("%s-partition-%d" % (TOPIC, i) in listed for i in range(4)), listed)
status, listed = http("GET", BASE + "partitioned")
check("partitioned_listed", TOPIC in listed, listed)

c = client(url)
check("client_sees_partitions", c.get_topic_partitions(TOPIC) == ["%s-partition-%d" % (TOPIC, i) for i in range(4)],
      c.get_topic_partitions(TOPIC))

# --- routing modes --------------------------------------------------------------
subs = {}
for kind in [pulsar.ConsumerType.Exclusive, pulsar.ConsumerType.Shared, pulsar.ConsumerType.KeyShared]:
    subs[str(kind)] = c.subscribe(TOPIC, "sub-" + str(kind).split(".")[-1], consumer_type=kind,
                                  initial_position=pulsar.InitialPosition.Earliest)
failover = [c.subscribe(TOPIC, "sub-failover", consumer_type=pulsar.ConsumerType.Failover,
                        consumer_name="f%d" % i, initial_position=pulsar.InitialPosition.Earliest)
            for i in range(2)]

round_robin = c.create_producer(TOPIC, batching_enabled=False,
                                message_routing_mode=pulsar.PartitionsRoutingMode.RoundRobinDistribution)
for i in range(N):
    round_robin.send(("rr-%d" % i).encode(), partition_key="k%d" % (i % 10))
single = c.create_producer(TOPIC, batching_enabled=False,
                           message_routing_mode=pulsar.PartitionsRoutingMode.UseSinglePartition)
for i in range(N):
    single.send(("single-%d" % i).encode())
custom = c.create_producer(TOPIC, batching_enabled=False,
                           message_router=lambda msg, partitions: int(msg.partition_key()) % partitions)
for i in range(N):
    custom.send(("custom-%d" % i).encode(), partition_key=str(i))
TOTAL = 3 * N


def receive_all(consumer, expected):
    return drain(consumer, expected,
                 view=lambda msg: (msg.data().decode(), msg.topic_name(), msg.partition_key()))


exclusive = receive_all(subs[str(pulsar.ConsumerType.Exclusive)], TOTAL)
check("exclusive_all", len(exclusive) == TOTAL and len(set(m for m, _, _ in exclusive)) == TOTAL, len(exclusive))
partition_of = {m: t for m, t, _ in exclusive}
rr_partitions = {partition_of.get("rr-%d" % i) for i in range(N)}
check("round_robin_spreads", len(rr_partitions) == 4, sorted(p for p in rr_partitions if p))
single_partitions = {partition_of.get("single-%d" % i) for i in range(N)}
check("single_partition_one", len(single_partitions) == 1, sorted(p for p in single_partitions if p))
custom_ok = all(partition_of.get("custom-%d" % i) == "%s-partition-%d" % (TOPIC, i % 4) for i in range(N))
check("custom_router", custom_ok)

shared = receive_all(subs[str(pulsar.ConsumerType.Shared)], TOTAL)
check("shared_all", len(set(m for m, _, _ in shared)) == TOTAL, len(shared))
key_shared = receive_all(subs[str(pulsar.ConsumerType.KeyShared)], TOTAL)
check("key_shared_all", len(set(m for m, _, _ in key_shared)) == TOTAL, len(key_shared))

# Failover over partitions: every partition has one active consumer, so
# each partition's messages all go to one of the two.
seen_by = {}
count = 0
deadline = time.time() + 60
while count < TOTAL and time.time() < deadline:
    for index, consumer in enumerate(failover):
        try:
            msg = consumer.receive(timeout_millis=200)
        except pulsar.Timeout:
            continue
        seen_by.setdefault(msg.topic_name(), set()).add(index)
        consumer.acknowledge(msg)
        count += 1
check("failover_all", count == TOTAL, count)
check("failover_one_consumer_per_partition", all(len(v) == 1 for v in seen_by.values()) and len(seen_by) == 4,
      {k: sorted(v) for k, v in seen_by.items()})
check("failover_both_active", set().union(*seen_by.values()) == {0, 1} if seen_by else False,
      {k: sorted(v) for k, v in seen_by.items()})

# --- stats --------------------------------------------------------------------------
status, stats = http("GET", BASE + "pt-orders/partitioned-stats")
entries = stats.get("entries") if isinstance(stats, dict) else None
check("partitioned_stats", status == 200 and entries == TOTAL
      and len(stats.get("partitions", {})) == 4 and stats["metadata"] == {"partitions": 4},
      [status, entries])
backlog = stats.get("subscriptions", {}).get("sub-Exclusive", {}).get("msgBacklog") if isinstance(stats, dict) else None
check("partitioned_stats_backlog", backlog == 0, backlog)

# --- growing ------------------------------------------------------------------------
status, _ = http("POST", BASE + "pt-orders/partitions", "6")
status2, body = http("GET", BASE + "pt-orders/partitions")
check("grow", status == 204 and body == {"partitions": 6}, [status, body])
grown = c.create_producer(TOPIC, batching_enabled=False,
                          message_router=lambda msg, partitions: partitions - 1)
grown.send(b"on-the-new-partition")
fresh = c.subscribe(TOPIC + "-partition-5", "sub-grown", initial_position=pulsar.InitialPosition.Earliest)
msg = fresh.receive(timeout_millis=10000)
check("grown_partition_used", msg.data() == b"on-the-new-partition")

# --- auto-creation ----------------------------------------------------------------------
status, _ = http("PUT", "/admin/v2/namespaces/public/auto-pt")
check("namespace_created", status == 204, status)
status, answer = http("POST", "/admin/v2/namespaces/public/auto-pt/autoTopicCreation",
                      json.dumps({"allowAutoTopicCreation": True, "topicType": "partitioned"}))
check("override_without_count_400", status == 400, [status, answer])
status, _ = http("POST", "/admin/v2/namespaces/public/auto-pt/autoTopicCreation",
                 json.dumps({"allowAutoTopicCreation": True, "topicType": "partitioned", "defaultNumPartitions": 3}))
status2, body = http("GET", "/admin/v2/namespaces/public/auto-pt/autoTopicCreation")
check("override_set", status == 204 and body.get("defaultNumPartitions") == 3, [status, body])
auto = c.create_producer("persistent://public/auto-pt/auto-1")
auto.send(b"x")
status, body = http("GET", "/admin/v2/persistent/public/auto-pt/auto-1/partitions")
check("auto_partitioned", body == {"partitions": 3}, body)

http("POST", "/admin/v2/namespaces/public/auto-pt/autoTopicCreation",
     json.dumps({"allowAutoTopicCreation": False, "topicType": "non-partitioned"}))
started = time.time()
try:
    c.create_producer("persistent://public/auto-pt/never")
    check("auto_off_refused", False, "producer created")
except Exception as error:  # the client's TopicNotFound
    check("auto_off_refused", time.time() - started < 10, [str(error), round(time.time() - started, 2)])
status, _ = http("GET", "/admin/v2/persistent/public/auto-pt/never/partitions")
check("auto_off_created_nothing", status == 404, status)

status, _ = http("DELETE", "/admin/v2/namespaces/public/auto-pt/autoTopicCreation")
plain = c.create_producer("persistent://public/auto-pt/plain-1")
plain.send(b"y")
status, body = http("GET", "/admin/v2/persistent/public/auto-pt/plain-1/partitions")
check("default_non_partitioned", body == {"partitions": 0}, body)

# --- namespaces that do not exist -------------------------------------------------------
for name, topic in [("tenant", "persistent://no-such-tenant/ns/t"), ("namespace", "persistent://public/no-such-ns/t")]:
    started = time.time()
    try:
        c.create_producer(topic)
        check("missing_" + name, False, "producer created")
    except Exception as error:
        check("missing_" + name, time.time() - started < 5, [str(error), round(time.time() - started, 2)])
    started = time.time()
    try:
        c.subscribe(topic, "s")
        check("missing_%s_consumer" % name, False, "consumer created")
    except Exception as error:
        check("missing_%s_consumer" % name, time.time() - started < 5, [str(error), round(time.time() - started, 2)])

# --- non-persistent topics are refused, clearly and at once --------------------------------
started = time.time()
try:
    c.create_producer("non-persistent://public/default/np")
    check("non_persistent_refused", False, "producer created")
except Exception as error:
    check("non_persistent_refused", time.time() - started < 5, [type(error).__name__, round(time.time() - started, 2)])

# --- delete ---------------------------------------------------------------------------------
status, answer = http("DELETE", BASE + "pt-orders/partitions")
check("delete_busy_412", status == 412, [status, answer])
status, _ = http("GET", BASE + "pt-orders/partitions")
check("busy_delete_kept_topic", status == 200, status)
status, answer = http("DELETE", BASE + "pt-orders/partitions?force=true")
check("delete_forced", status == 204, [status, answer])
status, _ = http("GET", BASE + "pt-orders/partitions")
check("deleted", status == 404, status)
status, listed = http("GET", BASE.rstrip("/"))
check("partitions_gone", not any(t.startswith(TOPIC + "-partition-") for t in listed), listed)
status, _ = http("DELETE", BASE + "pt-orders/partitions")
check("delete_again_404", status == 404, status)

check.report()
