"""Check the server role's optional settings through the running server's wire protocol.

Usage: python3 options_check.py routing|auth|clean HOST PORT TOKEN_FILE AUTH_TIMEOUT MAX_UNAUTHENTICATED

For the queues of molecule/debian13/molecule.yml: support (C, D, E at level 1; ring-all, at most 2
waiting, weight 2), billing (F, C) and callback (G; a call waits at most 2 s), with a wrap-up.

routing: a call into the named queue support rings C and D at once (ring-all) and not E (level 1);
E takes one only when C and D are busy; a waiting call of priority 3 is offered before an older
one of priority 0 (status); the third waiting call is refused (queue full); C's hangup puts C in
wrap-up, and when it ends (an event) C takes support's call over billing's of a higher priority
(weight); a call into callback, whose operator is logged out, times out (an event). It leaves F
paused for lunch and calls s2 to s5 and b1 placed, for the page, /api/status, /metrics and the
client's status to show; clean hangs them up, unpauses F and waits for every wrap-up to end.
auth: a connection that sends no token is closed after the deadline with one error line, and the
oldest of one more than MAX_UNAUTHENTICATED such connections is closed at once with another.
Every wait is for a line from the server, bounded by a socket timeout. Python 3.6 compatible.
"""

import json
import socket
import sys
import time

WAIT = 30  # seconds any one line from the server may take, events included


class Connection:
    """One authenticated connection: requests get their replies; events are kept apart."""

    def __init__(self, host, port, token):
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.file = self.sock.makefile("rb")
        self.events = []
        reply = self.ask({"command": "auth", "token": token})
        if reply != {"response": "authenticated"}:
            raise SystemExit("the token was refused: %r" % (reply,))

    def read(self):
        line = self.file.readline()
        if not line.endswith(b"\n"):
            raise SystemExit("the server closed the connection or sent half a line: %r" % (line,))
        return json.loads(line.decode("utf-8"))

    def ask(self, request):
        self.sock.sendall((json.dumps(request) + "\n").encode("utf-8"))
        while True:
            message = self.read()
            if "event" in message:
                self.events.append(message["event"])
            else:
                return message

    def lines(self, request):
        """The reply's lines; an error reply ends the check."""
        reply = self.ask(request)
        if "response" not in reply:
            raise SystemExit("%s got %r" % (json.dumps(request), reply))
        return reply["response"].split("\n")

    def event(self, wanted):
        """The first event (kept or still to come) that holds the line ``wanted``."""
        while True:
            for event in self.events:
                if wanted in event.split("\n"):
                    self.events.remove(event)
                    return event
            message = self.read()
            if "event" not in message:
                raise SystemExit("a reply came with no request: %r" % (message,))
            self.events.append(message["event"])

    def close(self):
        self.file.close()
        self.sock.close()


def expect(what, got, want):
    if got != want:
        raise SystemExit("%s: expected %r, got %r" % (what, want, got))
    print("ok: %s" % what)


