"""Scrape the server's /metrics and parse it with prometheus_client's own parser.

Usage: VENV/bin/python metrics_check.py HOST PORT (the app's virtualenv has prometheus_client).
Exits 0 when the call center's metrics and the process metrics are there.
"""

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

EXPECTED = [
    "callcenter_calls_received",
    "callcenter_calls_answered",
    "callcenter_calls_missed",
    "callcenter_queue_length",
    "callcenter_operators",
    "callcenter_wait_seconds",
    "callcenter_ring_seconds",
    "callcenter_clients_connected",
    "callcenter_events",
    "process_cpu_seconds",
]


def main(host, port):
    url = "http://%s:%s/metrics" % (host, port)
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode("utf-8")
    names = {family.name for family in text_string_to_metric_families(text)}
    missing = [name for name in EXPECTED if name not in names]
    if missing:
        sys.exit("%s lacks %s; it has %s" % (url, ", ".join(missing), ", ".join(sorted(names))))
    print("%s: %d metric families, the call center's among them" % (url, len(names)))


if __name__ == "__main__":
    main(*sys.argv[1:3])
