"""One test for each private Twisted API that callcenter.net.twisted_internals uses: each fails,
by name, when a Twisted upgrade changes what it relies on."""

import signal
import socket

import pytest
from twisted.application import app, internet
from twisted.internet import defer, error, protocol, tcp
from twisted.internet.base import ReactorBase
from twisted.internet.testing import MemoryReactor
from twisted.protocols import policies, tls
from twisted.scripts import twistd

from callcenter.net import twisted_internals
from support import make_tcp_transport


def test_send_now_relies_on_the_write_buffers_and_the_socket_of_a_tcp_connection():
    transport, reactor = make_tcp_transport(limit=3)
    assert (transport.dataBuffer, transport._tempDataLen) == (b"", 0)  # nothing waits: send at once
    twisted_internals.send_now(transport, b"hello")
    assert transport.socket.sent == b"hel"  # the socket Twisted writes to
    assert transport._tempDataLen == 2 and transport in reactor.getWriters()  # the rest, Twisted's


def test_unsent_bytes_relies_on_the_buffers_of_a_file_descriptor_under_any_wrapper():
    transport, _ = make_tcp_transport(limit=3)
    transport.write(b"hello")
    assert (transport.dataBuffer, transport.offset, transport._tempDataLen) == (b"", 0, 5)
    transport.doWrite()
    assert (len(transport.dataBuffer) - transport.offset, transport._tempDataLen) == (2, 0)
    wrapper = policies.ProtocolWrapper(policies.WrappingFactory(protocol.Factory()), protocol.Protocol())
    wrapper.makeConnection(transport)
    assert issubclass(tls.TLSMemoryBIOProtocol, policies.ProtocolWrapper)  # a TLS transport unwraps too
    assert twisted_internals.unsent_bytes(wrapper) == 2


class Accepted(protocol.Factory):
    protocol = protocol.Protocol

    def __init__(self):
        self.built = 0

    def buildProtocol(self, addr):
        self.built += 1
        return protocol.Factory.buildProtocol(self, addr)


def test_wrap_accept_relies_on_doread_being_the_accept_loop_and_numberaccepts_its_batch():
    factory = Accepted()
    port = tcp.Port(0, factory, interface="127.0.0.1", reactor=MemoryReactor())
    port.startListening()
    clients = []
    try:
        assert twisted_internals.is_listening_port(port)
        assert isinstance(twisted_internals.accepts_per_read(port), int)
        seen = []
        twisted_internals.wrap_accept(port, lambda accept: (seen.append(True), accept()))
        address = port.getHost()
        clients = [socket.create_connection((address.host, address.port), timeout=5) for _ in range(2)]
        twisted_internals.set_accepts_per_read(port, 1)
        port.doRead()  # what the reactor calls when the listening socket is readable
        assert seen == [True] and factory.built == 1  # one accepted: numberAccepts was honoured
        port.doRead()
        assert factory.built == 2
    finally:
        for client in clients:
            client.close()
        port.socket.close()


class Refusing(object):
    def listen(self, factory):
        return defer.fail(error.CannotListenError("127.0.0.1", 1, OSError("in use")))


def test_raise_listen_errors_at_start_relies_on_raisesynchronously():
    listening = internet.StreamServerEndpointService(Refusing(), protocol.Factory())
    twisted_internals.raise_listen_errors_at_start(listening)
    with pytest.raises(error.CannotListenError):
        listening.startService()


def test_exit_zero_relies_on_the_reactors_exitsignal_which_twistd_reads():
    assert ReactorBase._exitSignal is None
    reactor = MemoryReactor()
    reactor._exitSignal = signal.SIGTERM  # what ReactorBase.sigTerm records
    twisted_internals.exit_zero_after_a_clean_stop(reactor)
    assert reactor._exitSignal is None
    # twistd's runner copies the reactor's _exitSignal once the reactor stops, and twistd
    # then kills itself with that signal when it is not None.
    assert "_exitSignal" in app.ApplicationRunner.startReactor.__code__.co_names
    assert "_exitSignal" in twistd.runApp.__code__.co_names


def test_quiet_http_client_connections_relies_on_the_factory_class_of_the_agents_connections():
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool, _HTTP11ClientFactory

    assert HTTPConnectionPool(reactor)._factory is _HTTP11ClientFactory  # what Agent's connections are made by
    twisted_internals.quiet_http_client_connections()
    assert _HTTP11ClientFactory(lambda _: None, "repr").noisy is False
