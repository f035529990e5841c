"""--web on the real server processes: /metrics on the wallboard's endpoint, every query of the
Grafana dashboard against a real scrape, twistd, TLS with the session cookie marked Secure."""

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import HERE, command, free_port, make_certificates, run, scrape

DASHBOARD = os.path.join(os.path.dirname(HERE), "deploy", "grafana", "callcenter.json")
# What a query may hold besides metric names and their labels (label_values is Grafana's).
PROMQL_WORDS = {"sum", "max", "by", "rate", "increase", "histogram_quantile", "label_values"}


def queries(dashboard):
    """Every PromQL expression of the dashboard: its panels' targets and its variables' queries."""
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    found += [variable["definition"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    return found


def names_in(expression):
    """The identifiers of a query, without strings, ranges, $variables and numbers."""
    bare = re.sub(r'"[^"]*"|\[[^\]]*\]|\$\w+|\{\{\w+\}\}', " ", expression)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))


def wait_for_port(port):
    """The wallboard listens just after the protocol port: wait for it, at most 10 s."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_the_grafana_dashboard_asks_only_for_metrics_the_server_exports(start_server, twistd):
    web = "tcp:%d:interface=127.0.0.1" % free_port()
    server = start_server("--web", web, "--metrics", web, twistd=twistd)
    result = run(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        b"call 1\ncall 2\ncall 3\nanswer A\nreject B\nhangup 3\n",
    )
    assert result.returncode == 0
    web_port = int(web.split(":")[1])
    status, text = scrape(web_port)  # /metrics on the wallboard's own site
    assert status == 200
    samples = {sample.name: sample for family in text_string_to_metric_families(text) for sample in family.samples}
    labels = {label for sample in samples.values() for label in sample.labels} | {"instance", "job"}
    with open(DASHBOARD, encoding="utf-8") as dashboard_file:
        dashboard = json.load(dashboard_file)
    assert dashboard["title"] and len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for expression in queries(dashboard):
        names = names_in(expression)
        metrics = {name for name in names if name not in PROMQL_WORDS and name not in labels}
        assert metrics, expression
        assert metrics <= set(samples), "%s asks for %s" % (expression, sorted(metrics - set(samples)))
    status, body = scrape(web_port, "/api/status")
    assert status == 200 and json.loads(body)["figures"]["received"] == 3
    server.stop()
    assert b"Traceback" not in server.log


def test_the_wallboard_over_tls_gives_a_secure_cookie(start_server, tmp_path):
    paths = make_certificates(str(tmp_path))
    token = tmp_path / "token"
    token.write_text("tls token\n")
    web_port = free_port()
    certificate = "privateKey=%s:certKey=%s" % (paths["key"], paths["cert"])
    server = start_server(
        "--web",
        "ssl:%d:interface=127.0.0.1:%s" % (web_port, certificate),
        "--auth-token-file",
        str(token),
        listen="ssl:{port}:interface=127.0.0.1:" + certificate,
    )
    wait_for_port(web_port)
    context = ssl.create_default_context(cafile=os.path.join(paths["ca"], "ca.pem"))
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # Python 3.13's default; the test CA is minimal
    connection = http.client.HTTPSConnection("localhost", web_port, timeout=10, context=context)
    connection.request("GET", "/api/status")
    response = connection.getresponse()
    assert response.status == 401 and json.loads(response.read()) == {"error": "authentication required"}
    connection.request("POST", "/login", body=b'{"token": "tls token"}', headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie")
    assert response.status == 200 and cookie.endswith("; HttpOnly; SameSite=Strict; Secure")
    connection.request("GET", "/api/status", headers={"Cookie": cookie.split(";")[0]})
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["operators"][0]["id"] == "A"
    connection.close()
    server.stop()
    assert b"Wallboard on https://127.0.0.1:%d/" % web_port in server.log
    assert b"tls token" not in server.log


def test_a_tls_server_refuses_a_plain_wallboard(tmp_path):
    result = subprocess.run(
        [command("callcenter-server"), "--listen", "ssl:5678:privateKey=k.pem", "--web", "tcp:8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.endswith(
        b"callcenter-server: error: --web: the server listens with TLS, so the wallboard must too (ssl:...)\n"
    )
