"""``python -m bench.ami_listeners``: AMI clients that log in and read every event, counting them.

Connects ``--clients`` manager connections to ``--port``, logs each in (Events on), and reads
until SIGTERM or ``--duration`` seconds; then prints one JSON line: the clients logged in, the
events all of them received, and the events per second over the time they listened (from the
first event to the last).
"""

import argparse
import json
import select
import signal
import socket
import time

HOST = "127.0.0.1"


def connect(port, clients, user, secret, limit=60.0):
    socks = []
    for _ in range(clients):
        sock = socket.create_connection((HOST, port), timeout=limit)
        sock.sendall(("Action: Login\r\nUsername: %s\r\nSecret: %s\r\n\r\n" % (user, secret)).encode())
        socks.append(sock)
    logged_in = 0
    for sock in socks:
        data = b""
        deadline = time.monotonic() + limit
        while b"Authentication accepted" not in data and time.monotonic() < deadline:
            data += sock.recv(65536)
        logged_in += b"Authentication accepted" in data
        sock.setblocking(False)
    return socks, logged_in


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--user", default="bench")
    parser.add_argument("--secret", default="bench")
    parser.add_argument("--duration", type=float, default=3600.0)
    args = parser.parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    socks, logged_in = connect(args.port, args.clients, args.user, args.secret)
    print(json.dumps({"ready": logged_in}), flush=True)
    poller = select.epoll()
    for sock in socks:
        poller.register(sock.fileno(), select.EPOLLIN)
    by_fd = {sock.fileno(): sock for sock in socks}
    events = 0
    first = last = None
    end = time.monotonic() + args.duration
    while not stopping and time.monotonic() < end:
        for fd, _ in poller.poll(0.2):
            try:
                data = by_fd[fd].recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                poller.unregister(fd)
                continue
            count = data.count(b"\r\nPrivilege: agent,all\r\n")
            if count:
                now = time.monotonic()
                first = now if first is None else first
                last = now
                events += count
    seconds = (last - first) if first is not None and last > first else 0.0
    print(
        json.dumps(
            {
                "clients": logged_in,
                "events": events,
                "seconds": seconds,
                "events_per_second": events / seconds if seconds else 0.0,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
