"""Namespace policies that limit topics take effect, through the official
Python client against a `magnetar standalone` started with a short policy
check interval and ledgers of 10 entries.

Checks: maxProducersPerTopic and maxConsumersPerTopic refuse the one too
many (and removing them lets it in); message TTL empties a backlog;
retention keeps consumed ledgers that a reader from the earliest position
still reads, and removing it trims them; a destination_storage quota with
producer_exception disconnects the producer and refuses new ones; with
consumer_backlog_eviction the backlog is cut to the quota; a message_age
quota with eviction empties an old backlog; bad and contradicting policies
get a 4xx with a reason and change nothing.

usage: namespace_policies.py URL ADMIN_URL"""

import sys
import time

import pulsar

from common import Checks, admin_request, client, drain, until

url, admin = sys.argv[1], sys.argv[2]
check = Checks()


def http(method, path, body=None):
    return admin_request(admin, method, path, body)


NS = "public/limits"
POL = "/admin/v2/namespaces/" + NS + "/"
status, _ = http("PUT", "/admin/v2/namespaces/" + NS)
check("namespace", status == 204, status)


def topic(name):
    return "persistent://" + NS + "/" + name


def stats(name):
    return http("GET", "/admin/v2/persistent/" + NS + "/" + name + "/stats")[1]


def internal(name):
    return http("GET", "/admin/v2/persistent/" + NS + "/" + name + "/internalStats")[1]


c = client(url)

# --- caps on producers and consumers -------------------------------------
status, _ = http("POST", POL + "maxProducersPerTopic", 1)
check("set_max_producers", status == 204, status)
check("get_max_producers", http("GET", POL + "maxProducersPerTopic")[1] == 1)
first = c.create_producer(topic("capped"))
try:
    c.create_producer(topic("capped"))
    check("second_producer_refused", False, "created")
except pulsar.ProducerBusy:
    check("second_producer_refused", True)
http("DELETE", POL + "maxProducersPerTopic")
second = c.create_producer(topic("capped"))
check("second_producer_after_remove", True)
second.close()
first.close()

http("POST", POL + "maxConsumersPerTopic", 1)
one = c.subscribe(topic("capped"), "s1", consumer_type=pulsar.ConsumerType.Shared)
try:
    c.subscribe(topic("capped"), "s2", consumer_type=pulsar.ConsumerType.Shared)
    check("second_consumer_refused", False, "subscribed")
except pulsar.ConsumerBusy:
    check("second_consumer_refused", True)
http("DELETE", POL + "maxConsumersPerTopic")
two = c.subscribe(topic("capped"), "s2", consumer_type=pulsar.ConsumerType.Shared)
two.close()
one.close()

# --- message TTL ------------------------------------------------------------
sub = c.subscribe(topic("ttl"), "slow")
sub.close()
producer = c.create_producer(topic("ttl"), batching_enabled=False)
for i in range(5):
    producer.send(b"old")
check("ttl_backlog_before", stats("ttl")["subscriptions"]["slow"]["msgBacklog"] == 5)
status, _ = http("POST", POL + "messageTTL", 2)
check("set_ttl", status == 204 and http("GET", POL + "messageTTL")[1] == 2, status)
ok, detail = until(lambda: (stats("ttl")["subscriptions"]["slow"]["msgBacklog"] == 0,
                            stats("ttl")["subscriptions"]["slow"]["msgBacklog"]))
check("ttl_expires_backlog", ok, detail)
http("DELETE", POL + "messageTTL")
producer.send(b"new")
time.sleep(3)
check("no_ttl_after_remove", stats("ttl")["subscriptions"]["slow"]["msgBacklog"] == 1,
      stats("ttl")["subscriptions"]["slow"]["msgBacklog"])
producer.close()

# --- retention ----------------------------------------------------------------
status, _ = http("POST", POL + "retention", {"retentionTimeInMinutes": -1, "retentionSizeInMB": -1})
check("set_retention", status == 204, status)
check("get_retention", http("GET", POL + "retention")[1]
      == {"retentionTimeInMinutes": -1, "retentionSizeInMB": -1})
consumer = c.subscribe(topic("kept"), "reader-of-all")
producer = c.create_producer(topic("kept"), batching_enabled=False)
for i in range(35):
    producer.send(("k-%d" % i).encode())
got = drain(consumer, 35)
check("consumed_all", len(got) == 35, len(got))
time.sleep(3)
ledgers = len(internal("kept")["ledgers"])
check("retention_keeps_consumed_ledgers", ledgers >= 4, ledgers)
reader = c.create_reader(topic("kept"), pulsar.MessageId.earliest)
seen = []
while reader.has_message_available() and len(seen) < 100:
    seen.append(reader.read_next(timeout_millis=5000).data().decode())
check("reader_reads_retained", seen[:3] == ["k-0", "k-1", "k-2"] and len(seen) == 35, seen[:3])
reader.close()
http("DELETE", POL + "retention")
ok, detail = until(lambda: (len(internal("kept")["ledgers"]) == 1, len(internal("kept")["ledgers"])))
check("trimmed_after_retention_removed", ok, detail)
producer.close()
consumer.close()

