"""Section 5, slow readers (issue 8): what a reader that does not keep up costs, and
whether anything is lost.

1. **Blocked output.** ``callcenter --operators 2 --ring-timeout 0`` is fed 10^6
   commands (``call N``, ``hangup N`` pairs: the state stays small, so what is measured
   is the output path) from a file, its stdout a pipe that the benchmark leaves unread
   for 5 s and then reads to the end. Reported: the shell's peak resident memory (the
   kernel's own account, ``ru_maxrss`` at exit), the lines and bytes that arrive against
   the same run into a file. The same through ``callcenter-client`` into a server.
2. **A client that sends without reading.** One connection sends ``{"command":
   "status"}`` for 10 s and never reads (what the socket does not take is kept and sent
   later, never dropped or restarted), while ``bench.loadgen`` drives 10 other
   connections one request at a time. Reported: the server's resident memory growth (its
   peak, ``VmHWM``, read-out included, over its memory before the non-reader), the
   other clients' p99 (beside a run without the non-reader), and, once the non-reader
   reads at last, that it gets exactly one reply per request it sent.
3. **A client that reads late while the queue grows** (issue 18). One connection sends
   ``{"command": "status"}`` for 10 s without reading while another places a call every
   10 ms (1,000 calls, all queued behind the one ringing), so that each ``status`` reply
   grows to about 18 KB; then the first reads everything. Reported: the server's
   resident memory growth (sampled, and its peak ``VmHWM``), the replies received
   against the requests the kernel took, the time to drain them, whether the server cut
   the client off, and the caller's p99 meanwhile.
4. **A client that never reads while events flow.** Ring timeouts every 10 ms on 100
   operators send events to every client; one client never reads. Reported: the time
   until the server disconnects it (``--max-output-buffer 1M``), the log line saying so
   (exactly one), and the server's memory.
"""

import concurrent.futures
import hashlib
import os
import select
import socket
import subprocess
import tempfile
import time

from bench.common import (
    GENERATOR_CPU,
    HOST,
    RESULTS,
    SERVER_CPU,
    free_port,
    log,
    rss_bytes,
    running,
    spawn,
    stop,
    tool,
)
from bench.throughput import OPERATORS, drive

SHELL_OPERATORS = "2"
STATUS = b'{"command": "status"}\n'
OTHER_CLIENTS = 10
STUCK_OPERATORS = 100
STUCK_RING_TIMEOUT = "0.01"
STUCK_LIMIT = "1M"
CUT_OFF = b"it is not reading"  # in the server's log line when it disconnects a client


def pair_commands(pairs):
    """``call N`` then ``hangup N``, ``pairs`` times: three result lines a pair."""
    return b"".join(b"call %d\nhangup %d\n" % (n, n) for n in range(pairs))


