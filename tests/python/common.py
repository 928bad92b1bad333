"""Helpers shared by the end-to-end scripts that drive Magnetar with the
official Python pulsar-client. Every script prints one JSON object on stdout
and exits non-zero when an expectation fails."""

import json
import os
import sys
import time
import urllib.error
import urllib.request

import pulsar


def client(url, operation_timeout_seconds=20, connection_timeout_ms=5000):
    """A client whose library logs go to stderr, so that stdout carries only
    the script's JSON result (a log line could otherwise land inside it)."""
    return pulsar.Client(url, operation_timeout_seconds=operation_timeout_seconds,
                         connection_timeout_ms=connection_timeout_ms,
                         logger=pulsar.FileLogger(pulsar.LoggerLevel.Info, "/dev/stderr"))


def drain(consumer, expected, idle_ms=5000, ack=True, view=lambda msg: msg.data().decode()):
    """Receives until `expected` messages arrived or nothing came for idle_ms.
    Returns `view` of each message (its payload), in arrival order."""
    got = []
    while len(got) < expected:
        try:
            msg = consumer.receive(timeout_millis=idle_ms)
        except pulsar.Timeout:
            break
        got.append(view(msg))
        if ack:
            consumer.acknowledge(msg)
    return got


def report(result, ok):
    """Prints the result line and exits at once. os._exit skips the
    interpreter's teardown, where the C++ client's background threads may
    abort the process ("terminate called without an active exception") when
    a client was not closed."""
    result["ok"] = ok
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0 if ok else 1)


def admin_request(admin_url, method, path, body=None, headers=None, context=None):
    """One admin API request: (status, parsed JSON body or text). A body
    that is not a str is sent as JSON; `headers` are added (credentials),
    and `context` is the ssl context of an https URL."""
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(admin_url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, context=context) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def until(predicate, timeout=20.0, interval=0.25):
    """Polls `predicate`, which returns (done, detail), until it is done or
    `timeout` seconds passed; returns its last (done, detail)."""
    deadline = time.time() + timeout
    while True:
        done, detail = predicate()
        if done or time.time() > deadline:
            return done, detail
        time.sleep(interval)


class Namespace:
    """A namespace a script works in: admin requests, and its topics' full
    names and stats."""

    def __init__(self, admin_url, name):
        self.admin_url = admin_url
        self.name = name
        self.policies = "/admin/v2/namespaces/" + name + "/"

    def http(self, method, path, body=None):
        return admin_request(self.admin_url, method, path, body)

    def create(self):
        """Creates the namespace; returns the status (204 when created)."""
        return self.http("PUT", "/admin/v2/namespaces/" + self.name)[0]

    def topic(self, short):
        return "persistent://" + self.name + "/" + short

    def stats(self, short):
        return self.http("GET", "/admin/v2/persistent/" + self.name + "/" + short + "/stats")[1]

    def topics(self):
        return self.http("GET", "/admin/v2/persistent/" + self.name)[1] or []


class Checks:
    """Named checks: each records its detail, and a failed one its name."""

    def __init__(self):
        self.results = {}
        self.failures = []

    def __call__(self, name, ok, detail=None):
        self.results[name] = detail if detail is not None else ok
        if not ok:
            self.failures.append(name)

    def report(self):
        report({"checks": self.results, "failures": self.failures}, not self.failures)
