"""bench.loadgen's request mix through the server's protocol, in process: CPU time a request
from the bytes a read brings to the replies written, without sockets or the reactor.

    python -m bench.server_mix CONNECTIONS [PASSES] [echo | reactor | timers] [one]

What ``bench.request_mix`` runs through the core, here as request lines: each of CONNECTIONS
connections (``CallCenterServerProtocol`` on a ``StringTransport``) gets loadgen's cycle
(call, call, answer, hangup, reject, hangup), 16 request lines a read (loadgen's pipelined
window; with ``one``, one a read, as loadgen's one-at-a-time clients send them), the
connections in turns: 60,000 requests a pass, each pass on a fresh server of 50 operators.
Prints the fastest and the median pass. Runs against the server before events (``c8212d1``)
as well, for A/B, and with ``echo`` against ``bench.echo_server`` (the framework's ceiling of
section 2).

The core's timers: by default a heap of the reactor's shape (ring timeout 10 s, the wall
clock, never fired); with ``reactor``, a reactor's own ``DelayedCall``s (``callLater`` of a
``SelectReactor`` never run but for its ``runUntilCurrent`` after each read, as its loop
does); with ``timers``, the server's (``wiring.timers.ReactorTimers`` on such a reactor). On
a reactor the ring timeout is an hour, so that none fires however slowly a pass runs. Under
``valgrind --tool=callgrind``, the difference of a run of 2 passes and one of 1 is the
instructions of one pass.
"""

import heapq
import sys
import time

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport

from bench.echo_server import Echo
from bench.request_mix import OPERATORS, REQUESTS, WINDOW, requests

try:
    from callcenter.core.center import CallCenter, operator_names
    from callcenter.net.protocol import CallCenterServerFactory

    EVENTS = True
except ImportError:  # the server before events
    from callcenter.core import CallCenter, operator_names  # type: ignore
    from callcenter.protocol import CallCenterServerFactory  # type: ignore

    EVENTS = False

ECHO = False  # the echo server instead
TIMERS = ""  # "reactor" or "timers": on a reactor (see the docstring); "": on Timers


def reads(connections, operators, window=WINDOW):
    """(connection number, bytes of one read) in the order the server gets them: each
    connection's requests as ``request_mix.requests`` has them, ``window`` requests of a
    connection a read, the connections in turns."""
    order = iter(requests(connections, operators))
    length = max(1, REQUESTS // connections // 6) * 6
    streams = [[] for _ in range(connections)]
    for start in range(0, length, WINDOW):  # request_mix's order, WINDOW requests a turn
        for stream in streams:
            stream.extend(next(order) for _ in range(min(WINDOW, length - start)))
    chunks = []
    for start in range(0, length, window):
        for number, stream in enumerate(streams):
            lines = ['{"command": "%s", "id": "%s"}\n' % request for request in stream[start : start + window]]
            chunks.append((number, "".join(lines).encode("ascii")))
    return chunks


class Timers(object):
    """The reactor's timers as the server has them (``time.time``, a heap of delayed calls,
    a cancelled one left in it), never run: a pass is over long before a ring times out.
    (``task.Clock`` sorts its list at every ``callLater``.)"""

    def __init__(self):
        self.heap = []

    def call_later(self, delay, function, *args):
        timer = Timer()
        heapq.heappush(self.heap, (time.time() + delay, id(timer), timer))
        return timer


class Timer(object):
    __slots__ = ("cancelled",)

    def __init__(self):
        self.cancelled = False

    def cancel(self):
        self.cancelled = True

    def active(self):
        return not self.cancelled


def one_pass(chunks, connections, operators):
    """CPU seconds of one pass."""
    ring_timeout = 10
    turn = None
    if TIMERS:
        from twisted.internet.selectreactor import SelectReactor

        reactor = SelectReactor()
        call_later, now, turn, ring_timeout = reactor.callLater, reactor.seconds, reactor.runUntilCurrent, 3600
        if TIMERS == "timers":
            from callcenter.wiring.timers import ReactorTimers

            call_later = ReactorTimers(reactor.callLater, reactor.seconds).call_later
    else:
        call_later, now = Timers().call_later, time.time
    if EVENTS:
        center = CallCenter(operators, call_later, ring_timeout, now=now)
    else:
        center = CallCenter(operators, call_later, ring_timeout, lambda lines: None, now=now)
    factory = Factory.forProtocol(Echo) if ECHO else CallCenterServerFactory(center, call_later)
    clients = []
    for number in range(connections):
        client = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000 + number))
        client.makeConnection(StringTransport())
        clients.append(client.dataReceived)
    started = time.process_time()
    if turn is None:
        for number, data in chunks:
            clients[number](data)
    else:
        for number, data in chunks:
            clients[number](data)
            turn()
    return time.process_time() - started


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    connections = int(argv[0])
    passes = int(argv[1]) if len(argv) > 1 else 5
    global ECHO, TIMERS
    window = 1 if "one" in argv[2:] else WINDOW
    ECHO = "echo" in argv[2:]
    TIMERS = "reactor" if "reactor" in argv[2:] else "timers" if "timers" in argv[2:] else ""
    operators = operator_names(OPERATORS)
    chunks = reads(connections, operators, window)
    count = sum(data.count(b"\n") for _, data in chunks)
    times = sorted(one_pass(chunks, connections, operators) / count * 1e6 for _ in range(passes))
    print(
        "%s, %d connections: %d requests a pass (%d a read), CPU a request: fastest %.2f us, median %.2f us"
        % (
            "echo" if ECHO else ("events" if EVENTS else "before events") + (" on " + TIMERS if TIMERS else ""),
            connections,
            count,
            window,
            times[0],
            times[len(times) // 2],
        )
    )


if __name__ == "__main__":
    main()
