"""Namespace policies about use take effect, through the official Python
client against a `magnetar standalone` started with a short policy check
interval.

Checks: maxUnackedMessagesPerConsumer stops a Shared consumer at its limit
(stats say blocked) until it acknowledges; maxUnackedMessagesPerSubscription
does the same for the subscription; with an inactive-topic policy a topic
without clients and subscriptions is deleted, while a topic with a
producer, one with a subscription, and one held by retention are kept;
in caught-up mode a subscription with a backlog keeps its topic until it
has consumed everything; subscriptionExpirationTime is stored and removed;
bad values get a 4xx and change nothing.

usage: usage_policies.py URL ADMIN_URL"""

import sys
import time

import pulsar

from common import Checks, Namespace, client, until

url, admin = sys.argv[1], sys.argv[2]
check = Checks()
ns = Namespace(admin, "public/usage")
http, topic, stats, POL = ns.http, ns.topic, ns.stats, ns.policies
check("namespace", ns.create() == 204)


def listed(name):
    return topic(name) in ns.topics()


def receive_all(consumer, idle_ms=1500):
    got = []
    while True:
        try:
            got.append(consumer.receive(timeout_millis=idle_ms))
        except pulsar.Timeout:
            return got


c = client(url)

# --- unacknowledged limits -------------------------------------------------
status, _ = http("POST", POL + "maxUnackedMessagesPerConsumer", 5)
check("set_consumer_limit", status == 204 and http("GET", POL + "maxUnackedMessagesPerConsumer")[1] == 5, status)
consumer = c.subscribe(topic("unacked-consumer"), "s", consumer_type=pulsar.ConsumerType.Shared,
                       receiver_queue_size=100)
producer = c.create_producer(topic("unacked-consumer"), batching_enabled=False)
for i in range(20):
    producer.send(("m%d" % i).encode())
first = receive_all(consumer)
check("consumer_stops_at_limit", len(first) == 5, len(first))
blocked = stats("unacked-consumer")["subscriptions"]["s"]["consumers"][0]["blockedConsumerOnUnackedMsgs"]
check("consumer_stats_blocked", blocked is True, blocked)
for msg in first:
    consumer.acknowledge(msg)
second = receive_all(consumer)
check("consumer_resumes_after_acks", len(second) == 5, len(second))
status, _ = http("DELETE", POL + "maxUnackedMessagesPerConsumer")
check("remove_consumer_limit", status == 204 and http("GET", POL + "maxUnackedMessagesPerConsumer")[1] is None, status)
consumer.close()
producer.close()

status, _ = http("POST", POL + "maxUnackedMessagesPerSubscription", 7)
check("set_subscription_limit", status == 204, status)
consumer = c.subscribe(topic("unacked-subscription"), "s", consumer_type=pulsar.ConsumerType.Shared,
                       receiver_queue_size=100)
producer = c.create_producer(topic("unacked-subscription"), batching_enabled=False)
for i in range(20):
    producer.send(("m%d" % i).encode())
first = receive_all(consumer)
check("subscription_stops_at_limit", len(first) == 7, len(first))
blocked = stats("unacked-subscription")["subscriptions"]["s"]["blockedSubscriptionOnUnackedMsgs"]
check("subscription_stats_blocked", blocked is True, blocked)
for msg in first:
    consumer.acknowledge(msg)
second = receive_all(consumer)
check("subscription_resumes_after_acks", len(second) == 7, len(second))
http("DELETE", POL + "maxUnackedMessagesPerSubscription")
consumer.close()
producer.close()

# --- subscription expiration: stored and removed (minutes; its effect is
# tested in-process with a stored cursor two minutes old) ------------------
status, _ = http("POST", POL + "subscriptionExpirationTime", 30)
check("set_expiration", status == 204 and http("GET", POL + "subscriptionExpirationTime")[1] == 30, status)
status, _ = http("DELETE", POL + "subscriptionExpirationTime")
check("remove_expiration", status == 204 and http("GET", POL + "subscriptionExpirationTime")[1] is None, status)

# --- inactive topics -----------------------------------------------------
check("inactive_default_unset", http("GET", POL + "inactiveTopicPolicies")[1] is None)
policy = {"inactiveTopicDeleteMode": "delete_when_no_subscriptions",
          "maxInactiveDurationSeconds": 2, "deleteWhileInactive": True}
status, _ = http("POST", POL + "inactiveTopicPolicies", policy)
check("set_inactive", status == 204 and http("GET", POL + "inactiveTopicPolicies")[1] == policy, status)

idle = c.create_producer(topic("idle"))
idle.send(b"nobody reads this")
idle.close()
busy = c.create_producer(topic("busy"))
busy.send(b"kept")
subscribed = c.subscribe(topic("subscribed"), "s")
filler = c.create_producer(topic("subscribed"))
filler.send(b"backlog")
filler.close()
subscribed.close()
idle_gone, _ = until(lambda: (not listed("idle"), None), timeout=15)
check("idle_topic_deleted", idle_gone)
time.sleep(3)
check("busy_topic_kept", listed("busy"))
check("subscribed_topic_kept", listed("subscribed"))

status, _ = http("POST", POL + "retention", {"retentionTimeInMinutes": 10, "retentionSizeInMB": 10})
check("set_retention", status == 204, status)
retained = c.create_producer(topic("retained"))
retained.send(b"kept by retention")
retained.close()
time.sleep(4)
check("retained_topic_kept", listed("retained"))
http("DELETE", POL + "retention")
retained_gone, _ = until(lambda: (not listed("retained"), None), timeout=15)
check("retention_removed_topic_deleted", retained_gone)
busy.send(b"still writable")
check("busy_topic_still_kept", listed("busy"))
busy.close()

caught_up = dict(policy, inactiveTopicDeleteMode="delete_when_subscriptions_caught_up")
http("POST", POL + "inactiveTopicPolicies", caught_up)
time.sleep(4)
check("backlog_keeps_topic", listed("subscribed"))
reader = c.subscribe(topic("subscribed"), "s")
msg = reader.receive(timeout_millis=10000)
reader.acknowledge(msg)
reader.close()
consumed_gone, _ = until(lambda: (not listed("subscribed"), None), timeout=15)
check("caught_up_topic_deleted", consumed_gone)

# --- bad input: 4xx with a reason, nothing changed ---------------------------
before = http("GET", "/admin/v2/namespaces/" + ns.name)[1]
for name, path, body in [
    ("inactive_zero_duration", "inactiveTopicPolicies",
     {"inactiveTopicDeleteMode": "delete_when_no_subscriptions", "maxInactiveDurationSeconds": 0,
      "deleteWhileInactive": True}),
    ("inactive_unknown_mode", "inactiveTopicPolicies",
     {"inactiveTopicDeleteMode": "sometimes", "maxInactiveDurationSeconds": 5, "deleteWhileInactive": True}),
    ("inactive_not_json", "inactiveTopicPolicies", "{oops"),
    ("expiration_negative", "subscriptionExpirationTime", -1),
    ("unacked_text", "maxUnackedMessagesPerConsumer", "\"many\""),
    ("unacked_negative", "maxUnackedMessagesPerSubscription", -3),
]:
    status, reply = http("POST", POL + path, body)
    check(name, status == 400 and isinstance(reply, dict) and reply.get("reason"), (status, reply))
after = http("GET", "/admin/v2/namespaces/" + ns.name)[1]
check("bad_input_changed_nothing", before == after, (before, after))
c.close()
check.report()
