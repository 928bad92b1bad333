"""A property-based fuzz of the admin API from its own OpenAPI description,
with schemathesis (PyPI), against `magnetar standalone`: every documented
operation gets generated requests, valid and invalid, and no answer may be
a server error (5xx) or a dropped connection.

The description's examples name `public/default`, topic `orders` and
subscription `billing`; they are created first, with a few messages, so
that the examples phase reaches real resources and not only 404s.

Prints one JSON line: the schemathesis exit code, the operations it
exercised and the failures it reported; exits non-zero on any failure.

usage: api_fuzz.py URL ADMIN_URL MAX_EXAMPLES SEED REPORT_DIR"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from common import admin_request, client, report

url, admin, max_examples, seed, report_dir = sys.argv[1:6]
report_dir = os.path.abspath(report_dir)

topic = "/admin/v2/persistent/public/default/orders"
status, _ = admin_request(admin, "PUT", topic)
if status != 204:
    report({"setup": "create topic", "status": status}, False)
status, _ = admin_request(admin, "PUT", topic + "/subscription/billing")
if status != 204:
    report({"setup": "create subscription", "status": status}, False)
pulsar_client = client(url)
producer = pulsar_client.create_producer("persistent://public/default/orders")
for i in range(10):
    producer.send(("order-%d" % i).encode(), partition_key="k%d" % (i % 3))
pulsar_client.close()
cli = os.path.join(os.path.dirname(sys.executable), "schemathesis")
os.makedirs(report_dir, exist_ok=True)
junit = os.path.join(report_dir, "schemathesis-junit.xml")
command = [
    cli, "run", admin + "/admin/v2/openapi.json",
    "--checks", "not_a_server_error",
    "--phases", "examples,coverage,fuzzing",
    "--max-examples", max_examples,
    "--seed", seed,
    "--request-timeout", "30",
    "--no-color",
    "--generation-database", "none",
    "--suppress-health-check", "all",
    "--report", "junit",
    "--report-junit-path", junit,
]
# In the report directory: schemathesis keeps a cache in its working directory.
run = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=report_dir)
sys.stderr.write(run.stdout[-20000:])
sys.stderr.write(run.stderr[-5000:])

tests = failures = errors = 0
try:
    root = ElementTree.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0))
        errors += int(suite.get("errors", 0))
except (OSError, ElementTree.ParseError) as error:
    sys.stderr.write("no junit report: %s\n" % error)
summary = [line for line in run.stdout.splitlines() if "passed" in line or "failed" in line][-3:]
report({"exit_code": run.returncode, "operations": tests, "failures": failures,
        "errors": errors, "summary": summary},
       run.returncode == 0 and tests > 90 and failures == 0 and errors == 0)
