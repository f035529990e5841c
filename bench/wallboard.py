"""Section "wallboard" (``--web``): how soon the page in a real browser shows a command's
effect, and what 100 open wallboards cost the server's throughput.

- Latency: headless Chromium (as in tests/web/test_wallboard_browser.py) shows the page; a
  MutationObserver notes when operator A's state word changes (the browser's wall clock,
  set against ours by a bracketed reading); a protocol client alternates ``call`` and
  ``hangup``; each sample is the time from the reply's arrival to the page's change.
- Throughput: the load generator of section 2 (10 connections, 16 pipelined) against three
  servers in turns: without --web, with --web and no wallboard open, and with --web and 100
  event streams open and read by another process (``python -m bench.wallboard --readers``).
"""

import argparse
import contextlib
import json
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import GENERATOR_CPU, HOST, SERVER_CPU, free_port, log, open_fds, running, spawn, stop, wait_idle
from bench.throughput import drive, server_argv, settings

WALLBOARDS = 100
CONNECTIONS, WINDOW = 10, 16
KINDS = ("no --web", "--web, no wallboard", "--web, 100 wallboards")


# Throughput


def readers(port, count):
    """``count`` event streams on the wallboard at ``port``, read as fast as they come; says
    "ready" once each has had its first event; on end of stdin prints its counts as JSON."""
    selector = selectors.DefaultSelector()
    streams = {}
    for _ in range(count):
        sock = socket.create_connection((HOST, port))
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sock.setblocking(False)
        streams[sock] = b""
        selector.register(sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    received = closed = 0
    ready = False
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                sys.stdout.write(json.dumps({"bytes": received, "closed": closed, "streams": count}) + "\n")
                sys.stdout.flush()
                return
            sock = key.fileobj
            data = sock.recv(1 << 16)
            if not data:
                selector.unregister(sock)
                closed += 1
                continue
            received += len(data)
            if not ready:
                streams[sock] += data[:4096]
        if not ready and all(b"event: status" in seen for seen in streams.values()):
            ready = True
            streams = {}
            sys.stdout.write("ready\n")
            sys.stdout.flush()


def measure_throughput(quick):
    repeats, duration, warmup = settings(quick)
    ports = {kind: (free_port(), free_port()) for kind in KINDS}
    runs = {kind: [] for kind in KINDS}
    with contextlib.ExitStack() as stack:
        pids = {}
        for kind in KINDS:
            port, web = ports[kind]
            extra = [] if kind == KINDS[0] else ["--web", "tcp:%d:interface=%s" % (web, HOST)]
            process = stack.enter_context(
                running(server_argv("callcenter", port, *extra), port=port, cpu=SERVER_CPU, nofile=1000)
            )
            pids[kind] = process.pid
        time.sleep(0.3)
        reader = spawn(
            [sys.executable, "-m", "bench.wallboard", "--readers", str(WALLBOARDS), "--port", str(ports[KINDS[2]][1])],
            cpu=GENERATOR_CPU,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        stack.callback(stop, reader)
        if reader.stdout.readline().strip() != b"ready":
            raise RuntimeError("the wallboard readers did not connect")
        idle = {kind: open_fds(pid) for kind, pid in pids.items()}
        for repeat in range(repeats):
            order = KINDS if repeat % 2 == 0 else KINDS[::-1]
            for kind in order:
                wait_idle(pids[kind], idle[kind])
                port = ports[kind][0]
                result = drive(port, pids[kind], CONNECTIONS, WINDOW, duration, warmup, "w%d" % repeat, duration + 60)
                runs[kind].append(result)
        reader.stdin.close()
        counts = json.loads(reader.stdout.readline())
    medians = {kind: statistics.median(r["replies_per_second"] for r in runs[kind]) for kind in KINDS}
    # The server's CPU per reply is steadier than replies/s on a shared machine.
    cpu = {
        kind: statistics.median(r["server_cpu"] / r["replies_per_second"] * 1e6 for r in runs[kind]) for kind in KINDS
    }
    for kind in KINDS:
        log("wallboard: %-22s %7.0f replies/s, %5.1f us of server CPU a reply" % (kind, medians[kind], cpu[kind]))
    return {
        "connections": CONNECTIONS,
        "window": WINDOW,
        "wallboards": WALLBOARDS,
        "replies_per_second": medians,
        "cpu_us_per_reply": cpu,
        "cpu_ratio": cpu[KINDS[2]] / cpu[KINDS[1]],
        "runs": runs,
        "ratio": medians[KINDS[2]] / medians[KINDS[1]],
        "ratio_to_no_web": medians[KINDS[2]] / medians[KINDS[0]],
        "readers": counts,
    }


# Latency through the browser


OBSERVE = """
window.benchChanges = [];
const node = document.querySelector('.tile[data-operator="A"] .state');
new MutationObserver(() => {
  window.benchChanges.push([performance.timeOrigin + performance.now(), node.textContent]);
}).observe(node, {childList: true, characterData: true, subtree: true});
"""


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="bench-wallboard-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--user-data-dir=" + profile):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options), profile


