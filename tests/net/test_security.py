"""Connection limit, authentication and the rate-limited log, on StringTransport and task.Clock."""

import pytest
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from callcenter.cli.client import RequestCorrelator
from callcenter.core.center import CallCenter
from callcenter.net.protocol import CallCenterClientFactory, CallCenterServerFactory
from callcenter.net.ratelimit import CountingLog
from callcenter.net.wire import encode, encode_auth, encode_request
from support import DurableServer, ProtocolServer, RecordingOutput, make_certificates, replies

TOKEN = "s3cret-token-\u00e9"


def test_counting_log_writes_the_first_at_once_then_one_line_a_period_with_the_count():
    clock = Clock()
    lines = []
    count = CountingLog(clock.callLater, lines.append, period=1.0)
    count()
    assert lines == [1]
    for _ in range(500):
        count()
    assert lines == [1]
    clock.advance(1)
    assert lines == [1, 500]
    clock.advance(1)
    clock.advance(5)
    assert lines == [1, 500]  # quiet: no line, and the next one is written at once again
    count()
    count.flush()
    assert lines == [1, 500, 1]


def test_past_the_connection_limit_one_error_line_then_closed_and_the_others_carry_on(twisted_log):
    server = ProtocolServer(max_connections=2)
    first, first_transport = server.connect()
    server.connect()
    refused = []
    for _ in range(1000):
        connection, transport = server.connect()
        assert transport.value() == b'{"error": "too many connections (limit 2)"}\n'
        assert transport.disconnecting
        refused.append(connection)
    assert len(server.factory.clients) == 2
    first.dataReceived(encode_request("call", "1"))
    assert replies(first_transport) == [{"response": "Call 1 received\nCall 1 ringing for operator A"}]
    server.clock.advance(1)
    server.factory.stopFactory()
    refusal_lines = [line for line in twisted_log if "too many connections" in line]
    assert refusal_lines == [
        "Refused 1 connection(s) since the last such message: too many connections (limit 2, --max-connections)",
        "Refused 999 connection(s) since the last such message: too many connections (limit 2, --max-connections)",
    ]
    first.connectionLost()
    connection, transport = server.connect()
    connection.dataReceived(encode_request("status", None))
    assert replies(transport) == [{"response": "Operator A ringing with call 1\nOperator B available"}]


def authenticating_server():
    return ProtocolServer(auth_token=TOKEN.encode("utf-8"))


def test_with_a_token_every_request_before_it_is_refused_and_changes_nothing():
    server = authenticating_server()
    connection, transport = server.connect()
    connection.dataReceived(encode_request("call", "1") + b"not json\n" + b'{"command": "auth"}\n' + b"[1]{}\n")
    assert replies(transport) == [{"error": "authentication required"}] * 5
    assert not transport.disconnecting
    connection.dataReceived(encode_auth(TOKEN) + encode_request("status", None))
    assert replies(transport) == [
        {"response": "authenticated"},
        {"response": "Operator A available\nOperator B available"},
    ]
    connection.dataReceived(encode_auth(TOKEN))
    assert replies(transport) == [{"error": "already authenticated"}]


def test_a_token_among_several_requests_on_one_line_counts_in_its_place():
    server = authenticating_server()
    connection, transport = server.connect()
    connection.dataReceived(b'{"command": "status"}' + encode_auth(TOKEN).strip() + b'{"command": "status"}\n')
    assert replies(transport) == [
        {"error": "authentication required"},
        {"response": "authenticated"},
        {"response": "Operator A available\nOperator B available"},
    ]
    other, other_transport = server.connect()
    other.dataReceived(encode_auth("wrong").strip() + b'{"command": "status"}{"command": "status"}\n')
    assert replies(other_transport) == [{"error": "authentication failed"}]
    assert other_transport.disconnecting


def test_a_wrong_token_is_refused_and_the_connection_closed_without_logging_any_token(twisted_log):
    server = authenticating_server()
    connection, transport = server.connect()
    connection.dataReceived(
        encode_request("status", None) + encode_auth("guess") + encode_auth(TOKEN) + encode_request("call", "1")
    )
    assert replies(transport) == [{"error": "authentication required"}, {"error": "authentication failed"}]
    assert transport.disconnecting
    assert any("authentication failed" in line for line in twisted_log)
    assert not any("guess" in line or "s3cret" in line for line in twisted_log)
    other, other_transport = server.connect()
    other.dataReceived(encode_auth(TOKEN) + encode_request("status", None))
    assert replies(other_transport)[1] == {"response": "Operator A available\nOperator B available"}


@pytest.mark.parametrize("token", ["", "s3cret-token-", TOKEN + "x", TOKEN.upper()])
def test_only_the_exact_token_is_accepted(token):
    server = authenticating_server()
    connection, transport = server.connect()
    connection.dataReceived(encode_auth(token))
    assert replies(transport) == [{"error": "authentication failed"}]
    assert transport.disconnecting


