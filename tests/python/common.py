"""Helpers shared by the end-to-end scripts that drive Magnetar with the
official Python pulsar-client. Every script prints one JSON object on stdout
and exits non-zero when an expectation fails."""

import json
import os
import sys

import pulsar


def client(url, operation_timeout_seconds=20, connection_timeout_ms=5000):
    """A client whose library logs go to stderr, so that stdout carries only
    the script's JSON result (a log line could otherwise land inside it)."""
    return pulsar.Client(url, operation_timeout_seconds=operation_timeout_seconds,
                         connection_timeout_ms=connection_timeout_ms,
                         logger=pulsar.FileLogger(pulsar.LoggerLevel.Info, "/dev/stderr"))


def drain(consumer, expected, idle_ms=5000, ack=True):
    """Receives until `expected` messages arrived or nothing came for idle_ms.
    Returns the payloads in arrival order."""
    got = []
    while len(got) < expected:
        try:
            msg = consumer.receive(timeout_millis=idle_ms)
        except pulsar.Timeout:
            break
        got.append(msg.data().decode())
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
