"""A plain client on a TLS port gets an error line it can read, instead of a silent close.

Layer: wiring (the listening ports of ``server.py``). An ``ssl:`` endpoint listens with
``reactor.listenSSL``, which is ``listenTCP`` with the factory wrapped in TLS
(``TLSMemoryBIOFactory``). :class:`PlainClientAnsweringReactor` gives the endpoint that same
``listenSSL`` with one more wrapper under the TLS layer, :class:`TLSOnlyProtocol`, built
before the port listens: public API only.
"""

from typing import Any

from twisted.internet import interfaces
from twisted.protocols import policies, tls
from zope.interface import implementer

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


class PlainClientAnsweringFactory(policies.WrappingFactory):
    """A TLS factory (``TLSMemoryBIOFactory``) with :class:`TLSOnlyProtocol` under it."""

    protocol = TLSOnlyProtocol

    def logPrefix(self) -> str:
        # The port's "... starting on PORT" line names the TLS factory, as without this one.
        return str(self.wrappedFactory.logPrefix())


def answering_plain_clients(tls_factory: Any) -> PlainClientAnsweringFactory:
    return PlainClientAnsweringFactory(tls_factory)


@implementer(interfaces.IReactorSSL)
class PlainClientAnsweringReactor(object):
    """What an ``ssl:`` server endpoint needs of a reactor (``listenSSL``), listening as the
    reactor's own does, with a plain client answered (see the module doc)."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def listenSSL(self, port: int, factory: Any, contextFactory: Any, backlog: int = 50, interface: str = "") -> Any:
        tls_factory = tls.TLSMemoryBIOFactory(contextFactory, False, factory)
        return self.reactor.listenTCP(port, answering_plain_clients(tls_factory), backlog, interface)

    def connectSSL(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a server endpoint's reactor: it only listens")


def endpoint_reactor(reactor: Any, description: str) -> Any:
    """The reactor to give ``serverFromString`` for ``description``: for ``ssl:``, one that
    answers plain clients; for any other, ``reactor`` itself."""
    if description.split(":", 1)[0] == "ssl":
        return PlainClientAnsweringReactor(reactor)
    return reactor
