"""Topic stats, the pulsar_* metrics and subscription operations of the
admin API, through the official Python client against `magnetar standalone`.

`all` mode: stats counters and rates move with traffic (publishers,
subscriptions, consumers); /metrics parses with prometheus_client and its
pulsar_* series match the stats; a subscription created over REST at the
earliest position; skip N, skip all, reset to a message id and to a time,
expire by age, each seen by the backlog and by what a consumer receives next;
lastMessageId, internalStats, unload, a namespace's clearBacklog; delete
refused while a consumer is attached unless forced; bad requests get a 4xx
with a reason and change nothing.

`namespace-metrics` mode (a broker started with
--expose-topic-level-metrics-in-prometheus false): the pulsar_* series carry
no topic label and sum the namespace's topics.

usage: admin_operations.py all|namespace-metrics URL ADMIN_URL"""

import sys
import threading
import time
import urllib.error
import urllib.request

import pulsar
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from common import Checks, admin_request, client, drain, until

mode, url, admin = sys.argv[1], sys.argv[2], sys.argv[3]
check = Checks()


def http(method, path, body=None):
    return admin_request(admin, method, path, body)


def scrape():
    """{(sample name, frozenset of labels): value} of /metrics."""
    with urllib.request.urlopen(admin + "/metrics") as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def series(samples, name, **labels):
    """Values of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [v for (n, ls), v in samples.items() if n == name and wanted <= set(ls)]


NS = "public/ops"
TOPIC_PATH = "/admin/v2/persistent/" + NS + "/orders"
TOPIC = "persistent://" + NS + "/orders"


def namespace_metrics():
    http("PUT", "/admin/v2/namespaces/" + NS)
    c = client(url)
    for name in ("a", "b"):
        producer = c.create_producer("persistent://" + NS + "/" + name, batching_enabled=False)
        for i in range(5):
            producer.send(b"x")
    samples = scrape()
    totals = series(samples, "pulsar_in_messages_total", namespace=NS)
    check("one_series_per_namespace", totals == [10.0], totals)
    labelled = [ls for (n, ls) in samples if n.startswith("pulsar_") and any(k == "topic" for k, _ in ls)]
    check("no_topic_labels", not labelled, [sorted(ls) for ls in labelled[:3]])
    check("topics_count", series(samples, "pulsar_topics_count", namespace=NS) == [2.0],
          series(samples, "pulsar_topics_count", namespace=NS))
    check("no_subscription_series", not series(samples, "pulsar_subscription_back_log"))
    c.close()
    check.report()


if mode == "namespace-metrics":
    namespace_metrics()

status, _ = http("PUT", "/admin/v2/namespaces/" + NS)
check("namespace", status in (204, 409), status)
status, _ = http("PUT", TOPIC_PATH)
check("create_topic", status == 204, status)

# --- a subscription created over REST, before any message ---------------
status, body = http("PUT", TOPIC_PATH + "/subscription/ops", {"ledgerId": -1, "entryId": -1})
check("create_subscription", status == 204, (status, body))
status, body = http("PUT", TOPIC_PATH + "/subscription/ops")
check("create_subscription_twice_409", status == 409 and "reason" in body, (status, body))
status, body = http("GET", TOPIC_PATH + "/subscriptions")
check("list_subscriptions", status == 200 and body == ["ops"], body)

c = client(url)
producer = c.create_producer(TOPIC, producer_name="ops-producer", batching_enabled=False)
ids = [producer.send(("m-%d" % i).encode()) for i in range(20)]
time.sleep(3.0)
middle = int(time.time() * 1000)
ids += [producer.send(("m-%d" % i).encode()) for i in range(20, 30)]
N = len(ids)


def stats():
    return http("GET", TOPIC_PATH + "/stats")[1]


s = stats()
check("msg_in_counter", s["msgInCounter"] == N, s["msgInCounter"])
check("bytes_in_counter", s["bytesInCounter"] > 0, s["bytesInCounter"])
publishers = s["publishers"]
check("publisher", len(publishers) == 1 and publishers[0]["producerName"] == "ops-producer"
      and publishers[0]["msgInCounter"] == N, publishers)
check("backlog_of_ops", s["subscriptions"]["ops"]["msgBacklog"] == N, s["subscriptions"])

# --- metrics match the stats ---------------------------------------------
samples = scrape()
labels = {"cluster": "standalone", "namespace": NS, "topic": TOPIC}
check("metric_in_messages", series(samples, "pulsar_in_messages_total", **labels) == [N],
      series(samples, "pulsar_in_messages_total", **labels))
check("metric_backlog", series(samples, "pulsar_msg_backlog", **labels) == [N],
      series(samples, "pulsar_msg_backlog", **labels))
check("metric_subscription_backlog",
      series(samples, "pulsar_subscription_back_log", subscription="ops", **labels) == [N],
      series(samples, "pulsar_subscription_back_log", subscription="ops", **labels))
check("metric_producers", series(samples, "pulsar_producers_count", **labels) == [1])
check("metric_storage_size", all(v > 0 for v in series(samples, "pulsar_storage_size", **labels)))
latency = series(samples, "pulsar_storage_write_latency_seconds_count", cluster="standalone", namespace=NS)
check("metric_write_latency", latency == [N], latency)
check("process_rss", (series(samples, "process_resident_memory_bytes") or [0])[0] > 1e6)
metadata_gets = series(samples, "pulsar_metadata_store_ops_latency_ms_count", type="get", status="success")
check("metadata_store_ops", bool(metadata_gets) and metadata_gets[0] > 0, metadata_gets)
check("metadata_store_put_bytes", (series(samples, "pulsar_metadata_store_put_bytes_total") or [0])[0] > 0)

# --- rates move with traffic, per producer and per consumer -------------
live = c.subscribe(TOPIC, "live", consumer_name="live-consumer", initial_position=pulsar.InitialPosition.Earliest)
stop = threading.Event()


def keep_producing():
    while not stop.is_set():
        producer.send(b"rate")
        time.sleep(0.01)


def keep_consuming():
    while not stop.is_set():
        try:
            live.acknowledge(live.receive(timeout_millis=200))
        except pulsar.Timeout:
            pass


threads = [threading.Thread(target=keep_producing), threading.Thread(target=keep_consuming)]
for t in threads:
    t.start()


def rates_up():
    s = stats()
    sub = s["subscriptions"].get("live", {})
    consumers = sub.get("consumers", [])
    done = (s["msgRateIn"] > 0 and s["msgRateOut"] > 0 and s["publishers"][0]["msgRateIn"] > 0
            and len(consumers) == 1 and consumers[0]["msgRateOut"] > 0)
    return done, {"in": s["msgRateIn"], "out": s["msgRateOut"], "consumers": consumers}


ok, detail = until(rates_up, 20)
check("rates_move", ok, detail)
before = series(scrape(), "pulsar_in_messages_total", **labels)
time.sleep(1)
after = series(scrape(), "pulsar_in_messages_total", **labels)
check("metric_counter_moves", before and after and after[0] > before[0], (before, after))
rate = series(scrape(), "pulsar_rate_in", **labels)
check("metric_rate_in", rate and rate[0] > 0, rate)
stop.set()
for t in threads:
    t.join()
live.close()
total = stats()["msgInCounter"]


def backlog(sub="ops"):
    return stats()["subscriptions"][sub]["msgBacklog"]


# --- skip, skip all, reset, expire ---------------------------------------
status, _ = http("POST", TOPIC_PATH + "/subscription/ops/skip/2")
check("skip_2", status == 204 and backlog() == total - 2, (status, backlog()))
status, _ = http("POST", TOPIC_PATH + "/subscription/ops/skip_all")
check("skip_all", status == 204 and backlog() == 0, (status, backlog()))
tenth = ids[10]
status, body = http("POST", TOPIC_PATH + "/subscription/ops/resetcursor",
                    {"ledgerId": tenth.ledger_id(), "entryId": tenth.entry_id(), "partitionIndex": -1})
check("reset_to_message_id", status == 204 and backlog() == total - 10, (status, body, backlog()))
ops = c.subscribe(TOPIC, "ops")
first = drain(ops, 1, ack=False)
check("consumer_after_reset_gets_m10", first == ["m-10"], first)
ops.close()
status, _ = http("POST", TOPIC_PATH + "/subscription/ops/resetcursor/%d" % middle)
check("reset_to_time", status == 204 and backlog() == total - 20, (status, backlog()))
status, _ = http("POST", TOPIC_PATH + "/subscription/ops/resetcursor", {"ledgerId": -1, "entryId": -1})
check("reset_to_earliest", status == 204 and backlog() == total, (status, backlog()))
# The first 20 are at least 3 s old, the rest younger than that.
age = max(1, int((time.time() * 1000 - middle) / 1000) + 1)
status, _ = http("POST", TOPIC_PATH + "/subscription/ops/expireMessages/%d" % age)
check("expire_by_age", status == 204 and backlog() == total - 20, (status, age, backlog()))

# --- peek and examine -------------------------------------------------------


def read_message(path):
    """(status, headers, payload text) of a peek or examine request; the
    headers look names up regardless of case."""
    try:
        with urllib.request.urlopen(admin + path) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


status, headers, payload = read_message(TOPIC_PATH + "/subscription/ops/position/1")
check("peek_first", status == 200 and payload == "m-20"
      and headers.get("X-Pulsar-Message-ID") == "%d:%d" % (ids[20].ledger_id(), ids[20].entry_id())
      and headers.get("X-Pulsar-producer-name") == "ops-producer", (status, dict(headers), payload))
status, _, payload = read_message(TOPIC_PATH + "/subscription/ops/position/3")
check("peek_third", status == 200 and payload == "m-22", (status, payload))
check("peek_zero_400", read_message(TOPIC_PATH + "/subscription/ops/position/0")[0] == 400)
check("peek_past_end_404", read_message(TOPIC_PATH + "/subscription/ops/position/100000")[0] == 404)
status, _, payload = read_message(TOPIC_PATH + "/examinemessage?initialPosition=earliest&messagePosition=1")
check("examine_earliest", status == 200 and payload == "m-0", (status, payload))
check("examine_bad_position_400",
      read_message(TOPIC_PATH + "/examinemessage?initialPosition=middle&messagePosition=1")[0] == 400)

# --- last message id, internal stats, unload -----------------------------
last = producer.send(b"last", properties={"origin": "ops"}, partition_key="pk-1")
status, body = http("GET", TOPIC_PATH + "/lastMessageId")
check("last_message_id", status == 200 and body["ledgerId"] == last.ledger_id()
      and body["entryId"] == last.entry_id(), body)
status, headers, payload = read_message(TOPIC_PATH + "/examinemessage?initialPosition=latest&messagePosition=1")
check("examine_latest", status == 200 and payload == "last"
      and headers.get("X-Pulsar-PROPERTY-origin") == "ops"
      and headers.get("X-Pulsar-partition-key") == "pk-1"
      and "X-Pulsar-publish-time" in headers, (status, dict(headers), payload))
status, body = http("GET", TOPIC_PATH + "/internalStats")
check("internal_stats", status == 200 and body["numberOfEntries"] == total + 1
      and "ops" in body["cursors"] and body["ledgers"], body if status != 200 else body["numberOfEntries"])
status, _ = http("PUT", TOPIC_PATH + "/unload")
check("unload", status == 204, status)
producer.send(b"after-unload")
check("producer_survives_unload", stats()["publishers"] != [], stats()["publishers"])

# --- namespace clearBacklog -------------------------------------------------
status, _ = http("POST", "/admin/v2/namespaces/" + NS + "/clearBacklog")
check("clear_namespace_backlog", status == 204 and backlog() == 0 and backlog("live") == 0,
      (status, backlog(), backlog("live")))

# --- delete: refused while attached, unless forced ---------------------------
attached = c.subscribe(TOPIC, "ops")
status, body = http("DELETE", TOPIC_PATH + "/subscription/ops")
check("delete_attached_412", status == 412 and "reason" in body, (status, body))
status, _ = http("DELETE", TOPIC_PATH + "/subscription/ops?force=true")
check("delete_forced", status == 204, status)
status, body = http("GET", TOPIC_PATH + "/subscriptions")
check("deleted_gone", "ops" not in body, body)
status, _ = http("DELETE", TOPIC_PATH + "/subscription/ops")
check("delete_missing_404", status == 404, status)

# --- bad input: 4xx with a reason, nothing changed ---------------------------
before = stats()
for name, method, path, body, expected in [
    ("bad_count", "POST", TOPIC_PATH + "/subscription/live/skip/abc", None, 400),
    ("negative_count", "POST", TOPIC_PATH + "/subscription/live/skip/-3", None, 400),
    ("bad_message_id", "POST", TOPIC_PATH + "/subscription/live/resetcursor", "garbage", 400),
    ("bad_timestamp", "POST", TOPIC_PATH + "/subscription/live/resetcursor/yesterday", None, 400),
    ("reserved_name", "PUT", TOPIC_PATH + "/subscription/pulsar.dedup", None, 400),
    ("reserved_name_skip", "POST", TOPIC_PATH + "/subscription/pulsar.dedup/skip_all", None, 400),
    ("missing_subscription", "POST", TOPIC_PATH + "/subscription/nope/skip_all", None, 404),
    ("missing_topic", "GET", "/admin/v2/persistent/" + NS + "/nope/internalStats", None, 404),
    ("missing_namespace", "POST", "/admin/v2/namespaces/public/nope/clearBacklog", None, 404),
]:
    status, reply = http(method, path, body)
    check(name, status == expected and isinstance(reply, dict) and reply.get("reason"), (status, reply))
after = stats()
check("bad_input_changed_nothing",
      before["subscriptions"]["live"]["msgBacklog"] == after["subscriptions"]["live"]["msgBacklog"]
      and sorted(before["subscriptions"]) == sorted(after["subscriptions"]),
      sorted(after["subscriptions"]))
# --- clusters, tenants and namespaces: create, update, delete ------------------
east = {"serviceUrl": "http://east:8080", "brokerServiceUrl": "pulsar://east:6650"}
check("cluster_create", http("PUT", "/admin/v2/clusters/east", east)[0] == 204)
check("cluster_create_twice_409", http("PUT", "/admin/v2/clusters/east", east)[0] == 409)
east["serviceUrl"] = "http://east-2:8080"
check("cluster_update", http("POST", "/admin/v2/clusters/east", east)[0] == 204
      and http("GET", "/admin/v2/clusters/east")[1]["serviceUrl"] == "http://east-2:8080")
status, body = http("PUT", "/admin/v2/tenants/crud", {"adminRoles": ["ops"], "allowedClusters": ["standalone", "east"]})
check("tenant_create", status == 204, (status, body))
status, body = http("PUT", "/admin/v2/tenants/crud-bad", {"allowedClusters": ["nowhere"]})
check("tenant_unknown_cluster_404", status == 404 and http("GET", "/admin/v2/tenants/crud-bad")[0] == 404, (status, body))
status, body = http("DELETE", "/admin/v2/clusters/east")
check("cluster_in_use_412", status == 412 and "crud" in body["reason"], (status, body))
status, _ = http("POST", "/admin/v2/tenants/crud", {"adminRoles": ["ops", "dev"], "allowedClusters": ["standalone"]})
check("tenant_update", status == 204 and http("GET", "/admin/v2/tenants/crud")[1]["adminRoles"] == ["ops", "dev"], status)
check("cluster_delete", http("DELETE", "/admin/v2/clusters/east")[0] == 204
      and http("GET", "/admin/v2/clusters")[1] == ["standalone"])
check("own_cluster_delete_412", http("DELETE", "/admin/v2/clusters/standalone")[0] == 412)
check("namespace_create", http("PUT", "/admin/v2/namespaces/crud/ns1")[0] == 204)
check("tenant_with_namespaces_409", http("DELETE", "/admin/v2/tenants/crud")[0] == 409)
attached = c.create_producer("persistent://crud/ns1/t1")
attached.send(b"x")
status, body = http("DELETE", "/admin/v2/persistent/crud/ns1/t1")
check("topic_delete_attached_412", status == 412 and "reason" in body, (status, body))
check("namespace_with_topics_409", http("DELETE", "/admin/v2/namespaces/crud/ns1")[0] == 409)
check("partitioned_in_namespace", http("PUT", "/admin/v2/persistent/crud/ns1/parts/partitions", 2)[0] == 204)
status, body = http("DELETE", "/admin/v2/namespaces/crud/ns1?force=true")
check("namespace_delete_forced", status == 204, (status, body))
check("namespace_gone", http("GET", "/admin/v2/namespaces/crud")[1] == []
      and http("GET", "/admin/v2/persistent/crud/ns1/parts/partitions")[0] == 404)
check("tenant_delete", http("DELETE", "/admin/v2/tenants/crud")[0] == 204
      and http("GET", "/admin/v2/tenants/crud")[0] == 404)
c.close()
check.report()
