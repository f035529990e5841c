"""bench.loadgen's request mix through the server's protocol, in process: CPU time a request
from the bytes a read brings to the replies written, without sockets or the reactor.

    python -m bench.server_mix CONNECTIONS [PASSES] [echo]

What ``bench.request_mix`` runs through the core, here as request lines: each of CONNECTIONS
connections (``CallCenterServerProtocol`` on a ``StringTransport``) gets loadgen's cycle
(call, call, answer, hangup, reject, hangup), 16 request lines a read (loadgen's pipelined
window), the connections in turns: 60,000 requests a pass, each pass on a fresh server of
50 operators (ring timeout 10 s, the reactor's clock, timers that never fire). Prints the fastest and the median pass.
Runs against the server before events (``c8212d1``) as well, for A/B, and with ``echo``
against ``bench.echo_server`` (the framework's ceiling of section 2); under ``valgrind
--tool=callgrind``, the difference of a run of 2 passes and one of 1 is the instructions of
one pass.
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


def reads(connections, operators):
    """(connection number, bytes of one read) in the order the server gets them: the order
    of ``request_mix.requests``, WINDOW requests of a connection a read."""
    order = iter(requests(connections, operators))
    cycles = max(1, REQUESTS // connections // 6)
    chunks = []
    for start in range(0, cycles * 6, WINDOW):
        for number in range(connections):
            taken = [next(order) for _ in range(min(WINDOW, cycles * 6 - start))]
            lines = ['{"command": "%s", "id": "%s"}\n' % request for request in taken]
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
    timers = Timers()
    if EVENTS:
        center = CallCenter(operators, timers.call_later, 10, now=time.time)
    else:
        center = CallCenter(operators, timers.call_later, 10, lambda lines: None, now=time.time)
    factory = Factory.forProtocol(Echo) if ECHO else CallCenterServerFactory(center, timers.call_later)
    clients = []
    for number in range(connections):
        client = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000 + number))
        client.makeConnection(StringTransport())
        clients.append(client.dataReceived)
    started = time.process_time()
    for number, data in chunks:
        clients[number](data)
    return time.process_time() - started


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    connections = int(argv[0])
    passes = int(argv[1]) if len(argv) > 1 else 5
    global ECHO
    ECHO = argv[2:] == ["echo"]
    operators = operator_names(OPERATORS)
    chunks = reads(connections, operators)
    count = sum(data.count(b"\n") for _, data in chunks)
    times = sorted(one_pass(chunks, connections, operators) / count * 1e6 for _ in range(passes))
    print(
        "%s, %d connections: %d requests a pass (%d a read), CPU a request: fastest %.2f us, median %.2f us"
        % (
            "echo" if ECHO else "events" if EVENTS else "before events",
            connections,
            count,
            WINDOW,
            times[0],
            times[len(times) // 2],
        )
    )


if __name__ == "__main__":
    main()