def test_without_a_token_configured_an_auth_request_is_answered_and_changes_nothing():
    server = ProtocolServer()
    connection, transport = server.connect()
    connection.dataReceived(encode_auth(TOKEN) + encode_request("status", None))
    assert replies(transport) == [
        {"error": "this server takes no token"},
        {"response": "Operator A available\nOperator B available"},
    ]


def connect_client(remote):
    connection = CallCenterClientFactory(remote).buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)
    return connection, transport


def test_the_client_sends_its_token_first_on_every_connection_and_prints_nothing_of_it():
    output = RecordingOutput()
    remote = RequestCorrelator(output, TOKEN)
    connection, transport = connect_client(remote)
    assert transport.value() == encode_auth(TOKEN)
    remote.send("status", None)
    connection.dataReceived(encode("response", "authenticated") + encode("response", "Operator A available"))
    assert remote.authenticated.result is None
    assert output.out == ["Operator A available"]
    connection.connectionLost(Failure(ConnectionLost("gone")))
    connection, transport = connect_client(remote)
    assert transport.value() == encode_auth(TOKEN)  # again, before anything else
    connection.dataReceived(encode("error", "authentication failed"))
    assert output.errors[-1] == "the server refused the token: authentication failed"
    assert not any(TOKEN in line for line in output.out + output.errors)


def test_the_client_learns_of_a_refused_token_and_of_a_server_without_tokens():
    refused = RequestCorrelator(RecordingOutput(), "wrong")
    connection, _ = connect_client(refused)
    connection.dataReceived(encode("error", "authentication failed"))
    assert refused.authenticated.result == "authentication failed"
    tokenless = RequestCorrelator(RecordingOutput(), TOKEN)
    connection, _ = connect_client(tokenless)
    connection.dataReceived(encode("error", "this server takes no token"))
    assert tokenless.authenticated.result is None
    assert tokenless.output.errors == []


def test_without_a_token_the_client_explains_authentication_required():
    output = RecordingOutput()
    remote = RequestCorrelator(output)
    connection, transport = connect_client(remote)
    assert transport.value() == b""
    remote.send("status", None)
    connection.dataReceived(encode("error", "authentication required"))
    assert output.errors == [
        "authentication required: give the server's token with --auth-token-file or $CALLCENTER_AUTH_TOKEN_FILE"
    ]


def test_events_reach_only_clients_that_sent_the_token():
    server = ProtocolServer(auth_token=TOKEN.encode("utf-8"), auth_timeout=60)  # the stranger stays past the ring
    member, member_transport = server.connect()
    stranger, stranger_transport = server.connect()
    member.dataReceived(encode_auth(TOKEN) + encode_request("call", "1"))
    stranger.dataReceived(encode_request("status", None))
    member_transport.clear()
    stranger_transport.clear()
    server.clock.advance(10)  # call 1 is ignored by A: an event that names it
    assert replies(member_transport) == [{"event": "Call 1 ignored by operator A\nCall 1 ringing for operator B"}]
    stranger.dataReceived(encode_request("status", None))  # nor is it owed to it later
    assert replies(stranger_transport) == [{"error": "authentication required"}]
    # Once it has sent the token, it hears the events that come after.
    stranger.dataReceived(encode_auth(TOKEN))
    replies(stranger_transport)
    server.clock.advance(10)
    assert replies(stranger_transport) == [{"event": "Call 1 ignored by operator B\nCall 1 ringing for operator A"}]


def test_a_refused_token_closes_the_connection_only_after_its_reply_even_when_a_journal_holds_it(tmp_path):

    server = DurableServer(tmp_path)
    server.factory.auth_token = TOKEN.encode("utf-8")
    member, member_transport = server.connect()
    member.dataReceived(encode_auth(TOKEN))
    replies(member_transport)
    guesser, guesser_transport = server.connect()
    # A command of the member's waits for its commit; the guesser's replies wait behind it.
    member.dataReceived(encode_request("call", "1"))
    guesser.dataReceived(encode_request("status", None) + encode_auth("guess") + encode_auth(TOKEN))
    assert guesser_transport.value() == b"" and not guesser_transport.disconnecting
    server.clock.advance(0)
    assert replies(guesser_transport) == [{"error": "authentication required"}, {"error": "authentication failed"}]
    assert guesser_transport.disconnecting
    assert replies(member_transport) == [{"response": "Call 1 received\nCall 1 ringing for operator A"}]


def test_an_ssl_endpoint_listens_with_the_plain_client_check_under_the_tls_layer(tmp_path):
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor
    from twisted.protocols import policies, tls

    from callcenter.wiring.tls_sniffing import TLSOnlyProtocol, endpoint_reactor

    reactor = MemoryReactor()
    assert endpoint_reactor(reactor, "tcp:0") is reactor
    factory = CallCenterServerFactory(CallCenter(["A"], ring_timeout=0), Clock().callLater)

    paths = make_certificates(str(tmp_path))
    description = "ssl:0:privateKey=%s:certKey=%s" % (paths["key"], paths["cert"])
    endpoint = serverFromString(endpoint_reactor(reactor, description), description)
    endpoint.listen(factory)
    ((_, sniffing, _, _),) = reactor.tcpServers
    assert isinstance(sniffing, policies.WrappingFactory) and sniffing.protocol is TLSOnlyProtocol
    assert sniffing.logPrefix() == "CallCenterServerFactory (TLS)"  # the port's log line, as before
    assert isinstance(sniffing.wrappedFactory, tls.TLSMemoryBIOFactory)
    assert sniffing.wrappedFactory.wrappedFactory is factory