def clock_offset(driver):
    """The browser's wall clock minus ours, in seconds, and the reading's uncertainty."""
    best = None
    for _ in range(5):
        before = time.time()
        theirs = driver.execute_script("return performance.timeOrigin + performance.now()") / 1000.0
        after = time.time()
        if best is None or after - before < best[1]:
            best = (theirs - (before + after) / 2, (after - before) / 2)
    return best


def measure_latency(quick):
    samples = 10 if quick else 40
    port, web = free_port(), free_port()
    argv = server_argv("callcenter", port, "--web", "tcp:%d:interface=%s" % (web, HOST))
    argv[argv.index("--operators") + 1] = "A,B"
    with running(argv, port=port, cpu=SERVER_CPU):
        driver, profile = browser()
        try:
            driver.get("http://%s:%d/" % (HOST, web))
            deadline = time.monotonic() + 15
            while driver.execute_script("return document.getElementById('connection').textContent") != "live":
                if time.monotonic() > deadline:
                    raise RuntimeError("the wallboard did not connect")
                time.sleep(0.05)
            time.sleep(0.2)
            driver.execute_script(OBSERVE)
            offset, uncertainty = clock_offset(driver)
            client = socket.create_connection((HOST, port))
            replies = client.makefile("rb")
            latencies = []
            for number in range(samples):
                command, expected = ("call", "ringing") if number % 2 == 0 else ("hangup", "available")
                driver.execute_script("window.benchChanges = []")
                client.sendall(json.dumps({"command": command, "id": "b%d" % (number // 2)}).encode() + b"\n")
                replies.readline()
                replied = time.time()
                deadline = time.monotonic() + 5
                changed = None
                while changed is None and time.monotonic() < deadline:
                    for at, text in driver.execute_script("return window.benchChanges"):
                        if text == expected:
                            changed = at / 1000.0 - offset
                    time.sleep(0.005)
                if changed is None:
                    raise RuntimeError("the page did not show %s within 5 s" % expected)
                latencies.append((changed - replied) * 1000.0)
                time.sleep(0.15)  # past the wallboard's 100 ms interval: each sample starts afresh
            client.close()
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
    latencies.sort()
    result = {
        "samples": samples,
        "median_ms": statistics.median(latencies),
        "p90_ms": latencies[int(0.9 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
        "clock_uncertainty_ms": uncertainty * 1000.0,
        "latencies_ms": latencies,
    }
    log(
        "wallboard: reply to page %.1f ms median, %.1f ms p90, %.1f ms max (clock +-%.1f ms)"
        % (result["median_ms"], result["p90_ms"], result["max_ms"], result["clock_uncertainty_ms"])
    )
    return result


def run(quick=False):
    return {"latency": measure_latency(quick), "throughput": measure_throughput(quick)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.wallboard")
    parser.add_argument("--readers", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    readers(args.port, args.readers)


if __name__ == "__main__":
    sys.exit(main())