def server_argv(port, *options):
    return [tool("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % port, *options]


def wait_peak_rss(process, limit):
    """Wait for ``process`` to exit; its peak resident memory in bytes (``ru_maxrss``)."""
    deadline = time.monotonic() + limit
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_maxrss * 1024
        if time.monotonic() > deadline:
            raise RuntimeError("%s still running after %.0f s" % (process.args[0], limit))
        time.sleep(0.01)


def read_late(stream, wait, limit):
    """Leave ``stream`` unread for ``wait`` seconds, then read it to the end:
    (lines, bytes, sha256, seconds spent reading)."""
    time.sleep(wait)
    fd = stream.fileno()
    digest = hashlib.sha256()
    lines = size = 0
    started = time.monotonic()
    deadline = started + limit
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise RuntimeError("output still coming after %.0f s of reading" % limit)
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return lines, size, digest.hexdigest(), time.monotonic() - started
        lines += chunk.count(b"\n")
        size += len(chunk)
        digest.update(chunk)


def run_to_file(argv, commands, limit):
    """``argv < commands > file``: (lines, bytes, sha256, peak RSS) of a reader that never waits."""
    with tempfile.TemporaryFile() as out:
        process = spawn(argv, cpu=SERVER_CPU, stdin=commands, stdout=out, stderr=subprocess.DEVNULL)
        try:
            peak = wait_peak_rss(process, limit)
        finally:
            stop(process)
        out.seek(0)
        data = out.read()
    return data.count(b"\n"), len(data), hashlib.sha256(data).hexdigest(), peak


def run_into_slow_reader(argv, commands, wait, cpu, limit):
    """``argv < commands | (sleep wait; cat)``, the reader being this process."""
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        process = spawn(argv, cpu=cpu, stdin=commands, stdout=subprocess.PIPE, stderr=errors)
        try:
            lines, size, digest, reading = read_late(process.stdout, wait, limit)
            peak = wait_peak_rss(process, limit)
        finally:
            stop(process)
        errors.seek(0)
        error_lines = errors.read().count(b"\n")
    return {
        "lines": lines,
        "bytes": size,
        "sha256": digest,
        "peak_rss": peak,
        "exit": process.returncode,
        "error_lines": error_lines,
        "seconds": time.monotonic() - started,
        "reading_seconds": reading,
    }


def blocked_output(pairs, wait):
    """Part 1: the shell and the client into a reader that waits."""
    shell = [tool("callcenter"), "--operators", SHELL_OPERATORS, "--ring-timeout", "0"]
    limit = 600.0
    results = {"commands": 2 * pairs, "expected_lines": 3 * pairs, "reader_wait": wait}
    with tempfile.TemporaryFile() as commands:
        commands.write(pair_commands(pairs))
        commands.flush()
        commands.seek(0)
        lines, size, digest, peak = run_to_file(shell, commands, limit)
        results["file"] = {"lines": lines, "bytes": size, "sha256": digest, "peak_rss": peak}
        log("slow: shell into a file: %d lines, %d bytes, peak RSS %.1f MB" % (lines, size, peak / 1e6))
        commands.seek(0)
        results["shell"] = run_into_slow_reader(shell, commands, wait, SERVER_CPU, limit)
        port = free_port()
        server = server_argv(port, "--operators", SHELL_OPERATORS, "--ring-timeout", "0")
        client = [tool("callcenter-client"), "--connect", "tcp:%s:%d" % (HOST, port)]
        with open(os.path.join(RESULTS, "callcenter-server-slow.log"), "ab") as logfile, running(
            server, port=port, cpu=SERVER_CPU, stdout=logfile
        ) as process:
            commands.seek(0)
            results["client"] = run_into_slow_reader(client, commands, wait, GENERATOR_CPU, limit)
            results["client"]["server_peak_rss"] = rss_bytes(process.pid, "VmHWM")
    for kind in ("shell", "client"):
        outcome = results[kind]
        outcome["complete"] = (
            outcome["exit"] == 0
            and outcome["error_lines"] == 0
            and outcome["lines"] == results["expected_lines"]
            and outcome["sha256"] == results["file"]["sha256"]
        )
        log(
            "slow: %s into a reader waiting %.0f s: %d of %d lines, %d bytes, same as the file: %s; "
            "peak RSS %.1f MB; exit %s, %d error lines; %.1f s"
            % (
                kind,
                wait,
                outcome["lines"],
                results["expected_lines"],
                outcome["bytes"],
                outcome["sha256"] == results["file"]["sha256"],
                outcome["peak_rss"] / 1e6,
                outcome["exit"],
                outcome["error_lines"],
                outcome["seconds"],
            )
        )
    return results


def send_without_reading(sock, seconds, sample):
    """Send status requests for ``seconds`` and read nothing. What the socket does not
    take now is kept and sent first next time. Returns the bytes sent."""
    chunk = STATUS * 1024
    pending = memoryview(b"")
    sent = 0
    deadline = time.monotonic() + seconds
    while True:
        now = time.monotonic()
        if now >= deadline:
            return sent
        sample()
        if not pending:
            pending = memoryview(chunk)
        _, writable, _ = select.select([], [sock], [], min(0.05, deadline - now))
        if not writable:
            continue
        try:
            taken = sock.send(pending)
        except BlockingIOError:
            taken = 0
        sent += taken
        pending = pending[taken:]


def read_at_last(sock, sent, limit, sample=lambda: None):
    """Send the rest of the request cut off at the end (if any), read every reply, then
    half-close and read to the server's end: (requests sent, reply lines, seconds). The
    reply lines so far stay in ``read_at_last.replies`` when the server resets."""
    tail = memoryview(STATUS[len(STATUS) - (-sent) % len(STATUS) :] if sent % len(STATUS) else b"")
    requests = (sent + len(tail)) // len(STATUS)
    replies = read_at_last.replies = 0
    started = time.monotonic()
    deadline = started + limit
    half_closed = False
    while True:
        sample()
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("non-reader: %d of %d replies after %.0f s" % (replies, requests, limit))
        readable, writable, _ = select.select([sock], [sock] if tail else [], [], min(left, 0.1))
        if writable:
            try:
                tail = tail[sock.send(tail) :]
            except BlockingIOError:
                pass
        if readable:
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                return requests, replies, time.monotonic() - started
            replies += data.count(b"\n")
            read_at_last.replies = replies
        if not tail and replies >= requests and not half_closed:
            sock.shutdown(socket.SHUT_WR)  # any reply beyond one a request would come before the end
            half_closed = True


def other_clients(port, server_pid, duration, prefix):
    """``bench.loadgen``: 10 connections, one request at a time each, for ``duration`` s."""
    return drive(port, server_pid, OTHER_CLIENTS, 1, duration, 0.5, prefix, limit=duration + 60)


def non_reader(seconds):
    """Part 2: the server under one client that does not read and 10 that do."""
    port = free_port()
    argv = server_argv(port, "--operators", str(OPERATORS), "--ring-timeout", "0")
    results = {"seconds": seconds, "other_clients": OTHER_CLIENTS, "operators": OPERATORS}
    with open(os.path.join(RESULTS, "callcenter-server-slow.log"), "ab") as logfile, running(
        argv, port=port, cpu=SERVER_CPU, stdout=logfile
    ) as server:
        time.sleep(0.2)
        # The other clients alone first: their p99 without the non-reader.
        results["alone"] = other_clients(port, server.pid, seconds - 1.0, "alone")
        baseline = rss_bytes(server.pid)
        peak = [baseline]

        def sample():
            if time.monotonic() >= sample.due:
                peak[0] = max(peak[0], rss_bytes(server.pid))
                sample.due = time.monotonic() + 0.1

        sample.due = 0.0
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            beside = pool.submit(other_clients, port, server.pid, seconds - 1.0, "beside")
            with socket.create_connection((HOST, port)) as sock:
                sock.setblocking(False)
                sent = send_without_reading(sock, seconds, sample)
                peak[0] = max(peak[0], rss_bytes(server.pid))
                results["beside"] = beside.result()
                requests, replies, reading = read_at_last(sock, sent, 120.0)
        # The replies still owed are made while the non-reader reads: its peak counts too.
        peak[0] = max(peak[0], rss_bytes(server.pid, "VmHWM"))
        results.update(
            {
                "bytes_sent": sent,
                "requests": requests,
                "replies": replies,
                "reading_seconds": reading,
                "rss_before": baseline,
                "rss_peak": peak[0],
                "rss_growth": peak[0] - baseline,
                "rss_after": rss_bytes(server.pid),
            }
        )
    log(
        "slow: non-reader %.0f s: %d requests sent, %d replies read back in %.1f s; server RSS %.1f -> %.1f MB "
        "(+%.1f); other clients' p99 %.2f ms (%.2f ms without it), %d vs %d replies"
        % (
            seconds,
            requests,
            replies,
            reading,
            baseline / 1e6,
            peak[0] / 1e6,
            (peak[0] - baseline) / 1e6,
            results["beside"]["p99_ms"],
            results["alone"]["p99_ms"],
            results["beside"]["replies"],
            results["alone"]["replies"],
        )
    )
    return results


def place_calls(port, seconds, interval):
    """A call every ``interval`` s for ``seconds``, each reply read before the next:
    (calls placed, their p99 in ms)."""
    latencies = []
    with socket.create_connection((HOST, port), timeout=10) as sock:
        began = time.monotonic()
        due = began
        buffer = b""
        while due - began < seconds:
            time.sleep(max(0.0, due - time.monotonic()))
            sent = time.monotonic()
            sock.sendall(b'{"command": "call", "id": "late-%d"}\n' % len(latencies))
            while b"\n" not in buffer:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise RuntimeError("the server closed the caller's connection")
                buffer += chunk
            buffer = buffer[buffer.index(b"\n") + 1 :]
            latencies.append(time.monotonic() - sent)
            due += interval
    latencies.sort()
    return len(latencies), 1000 * latencies[int(0.99 * (len(latencies) - 1))]


def late_reader(seconds):
    """Part 3: one client sends status requests without reading while another fills the
    queue, then reads every reply."""
    port = free_port()
    argv = server_argv(port, "--operators", "1", "--ring-timeout", "0")
    log_path = os.path.join(RESULTS, "callcenter-server-late.log")
    results = {"seconds": seconds}
    with open(log_path, "wb") as logfile, running(argv, port=port, cpu=SERVER_CPU, stdout=logfile) as server:
        time.sleep(0.2)
        baseline = rss_bytes(server.pid)
        peak = [baseline]

        def sample():
            if time.monotonic() >= sample.due:
                peak[0] = max(peak[0], rss_bytes(server.pid))
                sample.due = time.monotonic() + 0.1

        sample.due = 0.0
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            caller = pool.submit(place_calls, port, seconds, 0.01)
            with socket.create_connection((HOST, port)) as sock:
                sock.setblocking(False)
                sent = send_without_reading(sock, seconds, sample)
                calls, caller_p99 = caller.result()
                try:
                    requests, replies, reading = read_at_last(sock, sent, 600.0, sample)
                    reset = False
                except ConnectionResetError:
                    requests, replies, reading, reset = (sent // len(STATUS)), read_at_last.replies, None, True
        peak[0] = max(peak[0], rss_bytes(server.pid, "VmHWM"))
    with open(log_path, "rb") as logged:
        cut_off = sum(1 for line in logged if CUT_OFF in line)
    results.update(
        {
            "bytes_sent": sent,
            "requests": requests,
            "replies": replies,
            "reading_seconds": reading,
            "reset": reset,
            "cut_off_lines": cut_off,
            "calls": calls,
            "caller_p99_ms": caller_p99,
            "rss_before": baseline,
            "rss_peak": peak[0],
            "rss_growth": peak[0] - baseline,
        }
    )
    log(
        "slow: late reader, %.0f s without reading beside %d calls (caller p99 %.2f ms): %d requests taken, "
        "%d replies read back in %s; server RSS %.1f -> peak %.1f MB (+%.1f); cut off: %s"
        % (
            seconds,
            calls,
            caller_p99,
            requests,
            replies,
            "%.1f s" % reading if reading is not None else "- (reset)",
            baseline / 1e6,
            peak[0] / 1e6,
            (peak[0] - baseline) / 1e6,
            "yes" if reset or cut_off else "no",
        )
    )
    return results


def stuck_client(limit):
    """Part 4: a client that never reads while ring timeouts send events to all."""
    port = free_port()
    argv = server_argv(
        port,
        "--operators",
        str(STUCK_OPERATORS),
        "--ring-timeout",
        STUCK_RING_TIMEOUT,
        "--max-output-buffer",
        STUCK_LIMIT,
    )
    log_path = os.path.join(RESULTS, "callcenter-server-stuck.log")
    results = {"operators": STUCK_OPERATORS, "ring_timeout": float(STUCK_RING_TIMEOUT), "limit": STUCK_LIMIT}
    with open(log_path, "wb") as logfile, running(argv, port=port, cpu=SERVER_CPU, stdout=logfile) as server:
        time.sleep(0.2)
        results["rss_before"] = rss_bytes(server.pid)
        with socket.create_connection((HOST, port)) as driver, socket.create_connection((HOST, port)) as stuck:
            connected = time.monotonic()
            # Every operator rings a call of its own, each re-rung every 10 ms: an event each time.
            driver.sendall(
                b"".join(
                    b'{"command": "call", "id": "%s"}\n' % (b"stuck-bench-%04d-" % n).ljust(64, b"x")
                    for n in range(STUCK_OPERATORS)
                )
            )
            driver.setblocking(False)
            poller = select.poll()
            poller.register(driver, select.POLLIN)
            poller.register(stuck, select.POLLRDHUP)  # the server's end; POLLHUP and POLLERR always
            received = 0
            cut_off = None
            peak = results["rss_before"]
            while cut_off is None and time.monotonic() - connected < limit:
                for fd, mask in poller.poll(100):
                    if fd == stuck.fileno():
                        cut_off = time.monotonic() - connected
                    elif mask & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        data = driver.recv(1 << 20)
                        if not data:
                            raise RuntimeError("the server closed the reading client's connection")
                        received += len(data)
                peak = max(peak, rss_bytes(server.pid))
            # The reading client is still served.
            driver.setblocking(True)
            driver.settimeout(10)
            driver.sendall(b'{"command": "status"}\n')
            deadline = time.monotonic() + 10
            reply = b""
            while b'{"response"' not in reply and time.monotonic() < deadline:
                reply = (reply + driver.recv(1 << 20))[-(1 << 16) :]
        time.sleep(0.5)  # the log line is written in the same reactor turn; let it reach the file
        results.update(
            {
                "seconds_to_cut_off": cut_off,
                "driver_bytes": received,
                "driver_served_after": b'{"response"' in reply,
                "rss_peak": max(peak, rss_bytes(server.pid)),
                "rss_after": rss_bytes(server.pid),
                "server_hwm": rss_bytes(server.pid, "VmHWM"),
            }
        )
    with open(log_path, "rb") as logged:
        lines = [line for line in logged if CUT_OFF in line]
    results["log_lines"] = [line.decode("utf-8", "replace").rstrip() for line in lines]
    log(
        "slow: stuck client cut off after %s s; %d log line(s): %s; server RSS %.1f -> peak %.1f MB; "
        "reading client got %.1f MB of events and is still served: %s"
        % (
            "%.2f" % cut_off if cut_off is not None else "never (%.0f s)" % limit,
            len(lines),
            results["log_lines"][0] if lines else "-",
            results["rss_before"] / 1e6,
            results["rss_peak"] / 1e6,
            received / 1e6,
            results["driver_served_after"],
        )
    )
    return results


def run(quick=False):
    os.makedirs(RESULTS, exist_ok=True)
    pairs, wait, seconds = (100000, 2.0, 4.0) if quick else (500000, 5.0, 10.0)
    return {
        "blocked": blocked_output(pairs, wait),
        "non_reader": non_reader(seconds),
        "late": late_reader(seconds),
        "stuck": stuck_client(60.0),
    }