def test_a_connection_without_the_token_in_time_gets_one_error_line_and_is_closed():
    server = ProtocolServer(auth_token=TOKEN.encode("utf-8"), auth_timeout=10)
    late, late_transport = server.connect()
    on_time, on_time_transport = server.connect()
    late.dataReceived(encode_request("status", None))
    server.clock.advance(9)
    on_time.dataReceived(encode_auth(TOKEN))
    assert not late_transport.disconnecting
    server.clock.advance(1)
    assert replies(late_transport) == [{"error": "authentication required"}, {"error": "authentication timed out"}]
    assert late_transport.disconnecting
    late.dataReceived(encode_auth(TOKEN))  # closing: nothing more is answered
    assert late_transport.value() == b""
    server.clock.advance(100)
    assert not on_time_transport.disconnecting
    on_time.dataReceived(encode_request("status", None))
    assert replies(on_time_transport) == [
        {"response": "authenticated"},
        {"response": "Operator A available\nOperator B available"},
    ]
    assert server.clock.getDelayedCalls() == []  # no deadline left behind


def test_without_a_token_there_is_no_deadline():
    server = ProtocolServer(auth_timeout=10)
    connection, transport = server.connect()
    assert server.clock.getDelayedCalls() == []
    server.clock.advance(1000)
    assert not transport.disconnecting
    connection.dataReceived(encode_request("status", None))
    assert replies(transport) == [{"response": "Operator A available\nOperator B available"}]


def test_a_closed_connection_leaves_no_deadline_and_no_place_in_the_pool():
    server = ProtocolServer(auth_token=TOKEN.encode("utf-8"), auth_timeout=10, max_unauthenticated=2)
    connection, _ = server.connect()
    connection.connectionLost()
    assert server.clock.getDelayedCalls() == []
    assert len(server.factory.unauthenticated) == 0


def test_a_full_pool_of_unauthenticated_connections_gives_the_place_of_the_oldest_to_the_new_one():
    server = ProtocolServer(auth_token=TOKEN.encode("utf-8"), max_unauthenticated=3)
    client, client_transport = server.connect()
    client.dataReceived(encode_auth(TOKEN))  # authenticated: out of the pool, never expelled
    silent = [server.connect() for _ in range(3)]
    newer = [server.connect() for _ in range(2)]
    reason = "too many connections waiting to authenticate (limit 3)"
    for _, transport in silent[:2]:
        assert replies(transport) == [{"error": reason}]
        assert transport.disconnecting
    for _, transport in silent[2:] + newer:
        assert transport.value() == b""
        assert not transport.disconnecting
    assert list(server.factory.unauthenticated) == [silent[2][0]] + [connection for connection, _ in newer]
    assert server.factory.clients == {client, silent[2][0]} | {connection for connection, _ in newer}
    newcomer, newcomer_transport = newer[0]
    newcomer.dataReceived(encode_auth(TOKEN) + encode_request("status", None))
    assert replies(newcomer_transport) == [
        {"response": "authenticated"},
        {"response": "Operator A available\nOperator B available"},
    ]
    client.dataReceived(encode_request("status", None))
    assert replies(client_transport)[-1] == {"response": "Operator A available\nOperator B available"}
    assert not client_transport.disconnecting


def test_when_every_place_is_taken_a_new_connection_takes_the_place_of_the_oldest_unauthenticated():
    server = ProtocolServer(auth_token=TOKEN.encode("utf-8"), max_connections=3, max_unauthenticated=100)
    client, client_transport = server.connect()
    client.dataReceived(encode_auth(TOKEN))
    silent = [server.connect() for _ in range(2)]
    newcomer, newcomer_transport = server.connect()
    assert replies(silent[0][1]) == [{"error": "too many connections waiting to authenticate (limit 100)"}]
    assert not silent[1][1].disconnecting
    newcomer.dataReceived(encode_auth(TOKEN))
    assert replies(newcomer_transport) == [{"response": "authenticated"}]
    third, third_transport = server.connect()
    assert replies(silent[1][1]) == [{"error": "too many connections waiting to authenticate (limit 100)"}]
    third.dataReceived(encode_auth(TOKEN))
    assert replies(third_transport) == [{"response": "authenticated"}]
    _, refused_transport = server.connect()  # every place authenticated: the usual refusal
    assert refused_transport.value() == b'{"error": "too many connections (limit 3)"}\n'
    assert not client_transport.disconnecting and not newcomer_transport.disconnecting
