"""Section 3's generator: 10,000 connections held open, a few of them active.

Its own process, loopback only, bounded in time. It opens ``--connections`` connections
(batched so the accept backlog never overflows), measures the server's resident memory
before and after (per idle connection), then for ``--duration`` seconds:

- one *event driver* places a call that nobody answers; when its ring times out, every
  client gets the event; the driver then hangs the call up and places the next, so each
  event has a reference time: the moment its call was sent plus the ring timeout (the
  server rang it a little after that send, so the figure errs on the slow side);
- ``--active`` - 1 *workers* send call and hangup (alternately, a call of their own each
  time, so it rings or queues and is then missed) on a fixed schedule, one command every
  ``--interval`` seconds each, whether or not the replies before have come (open loop:
  a stalled server then shows in every command due during the stall, not in just the
  one a waiting client would have had in flight). A reply's latency counts from when its
  command was due.

For each event it records when the first and the last of the idle connections got it.
Results go to stdout as one JSON object.
"""

import argparse
import collections
import json
import os
import resource
import select
import sys
import time

from bench.loadgen import connect_all, cpu_seconds

EVENT = b'{"event"'
RINGING = b"ringing for operator "
IDLE_SLICE = 200


def rss(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Active(object):
    """A client that sends one request at a time and reads its replies line by line."""

    def __init__(self, sock, name):
        self.sock = sock
        self.name = name
        self.buffer = b""
        self.sent_at = None
        self.due = collections.deque()  # when each command awaiting its reply was due
        self.next_due = None
        self.n = 0
        self.state = "idle"
        self.operator = None

    def send(self, command, ident, now):
        self.sock.sendall(('{"command": "%s", "id": "%s"}\n' % (command, ident)).encode("ascii"))
        self.sent_at = now

    def lines(self, data):
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return lines


def run(args):
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 100
    if soft[0] < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, soft[1]), soft[1]))
    pid = args.server_pid
    time.sleep(0.3)
    rss_before = rss(pid)
    started = time.monotonic()
    socks = connect_all(args.port, args.connections, pid, limit=args.connect_limit)
    connect_seconds = time.monotonic() - started
    time.sleep(args.settle)
    rss_after = rss(pid)
    for sock in socks:
        sock.setblocking(True)
    workers = [Active(sock, "w%d" % i) for i, sock in enumerate(socks[1 : args.active])]
    driver = Active(socks[0], "e")
    active_fds = {sock.fileno(): client for client, sock in [(driver, socks[0])] + [(w, w.sock) for w in workers]}
    idle_fds = {}
    for sock in socks[args.active :]:
        sock.setblocking(False)
        idle_fds[sock.fileno()] = 0  # events received so far
    # Active sockets get their own epoll, nested in the main one and always polled first,
    # and idle sockets are read at most IDLE_SLICE per turn: a fan-out of 10,000 events
    # must not hold up the active clients' requests inside the generator itself.
    active_poller = select.epoll()
    for fd in active_fds:
        active_poller.register(fd, select.EPOLLIN)
    poller = select.epoll(len(socks) + 1)
    for fd in idle_fds:
        poller.register(fd, select.EPOLLIN)
    poller.register(active_poller.fileno(), select.EPOLLIN)

    first = {}
    last = {}
    count = {}
    reference = {}  # event number -> when it was due (call sent + ring timeout)
    latencies = []
    errors = 0
    idle_total = len(idle_fds)
    start = time.monotonic()
    end = start + args.duration
    hard_stop = end + args.drain_limit
    cpu0 = cpu_seconds(pid)
    gen0 = time.process_time()

    driver.n = 0
    driver.send("call", "E-0", start)
    driver.state = "calling"
    reference[0] = start + args.ring_timeout
    for worker in workers:
        worker.next_due = start

    def worker_send(worker):
        worker.n += 1
        number = (worker.n + 1) // 2
        command = "call" if worker.n % 2 else "hangup"
        worker.send(command, "%s-%d" % (worker.name, number), worker.next_due)
        worker.due.append(worker.next_due)
        worker.next_due += args.interval

    def on_active(fd):
        nonlocal errors
        client = active_fds[fd]
        data = client.sock.recv(65536)
        if not data:
            raise SystemExit("fanout: the server closed an active connection")
        now = time.monotonic()
        for line in client.lines(data):
            if line.startswith(EVENT):
                if client is driver and driver.state == "ringing":
                    driver.send("hangup", "E-%d" % driver.n, now)
                    driver.state = "hangup"
                continue
            if b'{"error"' in line:
                errors += 1
            if client is driver:
                latencies.append(now - driver.sent_at)
                if driver.state == "calling":
                    driver.state = "ringing"
                elif driver.state == "hangup":
                    if now >= end:
                        driver.state = "done"
                    else:
                        driver.n += 1
                        driver.send("call", "E-%d" % driver.n, now)
                        reference[driver.n] = now + args.ring_timeout
                        driver.state = "calling"
            else:
                latencies.append(now - client.due.popleft())

    def on_idle(fd):
        nonlocal events_done
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            raise SystemExit("fanout: the server closed an idle connection")
        now = time.monotonic()
        received = idle_fds[fd]
        lines = data.count(b"\n")
        for number in range(received, received + lines):
            if number in count:
                count[number] += 1
                last[number] = now
            else:
                count[number] = 1
                first[number] = last[number] = now
            if count[number] == idle_total:
                events_done = number + 1
        idle_fds[fd] = received + lines

    events_done = 0
    while True:
        now = time.monotonic()
        if now >= hard_stop:
            print("fanout: time limit reached", file=sys.stderr)
            break
        if now >= end and driver.state == "done" and not any(w.due for w in workers):
            if events_done >= len(reference) or now >= end + 3 * args.ring_timeout:
                break
        waits = [0.05]
        for worker in workers:
            while worker.next_due <= now and worker.next_due < end:
                worker_send(worker)
            if worker.next_due < end:
                waits.append(worker.next_due - now)
        events = poller.poll(max(0.0, min(waits)), IDLE_SLICE)
        for fd, _mask in active_poller.poll(0):
            on_active(fd)
        for fd, _mask in events:
            if fd in idle_fds:
                on_idle(fd)

    cpu1 = cpu_seconds(pid)
    gen1 = time.process_time()
    elapsed = time.monotonic() - start
    deliveries = []
    for number in sorted(count):
        if number in reference and count[number] == idle_total:
            deliveries.append(
                {
                    "event": number,
                    "to_all_ms": (last[number] - reference[number]) * 1000,
                    "first_ms": (first[number] - reference[number]) * 1000,
                    "spread_ms": (last[number] - first[number]) * 1000,
                }
            )
    latencies.sort()

    def pct(fraction, values=latencies):
        return values[max(0, min(len(values) - 1, int(fraction * len(values) + 0.5) - 1))] * 1000

    result = {
        "connections": len(socks),
        "idle": idle_total,
        "connect_seconds": connect_seconds,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "bytes_per_idle_connection": (rss_after - rss_before) / len(socks),
        "events": deliveries,
        "events_incomplete": len([n for n in count if count[n] != idle_total]),
        "active_requests": len(latencies),
        "active_errors": errors,
        "active_p50_ms": pct(0.5) if latencies else None,
        "active_p99_ms": pct(0.99) if latencies else None,
        "active_max_ms": latencies[-1] * 1000 if latencies else None,
        "server_cpu": (cpu1 - cpu0) / elapsed,
        "generator_cpu": (gen1 - gen0) / elapsed,
        "seconds": elapsed,
    }
    for sock in socks:
        sock.close()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--active", type=int, default=4, help="active clients, the event driver included")
    parser.add_argument("--interval", type=float, default=0.002, help="seconds between a worker's commands")
    parser.add_argument("--ring-timeout", type=float, required=True, help="the server's, in seconds")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--connect-limit", type=float, default=120.0)
    parser.add_argument("--drain-limit", type=float, default=15.0)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
