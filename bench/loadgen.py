"""The load generator: its own process, loopback only, bounded in requests and in time.

It opens ``--connections`` TCP connections to a newline-JSON server and keeps ``--window``
requests in flight on each (1: one at a time; more: pipelined). Every connection sends a
realistic mix in cycles of six requests, with its own call ids:

    call P-c-n-a, call P-c-n-b, answer <its operator>, hangup P-c-n-a,
    reject <the next operator>, hangup P-c-n-b

so that with many connections calls queue, operators are shared, some answers and rejects
find their operator not ringing (an error reply, counted) and some hangups are misses.

Per-reply work is kept minimal: replies are counted (newlines less event lines, by a bytes
count), never parsed, and the send time of each batch of requests gives the latency of
each reply in it. After a warm-up, replies arriving in the measurement window count;
then every connection finishes its cycle (so that the server is left with no calls) and
the results go to stdout as one JSON object. The CPU time of the generator itself and of
the server (``--server-pid``) over the window shows which of the two saturated.
"""

import argparse
import collections
import errno
import json
import os
import select
import socket
import sys
import time

HOST = "127.0.0.1"
CYCLE = 6
EVENT = b'{"event"'
ERROR = b'{"error"'


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def connect_all(port, count, server_pid=0, batch=40, limit=120.0):
    """Open ``count`` connections a batch at a time, each batch only once the server has
    accepted the one before (its open descriptors show it), so that the accept backlog
    (Twisted's default is 50) never overflows into one-second SYN retries."""
    socks = []
    deadline = time.monotonic() + limit
    base = open_fds(server_pid) if server_pid else 0
    while len(socks) < count:
        pending = []
        for _ in range(min(batch, count - len(socks))):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            sock.connect_ex((HOST, port))
            pending.append(sock)
        waiter = select.epoll()
        for sock in pending:
            waiter.register(sock.fileno(), select.EPOLLOUT)
        left = len(pending)
        while left:
            if time.monotonic() > deadline:
                raise SystemExit("loadgen: could only open %d of %d connections" % (len(socks), count))
            for fd, _mask in waiter.poll(1.0):
                waiter.unregister(fd)
                left -= 1
        waiter.close()
        for sock in pending:
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise SystemExit("loadgen: connect failed: %s" % os.strerror(error))
        socks.extend(pending)
        if server_pid:
            accepted_by = time.monotonic() + 1.0
            while open_fds(server_pid) < base + len(socks) and time.monotonic() < accepted_by:
                time.sleep(0.0005)
    return socks


