"""Many idle topics: opens a producer on each of COUNT topics and sends one
message through each, then keeps them all open until stdin closes, so that
the broker's memory per loaded, idle topic can be read meanwhile.

    idle_topics.py PULSAR_URL TOPIC_PREFIX COUNT

Prints {"ready": n, "seconds": s} on stdout once every topic holds its
message (stdout is flushed, so a caller can wait for the line), then
{"closed": n} when stdin closes. Fails if a producer or a send fails."""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import client, report

# Producers are created by this many threads at once: each creation is a
# lookup, a PRODUCER round trip and, for a new topic, a ledger; the client
# library releases the GIL while it waits.
PARALLEL = 16


def main(url, prefix, count):
    c = client(url, operation_timeout_seconds=60)
    started = time.time()

    def open_and_send(i):
        producer = c.create_producer(f"{prefix}-{i}", batching_enabled=False,
                                     send_timeout_millis=60000)
        producer.send(b"x" * 100)
        return producer

    with ThreadPoolExecutor(PARALLEL) as pool:
        producers = list(pool.map(open_and_send, range(count)))
    print(json.dumps({"ready": len(producers), "seconds": round(time.time() - started, 1)}),
          flush=True)
    sys.stdin.read()
    for producer in producers:
        producer.close()
    c.close()
    report({"closed": len(producers)}, True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
