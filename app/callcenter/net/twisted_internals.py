"""Every use of Twisted's private API, in one place, each with why the public API does not do.

Layer: protocols and wiring (what they need of Twisted that Twisted does not publish).
tests/net/test_twisted_internals.py pins each one, so that a Twisted upgrade that changes any
of them fails there, loudly, by name. The same from Twisted 22.4 to today.
"""

from typing import Any, Callable

from twisted.internet import abstract, tcp
from twisted.protocols import policies


def send_now(transport: Any, data: bytes) -> bool:
    """``transport.write(data)``, but on a plain TCP or Unix connection with nothing
    waiting in its buffer, sent at once: one ``send()`` now instead of registering for
    writability and sending on the reactor's next turn (two ``epoll_ctl`` calls and a
    loop iteration saved, for every reply and for each of thousands of event copies).
    What the socket does not take, and any error, is left to ``transport.write``. Whether
    it all went at once, so that nothing is left unsent (``unsent_bytes`` is 0).

    Private: ``_tempDataLen`` and ``dataBuffer`` (whether anything waits to be sent; the
    public ``write`` always buffers and waits for writability) and the connection's
    ``socket``. Anything else, TLS above all (its wrapper forwards ``.socket`` to the raw
    connection), goes through ``transport.write``."""
    if (
        isinstance(transport, tcp.Connection)
        and transport.connected
        and not transport.disconnecting
        and not transport.dataBuffer
        and not transport._tempDataLen
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:
            sent = 0
        if sent == len(data):
            return True
        data = data[sent:]
    transport.write(data)
    return False


def unsent_bytes(transport: Any) -> int:
    """Bytes written to ``transport`` that the kernel has not taken yet.

    Private: Twisted has no public call for it. Every socket transport is a
    FileDescriptor that keeps its output in ``dataBuffer`` (sent up to ``offset``) and
    ``_tempDataBuffer`` (``_tempDataLen`` bytes). A TLS transport, and the plain-client
    check under it, are protocol wrappers that pass their output straight down."""
    while isinstance(transport, policies.ProtocolWrapper):
        transport = transport.transport
    if not isinstance(transport, abstract.FileDescriptor):
        return 0
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def is_listening_port(port: Any) -> bool:
    """Whether the accept loop of ``port`` can be wrapped (a TCP or Unix listening port)."""
    return isinstance(port, tcp.Port)


def wrap_accept(port: Any, accept: "Callable[[Callable[[], None]], None]") -> None:
    """Run ``accept(original)`` whenever the listening ``port`` has connections to accept,
    ``original`` being Twisted's own accept loop.

    Private: ``tcp.Port.doRead`` is the accept loop; Twisted offers no hook before it (a
    port is built by ``listenTCP`` inside the endpoint, so it cannot be subclassed). Done
    before the reactor runs again after listening, so before any connection is accepted."""
    original = port.doRead
    port.doRead = lambda: accept(original)


def accepts_per_read(port: Any) -> int:
    """How many connections the port's accept loop takes at most in one go.

    Private: ``tcp.Port.numberAccepts``, which Twisted adapts itself (up to 100)."""
    return int(port.numberAccepts)


def set_accepts_per_read(port: Any, count: int) -> None:
    """Accept at most ``count`` connections in the next go (Twisted grows it again)."""
    port.numberAccepts = count


def raise_listen_errors_at_start(listening: Any) -> None:
    """Make a ``StreamServerEndpointService`` fail ``startService`` (so twistd stops with the
    error) when its port cannot be had, instead of logging it and running without it.

    Private: ``_raiseSynchronously``, which ``strports.service`` sets the same way; there is
    no public argument for it."""
    listening._raiseSynchronously = True


def exit_zero_after_a_clean_stop(reactor: Any) -> None:
    """After a SIGTERM or SIGINT that stopped the server cleanly, twistd would kill itself
    with that signal again (so that its parent sees the signal); the server exits 0, as
    ``callcenter-server`` does and as the tests and the role expect.

    Private: the reactor's ``_exitSignal``, which twistd reads after the reactor stops;
    there is no public way to say a signal was handled."""
    reactor._exitSignal = None


def quiet_http_client_connections() -> None:
    """Twisted's HTTP client logs "Starting factory" and "Stopping factory" for every
    connection it opens; the etcd client (``--etcd``) opens one for each lease keepalive, a
    few a second. Those lines go; errors are still logged by whoever made the request.

    Private: ``_HTTP11ClientFactory``, the factory of ``Agent``'s connections, has no public
    name; ``noisy`` is the public attribute of every ``Factory`` that says whether it logs so."""
    from twisted.web.client import _HTTP11ClientFactory

    _HTTP11ClientFactory.noisy = False
