"""What keeps the server standing when clients are many: a rate-limited log line, and an
accept loop that pauses when the process is out of file descriptors.

Twisted's ``tcp.Port.doRead`` meets ``EMFILE`` by releasing a reserved descriptor and
accepting and closing every waiting connection, with three log lines for each: under a
flood of clients that is a flood of log lines and of dropped connections. Here the port
first counts the free descriptors (``dup`` of its own socket); when none is, it stops
reading and tries again after ``ACCEPT_RETRY_DELAY``, leaving waiting clients in the
kernel's backlog until a descriptor is free; when only some are free, it accepts only that
many. Twisted's own recovery stays as a last resort.
"""

import errno
import os
from typing import Any, Callable, List, Optional

from twisted.internet import interfaces, tcp
from twisted.logger import Logger
from twisted.protocols import policies, tls
from zope.interface import implementer

log = Logger()

ACCEPT_RETRY_DELAY = 0.5  # seconds without accepting once out of file descriptors
OUT_OF_DESCRIPTORS_LOG_PERIOD = 10.0  # seconds between two lines saying so, at least
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


class CountingLog(object):
    """A log line for something that may happen thousands of times a second: the first
    at once, then at most one a ``period`` with how many happened since the last one.
    ``emit(count)`` writes the line."""

    def __init__(self, call_later: Callable[..., Any], emit: Callable[[int], None], period: float = 1.0) -> None:
        self.call_later = call_later
        self.emit = emit
        self.period = period
        self.pending = 0
        self.timer: Optional[Any] = None

    def __call__(self) -> None:
        self.pending += 1
        if self.timer is None:
            self._next()

    def _next(self) -> None:
        if not self.pending:
            self.timer = None
            return
        count, self.pending = self.pending, 0
        self.emit(count)
        self.timer = self.call_later(self.period, self._next)

    def flush(self) -> None:
        """The count not yet written, now (when the server stops)."""
        if self.pending:
            count, self.pending = self.pending, 0
            self.emit(count)


def _free_descriptors(fd: int, wanted: int) -> int:
    """How many descriptors are free, counting up to ``wanted``: as many ``dup`` of ``fd`` as
    succeed, closed again at once (two cheap system calls for each connection the port may
    then accept)."""
    probes: List[int] = []
    try:
        while len(probes) < wanted:
            probes.append(os.dup(fd))
    except OSError as error:
        if error.errno not in _OUT_OF_DESCRIPTORS:
            raise
    finally:
        for probe in probes:
            os.close(probe)
    return len(probes)


def pause_accepting_when_out_of_descriptors(port: Any, call_later: Callable[..., Any]) -> None:
    """Make a listening TCP (or Unix) ``port`` stop accepting while no descriptor is free,
    instead of accepting and dropping connections with a log line each (see the module doc).
    Other kinds of port are left as they are."""
    if not isinstance(port, tcp.Port):
        return
    accept = port.doRead
    count_pause = CountingLog(
        call_later,
        lambda count: log.warn(
            "Out of file descriptors: not accepting new connections for now ({count} pauses of {delay} s "
            "since the last such message); connected clients are still served",
            count=count,
            delay=ACCEPT_RETRY_DELAY,
        ),
        OUT_OF_DESCRIPTORS_LOG_PERIOD,
    )

    def resume() -> None:
        if port.connected and not port.disconnecting:
            port.startReading()

    def accept_while_descriptors_last() -> None:
        free = _free_descriptors(port.fileno(), port.numberAccepts)
        if not free:
            port.stopReading()
            count_pause()
            call_later(ACCEPT_RETRY_DELAY, resume)
            return
        # Accept no more at once than there are descriptors for.
        port.numberAccepts = free
        accept()

    port.doRead = accept_while_descriptors_last  # type: ignore[method-assign]


TLS_HANDSHAKE_RECORD = b"\x16"  # the first byte a TLS client sends
PLAIN_CLIENT_OF_TLS_PORT = b'{"error": "this port speaks TLS: connect with tls:HOST:PORT:trustRoots=DIR"}\n'


class TLSOnlyProtocol(policies.ProtocolWrapper):
    """Under the TLS layer: a client whose first byte cannot begin a TLS handshake (a plain
    client sending JSON) gets one plain error line saying so, instead of a silent close."""

    checked = False
    transport: Any  # set by makeConnection

    def dataReceived(self, data: bytes) -> None:
        if not self.checked:
            self.checked = True
            if data[:1] != TLS_HANDSHAKE_RECORD:
                self.transport.write(PLAIN_CLIENT_OF_TLS_PORT)
                self.transport.loseConnection()
                return
        policies.ProtocolWrapper.dataReceived(self, data)


def answer_plain_clients_of_tls(port: Any) -> None:
    """Put :class:`TLSOnlyProtocol` under the TLS layer of a port that the ``ssl:`` endpoint
    made (a TCP port whose factory wraps every connection in TLS). Done before the reactor
    runs again, so before any connection is accepted."""
    if isinstance(port, tcp.Port) and isinstance(port.factory, tls.TLSMemoryBIOFactory):
        sniffing = policies.WrappingFactory(port.factory)
        sniffing.protocol = TLSOnlyProtocol
        port.factory = sniffing  # type: ignore[assignment]


@implementer(interfaces.IStreamServerEndpoint)
class GuardedEndpoint(object):
    """A server endpoint whose ports pause accepting when out of file descriptors and, on
    TLS, answer a plain client with an error it can read."""

    def __init__(self, endpoint: Any, reactor: Any) -> None:
        self.endpoint = endpoint
        self.reactor = reactor

    def listen(self, factory: Any) -> Any:
        def guard(port: Any) -> Any:
            pause_accepting_when_out_of_descriptors(port, self.reactor.callLater)
            answer_plain_clients_of_tls(port)
            return port

        return self.endpoint.listen(factory).addCallback(guard)