def routing(conn):
    c = conn.lines
    expect(
        "a call into queue support rings its level-0 operators at once (ring-all)",
        c({"command": "call", "id": "s1", "queue": "support"}),
        ["Call s1 received", "Call s1 ringing for operator C", "Call s1 ringing for operator D"],
    )
    expect("the first to answer takes it", c({"command": "answer", "id": "C"}), ["Call s1 answered by operator C"])
    expect(
        "the next call rings the level-0 operator still free",
        c({"command": "call", "id": "s2", "queue": "support"}),
        ["Call s2 received", "Call s2 ringing for operator D"],
    )
    c({"command": "answer", "id": "D"})
    expect(
        "the level-1 operator rings only when no level-0 one is free",
        c({"command": "call", "id": "s3", "queue": "support"}),
        ["Call s3 received", "Call s3 ringing for operator E"],
    )
    c({"command": "answer", "id": "E"})
    expect(
        "a call that finds support busy waits in it",
        c({"command": "call", "id": "s4", "queue": "support"}),
        ["Call s4 received", "Call s4 waiting in queue support"],
    )
    c({"command": "call", "id": "s5", "queue": "support", "priority": 3})
    expect(
        "support's max_queue 2 refuses a third waiting call",
        c({"command": "call", "id": "s6", "queue": "support"}),
        ["Call s6 received", "Call s6 refused: queue support full"],
    )
    status = c({"command": "status"})
    support = status[status.index("Queue support") + 1 : status.index("Queue billing")]
    expect(
        "status shows support's calls in offer order, the priority 3 first",
        [line for line in support if line.startswith("Queued")],
        ["Queued call s5 (priority 3)", "Queued call s4"],
    )
    expect("a pause with a reason", c({"command": "pause", "id": "F", "reason": "lunch"}), ["Operator F paused: lunch"])
    expect(
        "a call into billing waits while F is paused and C busy",
        c({"command": "call", "id": "b1", "queue": "billing", "priority": 5}),
        ["Call b1 received", "Call b1 waiting in queue billing"],
    )
    expect(
        "a hangup after an answer starts the wrap-up",
        c({"command": "hangup", "id": "s1"}),
        ["Call s1 finished and operator C in wrap-up"],
    )
    expect(
        "at the wrap-up's end C takes support's call, of the higher weight, before billing's older one"
        " of a higher priority",
        conn.event("Operator C available").split("\n"),
        ["Operator C available", "Call s5 ringing for operator C"],
    )
    expect("G logs out", c({"command": "logout", "id": "G"}), ["Operator G logged out"])
    started = time.time()
    expect(
        "a call into callback waits while G is logged out",
        c({"command": "call", "id": "c1", "queue": "callback"}),
        ["Call c1 received", "Call c1 waiting in queue callback"],
    )
    expect(
        "callback's max_wait ends the wait",
        conn.event("Call c1 timed out in queue callback"),
        "Call c1 timed out in queue callback",
    )
    print("    (after %.1f s)" % (time.time() - started))
    expect("G logs in", c({"command": "login", "id": "G"}), ["Operator G available"])
    status = c({"command": "status"})
    expect("status shows F's pause reason", "Operator F paused: lunch" in status, True)
    print("\n".join("    " + line for line in status))


def clean(conn):
    for call in ["s2", "s3", "s4", "s5", "b1"]:
        conn.ask({"command": "hangup", "id": call})
    conn.ask({"command": "unpause", "id": "F"})
    for _ in range(10):
        wrapping = [line.split()[1] for line in conn.lines({"command": "status"}) if line.endswith(" in wrap-up")]
        if not wrapping:
            break
        conn.event("Operator %s available" % wrapping[0])
    status = conn.lines({"command": "status"})
    busy = [line for line in status if not line.startswith("Queue ") and not line.endswith(" available")]
    expect("after the clean-up every operator is available and no call is left", busy, [])


def expelled(sock):
    """The one line a connection got before the server closed it, and the seconds it took."""
    started = time.time()
    with sock.makefile("rb") as sock_file:
        line = sock_file.readline()
        rest = sock_file.read()
    return json.loads(line.decode("utf-8")), rest, time.time() - started


def auth(host, port, deadline, limit):
    silent = [socket.create_connection((host, port), timeout=WAIT) for _ in range(limit + 1)]
    try:
        message, rest, _ = expelled(silent[0])
        expect(
            "one more than %d connections without the token closes the oldest" % limit,
            (message, rest),
            ({"error": "too many connections waiting to authenticate (limit %d)" % limit}, b""),
        )
    finally:
        for sock in silent:
            sock.close()
    sock = socket.create_connection((host, port), timeout=WAIT)
    with sock:
        message, rest, took = expelled(sock)
    expect(
        "a connection that sends no token is closed with one error line",
        (message, rest),
        ({"error": "authentication timed out"}, b""),
    )
    expect("not before the %g s deadline (it took %.1f s)" % (deadline, took), took >= deadline - 0.5, True)


def main():
    action, host, port, token_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if action == "auth":
        auth(host, port, float(sys.argv[5]), int(sys.argv[6]))
        return
    with open(token_file) as token:
        conn = Connection(host, port, token.read().strip())
    try:
        {"routing": routing, "clean": clean}[action](conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
