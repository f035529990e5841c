"""An accept loop that pauses when the process is out of file descriptors.

Layer: wiring (the listening ports of ``server.py``). Twisted's ``tcp.Port.doRead`` meets
``EMFILE`` by releasing a reserved descriptor and accepting and closing every waiting
connection, with three log lines for each: under a flood of clients that is a flood of log
lines and of dropped connections. Here the port first counts the free descriptors (``dup``
of its own socket); when none is, it stops reading and tries again after
``ACCEPT_RETRY_DELAY``, leaving waiting clients in the kernel's backlog until a descriptor
is free; when only some are free, it accepts only that many. Twisted's own recovery stays
as a last resort. The hook into the port is :mod:`callcenter.net.twisted_internals`'.
"""

import errno
import os
from typing import Any, Callable, List

from twisted.internet import interfaces
from twisted.logger import Logger
from zope.interface import implementer

from callcenter.net.ratelimit import CountingLog
from callcenter.net.twisted_internals import accepts_per_read, is_listening_port, set_accepts_per_read, wrap_accept

log = Logger()

ACCEPT_RETRY_DELAY = 0.5  # seconds without accepting once out of file descriptors
OUT_OF_DESCRIPTORS_LOG_PERIOD = 10.0  # seconds between two lines saying so, at least
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


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
    if not is_listening_port(port):
        return
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

    def accept_while_descriptors_last(accept: Callable[[], None]) -> None:
        free = _free_descriptors(port.fileno(), accepts_per_read(port))
        if not free:
            port.stopReading()
            count_pause()
            call_later(ACCEPT_RETRY_DELAY, resume)
            return
        set_accepts_per_read(port, free)  # no more at once than there are descriptors for
        accept()

    wrap_accept(port, accept_while_descriptors_last)


@implementer(interfaces.IStreamServerEndpoint)
class GuardedEndpoint(object):
    """A server endpoint whose ports pause accepting when out of file descriptors."""

    def __init__(self, endpoint: Any, reactor: Any) -> None:
        self.endpoint = endpoint
        self.reactor = reactor

    def listen(self, factory: Any) -> Any:
        def guard(port: Any) -> Any:
            pause_accepting_when_out_of_descriptors(port, self.reactor.callLater)
            return port

        return self.endpoint.listen(factory).addCallback(guard)