# --- backlog quota: producer_exception ------------------------------------------
sub = c.subscribe(topic("quota"), "slow")
sub.close()
producer = c.create_producer(topic("quota"), batching_enabled=False, send_timeout_millis=3000)
for i in range(20):
    producer.send(b"x" * 1000)
status, body = http("POST", POL + "backlogQuota?backlogQuotaType=destination_storage",
                    {"limitSize": 4096, "policy": "producer_exception"})
check("set_quota", status == 204, (status, body))
check("get_quota_map", http("GET", POL + "backlogQuotaMap")[1]
      == {"destination_storage": {"limitSize": 4096, "limitTime": -1, "policy": "producer_exception"}},
      http("GET", POL + "backlogQuotaMap")[1])
ok, detail = until(lambda: (stats("quota")["publishers"] == [], stats("quota")["publishers"]))
check("quota_disconnects_producer", ok, detail)
try:
    c.create_producer(topic("quota"))
    check("quota_refuses_producer", False, "created")
except pulsar.ProducerBlockedQuotaExceededException:
    check("quota_refuses_producer", True)
producer.close()

# --- backlog quota: consumer_backlog_eviction --------------------------------------
status, _ = http("POST", POL + "backlogQuota?backlogQuotaType=destination_storage",
                 {"limitSize": 4096, "policy": "consumer_backlog_eviction"})
check("set_eviction", status == 204, status)
ok, detail = until(lambda: (0 < stats("quota")["subscriptions"]["slow"]["msgBacklog"] <= 5,
                            stats("quota")["subscriptions"]["slow"]["msgBacklog"]))
check("eviction_cuts_backlog", ok, detail)
producer = c.create_producer(topic("quota"), batching_enabled=False)
producer.send(b"allowed again")
check("producer_allowed_under_eviction", True)
producer.close()
http("DELETE", POL + "backlogQuota?backlogQuotaType=destination_storage")

# --- backlog quota: message_age with eviction ---------------------------------------
sub = c.subscribe(topic("aged"), "slow")
sub.close()
producer = c.create_producer(topic("aged"), batching_enabled=False)
for i in range(5):
    producer.send(b"aging")
status, _ = http("POST", POL + "backlogQuota?backlogQuotaType=message_age",
                 {"limitTime": 2, "policy": "consumer_backlog_eviction"})
check("set_age_quota", status == 204, status)
ok, detail = until(lambda: (stats("aged")["subscriptions"]["slow"]["msgBacklog"] == 0,
                            stats("aged")["subscriptions"]["slow"]["msgBacklog"]))
check("age_quota_evicts", ok, detail)
http("DELETE", POL + "backlogQuota?backlogQuotaType=message_age")
producer.close()

# --- bad and contradicting input: 4xx with a reason, nothing changed -------------------
http("POST", POL + "retention", {"retentionTimeInMinutes": 10, "retentionSizeInMB": 1})
before = http("GET", "/admin/v2/namespaces/" + NS)[1]
for name, method, path, body, expected in [
    ("retention_negative", "POST", POL + "retention", {"retentionTimeInMinutes": -5, "retentionSizeInMB": 1}, 400),
    ("retention_half_zero", "POST", POL + "retention", {"retentionTimeInMinutes": 0, "retentionSizeInMB": 10}, 400),
    ("retention_not_json", "POST", POL + "retention", "{not json", 400),
    ("retention_unknown_type", "POST", POL + "retention", {"retentionTimeInMinutes": "x", "retentionSizeInMB": 1}, 400),
    ("ttl_negative", "POST", POL + "messageTTL", -1, 400),
    ("ttl_text", "POST", POL + "messageTTL", "\"soon\"", 400),
    ("quota_bad_type", "POST", POL + "backlogQuota?backlogQuotaType=bogus", {"limitSize": 1, "policy": "producer_exception"}, 400),
    ("quota_bad_policy", "POST", POL + "backlogQuota", {"limitSize": 1, "policy": "drop_everything"}, 400),
    ("quota_over_retention", "POST", POL + "backlogQuota", {"limitSize": 2 * 1024 * 1024, "policy": "producer_exception"}, 412),
    ("age_quota_without_time", "POST", POL + "backlogQuota?backlogQuotaType=message_age", {"policy": "producer_exception"}, 400),
    ("max_producers_negative", "POST", POL + "maxProducersPerTopic", -1, 400),
    ("replication_unknown_cluster", "POST", POL + "replication", ["nowhere"], 404),
    ("replication_empty", "POST", POL + "replication", [], 400),
    ("missing_namespace", "POST", "/admin/v2/namespaces/public/absent/messageTTL", 5, 404),
]:
    status, reply = http(method, path, body)
    check(name, status == expected and isinstance(reply, dict) and reply.get("reason"), (status, reply))
after = http("GET", "/admin/v2/namespaces/" + NS)[1]
check("bad_input_changed_nothing", before == after, (before, after))
status, _ = http("POST", POL + "replication", ["standalone"])
check("replication_set", status == 204 and http("GET", POL + "replication")[1] == ["standalone"], status)
c.close()
check.report()
