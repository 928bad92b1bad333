"""Parses a /metrics body (stdin) with the Python prometheus_client parsers.

Prints one JSON object: for each parser, the metric families it found as
{name: {"type": ..., "samples": [sample names]}}. "openmetrics" is the
strict parser of the format the broker declares; "prometheus" is the
classic text-format parser that older scrapers use.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus


def families(parse, text):
    return {
        family.name: {
            "type": family.type,
            "samples": [sample.name for sample in family.samples],
        }
        for family in parse(text)
    }


text = sys.stdin.read()
print(
    json.dumps(
        {
            "openmetrics": families(parse_openmetrics, text),
            "prometheus": families(parse_prometheus, text),
        }
    )
)