class Connection(object):
    __slots__ = ("batches", "cycle", "number", "out", "outstanding", "queued", "sent", "sock", "templates")

    def __init__(self, sock, number, prefix, operators):
        self.sock = sock
        self.number = number
        own = operators[number % len(operators)]
        other = operators[(number + 1) % len(operators)]
        call = '{"command": "call", "id": "%s-%d-%%d%%s"}\n' % (prefix, number)
        hangup = '{"command": "hangup", "id": "%s-%d-%%d%%s"}\n' % (prefix, number)
        self.templates = (
            (call, "a"),
            (call, "b"),
            ('{"command": "answer", "id": "%s"}\n' % own, None),
            (hangup, "a"),
            ('{"command": "reject", "id": "%s"}\n' % other, None),
            (hangup, "b"),
        )
        self.cycle = 0
        self.queued = collections.deque()  # requests made but not sent yet
        self.batches = collections.deque()  # [send time, requests] per write still awaiting replies
        self.outstanding = 0
        self.out = b""  # bytes the socket would not take yet
        self.sent = 0

    def make_cycles(self, cycles=32):
        queued = self.queued
        for _ in range(cycles):
            n = self.cycle
            self.cycle += 1
            for template, suffix in self.templates:
                queued.append((template % (n, suffix) if suffix else template).encode("ascii"))

    def take(self, count, finishing):
        """Up to ``count`` next requests; when finishing, only those that end the current cycle."""
        if finishing:
            count = min(count, self.sent_in_cycle_left())
        elif len(self.queued) < count:
            self.make_cycles(max(32, count // CYCLE + 1))
        taken = [self.queued.popleft() for _ in range(min(count, len(self.queued)))]
        self.sent += len(taken)
        return taken

    def sent_in_cycle_left(self):
        return (-self.sent) % CYCLE


def run(args):
    operators = args.operators.split(",")
    socks = connect_all(args.port, args.connections, args.server_pid)
    conns = {}
    poller = select.epoll(len(socks) + 1)
    for number, sock in enumerate(socks):
        conns[sock.fileno()] = Connection(sock, number, args.prefix, operators)
        poller.register(sock.fileno(), select.EPOLLIN)

    window = args.window
    latencies = []
    measured = 0
    errors = 0
    events = 0
    total_replies = 0
    total_sent = 0
    finishing = False
    start = time.monotonic()
    t0 = start + args.warmup
    t1 = t0 + args.duration
    hard_stop = t1 + args.drain_limit
    measuring = False
    gen_cpu0 = srv_cpu0 = None
    window_end = None

    def send(conn, count, now):
        nonlocal total_sent
        requests = conn.take(count, finishing)
        if not requests:
            return
        total_sent += len(requests)
        conn.outstanding += len(requests)
        conn.batches.append([now, len(requests)])
        data = b"".join(requests)
        if conn.out:
            conn.out += data
            return
        try:
            written = conn.sock.send(data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            conn.out = data[written:]
            poller.modify(conn.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    now = time.monotonic()
    for conn in conns.values():
        send(conn, window, now)

    while True:
        now = time.monotonic()
        if not measuring and now >= t0 and window_end is None:
            measuring = True
            gen_cpu0 = time.process_time()
            srv_cpu0 = cpu_seconds(args.server_pid) if args.server_pid else None
            t0 = now
        if measuring and (now >= t1 or total_sent >= args.max_requests):
            measuring = False
            finishing = True
            window_end = now
            gen_cpu1 = time.process_time()
            srv_cpu1 = cpu_seconds(args.server_pid) if args.server_pid else None
            # Finish every connection's current cycle, then stop.
            for conn in conns.values():
                if conn.outstanding == 0:
                    send(conn, CYCLE, now)
        if finishing and all(conn.outstanding == 0 for conn in conns.values()):
            break
        if now >= hard_stop:
            print("loadgen: drain limit reached with replies outstanding", file=sys.stderr)
            break
        timeout = (t0 if window_end is None and not measuring else t1 if measuring else hard_stop) - now
        for fd, mask in poller.poll(max(0.0, min(timeout, 0.1)), 1024):
            conn = conns[fd]
            if mask & select.EPOLLOUT:
                try:
                    written = conn.sock.send(conn.out)
                except BlockingIOError:
                    written = 0
                conn.out = conn.out[written:]
                if not conn.out:
                    poller.modify(fd, select.EPOLLIN)
            if not mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                continue
            try:
                data = conn.sock.recv(262144)
            except OSError as error:
                if error.errno == errno.EAGAIN:
                    continue
                raise
            if not data:
                raise SystemExit("loadgen: the server closed connection %d" % conn.number)
            replies = data.count(b"\n")
            if EVENT in data:
                seen = data.count(EVENT)
                events += seen
                replies -= seen
            if not replies:
                continue
            now = time.monotonic()
            total_replies += replies
            conn.outstanding -= replies
            if measuring:
                measured += replies
                errors += data.count(ERROR)
                left = replies
                batches = conn.batches
                while left:
                    batch = batches[0]
                    taken = batch[1] if batch[1] <= left else left
                    latencies.extend([now - batch[0]] * taken)
                    left -= taken
                    batch[1] -= taken
                    if not batch[1]:
                        batches.popleft()
            else:
                left = replies
                batches = conn.batches
                while left:
                    batch = batches[0]
                    taken = batch[1] if batch[1] <= left else left
                    left -= taken
                    batch[1] -= taken
                    if not batch[1]:
                        batches.popleft()
            if not finishing:
                send(conn, replies, now)
            elif conn.sent % CYCLE:
                send(conn, CYCLE, now)

    elapsed = window_end - t0
    latencies.sort()

    def pct(fraction):
        if not latencies:
            return None
        return latencies[max(0, min(len(latencies) - 1, int(fraction * len(latencies) + 0.5) - 1))]

    result = {
        "connections": args.connections,
        "window": window,
        "seconds": elapsed,
        "replies": measured,
        "replies_per_second": measured / elapsed if elapsed > 0 else None,
        "errors": errors,
        "events": events,
        "p50_ms": pct(0.50) * 1000 if latencies else None,
        "p99_ms": pct(0.99) * 1000 if latencies else None,
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "generator_cpu": (gen_cpu1 - gen_cpu0) / elapsed,
        "server_cpu": (srv_cpu1 - srv_cpu0) / elapsed if args.server_pid else None,
        "total_sent": total_sent,
        "total_replies": total_replies,
    }
    for sock in socks:
        sock.close()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--window", type=int, default=16, help="requests in flight per connection")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured (bounded)")
    parser.add_argument("--drain-limit", type=float, default=20.0, help="seconds allowed to finish cycles")
    parser.add_argument("--max-requests", type=int, default=5000000, help="stop measuring after this many")
    parser.add_argument("--operators", default="A,B")
    parser.add_argument("--prefix", default="c")
    parser.add_argument("--server-pid", type=int, default=0)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
