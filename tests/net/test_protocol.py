"""The wire protocol, server and client side, with StringTransport and task.Clock."""

import json
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import tcp
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from callcenter.cli.client import RequestCorrelator
from callcenter.core.center import CallCenter
from callcenter.interfaces import ChangeNotStored, IDurableOutput
from callcenter.net import protocol as protocol_module
from callcenter.net.protocol import (
    BROADCAST_CHUNK,
    OUTPUT_BOUND,
    CallCenterClientFactory,
    CallCenterServerFactory,
)
from callcenter.net.twisted_internals import send_now, unsent_bytes
from callcenter.net.wire import WireError, decode_message, decode_subscribed, encode, encode_request
from support import ProtocolServer, RecordingOutput, StuckSocket, make_tcp_transport, read_golden, replies, request


def test_golden_transcript_over_the_protocol():
    commands, expected = read_golden()
    server = ProtocolServer()
    connection, transport = server.connect()
    out = []
    for text in commands:
        command, argument = text.split()
        connection.dataReceived(request(command, argument))
        (reply,) = replies(transport)
        out.append(reply["response"] + "\n")
    assert "".join(out) == expected


def test_requests_are_the_assignments_json():
    assert encode_request("call", "1") == b'{"command": "call", "id": "1"}\n'
    assert encode_request("status", None) == b'{"command": "status"}\n'
    assert encode("response", "Call 1 received") == b'{"response": "Call 1 received"}\n'


@pytest.mark.parametrize(
    "chunks",
    [
        [b'{"command": "call", "id": "1"}\n{"command": "call", "id": "2"}\n'],  # two in one read
        [b'{"command": "call", "id": "1"}\r\n{"command": "call", "id": "2"}\r\n'],  # CRLF
        [b'{"command": "ca', b'll", "id": "1"}\n{"comm', b'and": "call", "id": "2"}', b"\n"],  # split
        [bytes([byte]) for byte in b'{"command": "call", "id": "1"}\n{"command": "call", "id": "2"}\n'],
    ],
)
def test_framing(chunks):
    connection, transport = ProtocolServer().connect()
    for chunk in chunks:
        connection.dataReceived(chunk)
    assert replies(transport) == [
        {"response": "Call 1 received\nCall 1 ringing for operator A"},
        {"response": "Call 2 received\nCall 2 ringing for operator B"},
    ]


@pytest.mark.parametrize(
    "line, error",
    [
        (b"{bad", "request is not valid JSON"),
        (b"garbage", "request is not valid JSON"),
        (b"\xff\xfe", "request is not valid UTF-8"),
        (b"[" * 100000, "request longer than 16384 bytes"),
        (b"[" * 10000 + b"]" * 10000, "request longer than 16384 bytes"),
        (b"[" * 5000 + b"]" * 5000, None),  # deep nesting within the limit: not an object
        (b'["call", "1"]', 'request must be a JSON object like {"command": "call", "id": "1"}'),
        (b'"call 1"', 'request must be a JSON object like {"command": "call", "id": "1"}'),
        (b"{}", 'request needs a "command" string'),
        (b'{"command": 5}', 'request needs a "command" string'),
        (b'{"command": "call"}', "call needs an id"),
        (b'{"command": "call", "id": 1}', "call 1 is already in progress"),  # an integer id is its text
        (b'{"command": "call", "id": 1.5}', '"id" must be a string'),
        (b'{"command": "call", "id": true}', '"id" must be a string'),
        (b'{"command": "call", "id": ["1"]}', '"id" must be a string'),
        (b'{"command": "call", "id": null}', "call needs an id"),
        (b'{"command": "call", "id": "1 2"}', "invalid call id '1 2': use 1 to 64 printable characters, no spaces"),
        (b'{"command": "dial", "id": "1"}', "unknown command 'dial'"),
        (b'{"command": "status", "id": "1"}', "status takes no argument"),
        (b'{"command": "answer", "id": "Z"}', "no operator Z"),
        (b'{"command": "answer", "id": "B"}', "operator B is available, not ringing"),
        (b'{"command": "hangup", "id": "9"}', "no call 9 in progress"),
        (b'{"command": "call", "id": "1"}', "call 1 is already in progress"),
    ],
)
def test_bad_input_gets_one_error_reply_and_keeps_the_connection_and_state(line, error):
    server = ProtocolServer()
    connection, transport = server.connect()
    connection.dataReceived(request("call", "1"))
    replies(transport)
    before = server.factory.center.status()
    connection.dataReceived(line + b"\n" + request("status"))
    bad, status = replies(transport)
    assert list(bad) == ["error"]
    if error is not None:
        assert bad["error"] == error
    assert status == {"response": "\n".join(before)}
    assert not transport.disconnecting


def test_a_long_line_arriving_in_pieces_gets_one_error():
    connection, transport = ProtocolServer().connect()
    for _ in range(10):
        connection.dataReceived(b"x" * 5000)
    connection.dataReceived(b"\n" + request("status"))
    assert replies(transport) == [
        {"error": "request longer than 16384 bytes"},
        {"response": "Operator A available\nOperator B available"},
    ]


def test_ring_timeouts_are_events_to_every_client_not_replies():
    server = ProtocolServer(ring_timeout=10)
    first, first_transport = server.connect()
    _second, second_transport = server.connect()
    first.dataReceived(request("call", "1"))
    replies(first_transport)
    server.clock.advance(10)
    event = {"event": "Call 1 ignored by operator A\nCall 1 ringing for operator B"}
    assert replies(first_transport) == [event]
    assert replies(second_transport) == [event]


def test_clients_share_one_call_center_and_a_disconnect_changes_nothing():
    server = ProtocolServer()
    first, _first_transport = server.connect()
    second, second_transport = server.connect()
    first.dataReceived(request("call", "1"))
    second.dataReceived(request("answer", "A"))
    assert replies(second_transport) == [{"response": "Call 1 answered by operator A"}]
    first.connectionLost(Failure(ConnectionLost()))
    assert server.factory.clients == {second}
    second.dataReceived(request("status"))
    assert replies(second_transport) == [{"response": "Operator A busy with call 1\nOperator B available"}]


class ClientSide(object):
    def __init__(self):
        self.output = RecordingOutput()
        self.remote = RequestCorrelator(self.output)
        self.connection = CallCenterClientFactory(self.remote).buildProtocol(None)
        self.transport = StringTransport()
        self.connection.makeConnection(self.transport)


def test_client_sends_json_and_prints_replies_in_order():
    client = ClientSide()
    client.remote.send("call", "1")
    client.remote.send("hangup", "9")
    client.remote.send("status", None)
    assert client.transport.value() == (
        b'{"command": "call", "id": "1"}\n{"command": "hangup", "id": "9"}\n{"command": "status"}\n'
    )
    finished = client.remote.input_ended()
    client.connection.dataReceived(
        encode("response", "Call 1 received\nCall 1 ringing for operator A")
        + encode("event", "Call 1 ignored by operator A\nCall 1 ringing for operator B")
        + encode("error", "no call 9 in progress")
    )
    assert not finished.called  # one reply still to come
    client.connection.dataReceived(encode("response", "Operator A available"))
    assert finished.called
    assert client.output.out == [
        "Call 1 received",
        "Call 1 ringing for operator A",
        "Call 1 ignored by operator A",
        "Call 1 ringing for operator B",
        "Operator A available",
    ]
    assert client.output.errors == ["no call 9 in progress"]


def test_client_reports_lost_connection_and_refuses_commands_until_reconnected():
    client = ClientSide()
    client.remote.send("call", "1")
    client.connection.connectionLost(Failure(ConnectionLost("gone")))
    client.remote.send("call", "2")
    assert client.output.errors == [
        "connection to the server lost (Connection to the other side was lost in a non-clean fashion: gone.); "
        "reconnecting",
        "no reply to call: the connection was lost",
        "not connected to the server (reconnecting); call was not sent",
    ]
    assert client.remote.lost_replies == 1
    connection = CallCenterClientFactory(client.remote).buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)
    assert client.output.errors[-1] == "reconnected to the server"
    client.remote.send("call", "3")
    assert transport.value() == b'{"command": "call", "id": "3"}\n'


def test_client_own_requests_take_their_reply_unprinted_in_order():
    client = ClientSide()
    seen = []
    client.remote.ask("status", lambda kind, text: seen.append((kind, text)))
    client.remote.send("call", "1")
    client.connection.dataReceived(
        encode("response", "Operator A available\nOperator B available")
        + encode("response", "Call 1 received\nCall 1 ringing for operator A")
    )
    assert seen == [("response", "Operator A available\nOperator B available")]
    assert client.output.out == ["Call 1 received", "Call 1 ringing for operator A"]


def test_client_survives_garbage_from_the_server():
    client = ClientSide()
    client.connection.dataReceived(b"nonsense\n" + b'{"other": 1}\n')
    assert len(client.output.errors) == 2
    assert client.output.errors[0].startswith("the server sent a line that is not JSON")
    assert client.output.errors[1].startswith("the server sent an unexpected message")


def test_an_event_to_thousands_goes_out_a_chunk_a_turn_and_never_after_a_later_reply():
    server = ProtocolServer(ring_timeout=10)
    clients = [server.connect() for _ in range(BROADCAST_CHUNK * 2 + 500)]
    first, first_transport = clients[0]
    first.dataReceived(request("call", "1"))
    replies(first_transport)
    # The ring times out (task.Clock would run the next turns' sends within the same
    # advance, so the core's event is handed to the fan-out directly): the first chunk
    # of clients hears it at once, the others on the next reactor turns.
    (timer,) = server.clock.getDelayedCalls()
    timer.func(*timer.args)
    timer.cancel()
    event = {"event": "Call 1 ignored by operator A\nCall 1 ringing for operator B"}
    heard = [bool(transport.value()) for _, transport in clients]
    assert heard.count(True) == BROADCAST_CHUNK
    # A client not reached yet asks something: it gets the event first, then its reply.
    late, late_transport = clients[heard.index(False)]
    late.dataReceived(request("status"))
    assert replies(late_transport) == [event, {"response": "Operator A available\nOperator B ringing with call 1"}]
    server.clock.advance(0)
    server.clock.advance(0)
    assert server.factory.events == deque()
    # Everyone had it exactly once (the late client's copy was read above).
    assert [replies(transport) for _, transport in clients] == [
        [] if client is late else [event] for client, _ in clients
    ]
    # A client that connects afterwards owes nothing.
    newcomer, newcomer_transport = server.connect()
    newcomer.dataReceived(request("status"))
    assert list(replies(newcomer_transport)[0]) == ["response"]


def test_replies_to_one_read_go_out_in_one_write():
    connection, transport = ProtocolServer().connect()
    writes = []
    transport.write = writes.append
    connection.dataReceived(request("call", "1") + request("call", "2") + b"{bad\n")
    assert len(writes) == 1 and writes[0].count(b"\n") == 3


def test_send_now_sends_at_once_and_leaves_the_rest_to_the_transport():
    transport, reactor = make_tcp_transport(limit=5)
    assert not send_now(transport, b"hello world")
    assert transport.socket.sent == b"hello"
    assert transport in reactor.getWriters()  # the rest waits for writability
    assert not send_now(transport, b"!")  # something is buffered: no jumping the queue
    assert transport.socket.sent == b"hello"
    assert b"".join(transport._tempDataBuffer) == b" world!"


def test_send_now_writes_whole_data_without_the_reactor():
    transport, reactor = make_tcp_transport(limit=1000)
    assert send_now(transport, b"hello")  # all of it: nothing is left unsent
    assert transport.socket.sent == b"hello" and not reactor.getWriters() and unsent_bytes(transport) == 0


def test_send_now_leaves_other_transports_alone():
    transport = StringTransport()
    assert not send_now(transport, b"x")  # written: whether it went out, the transport knows
    assert transport.value() == b"x"


# Flow control on the server: a client that does not read its replies.


def test_a_connection_is_its_transports_streaming_producer_and_pauses_reading():
    connection, transport = ProtocolServer().connect()
    assert transport.producer is connection and transport.streaming
    # The transport's buffer is full (Twisted calls this past 64 KiB unsent): requests
    # already read wait, no reply is written, and reading stops.
    connection.pauseProducing()
    assert transport.producerState == "paused"
    connection.dataReceived(request("call", "1") + request("call", "2"))
    assert replies(transport) == []
    # Drained: reading resumes and the waiting requests are answered, in order.
    connection.resumeProducing()
    assert transport.producerState == "producing"
    assert replies(transport) == [
        {"response": "Call 1 received\nCall 1 ringing for operator A"},
        {"response": "Call 2 received\nCall 2 ringing for operator B"},
    ]


def connect_tcp(server, room):
    """A server connection over a real Twisted TCP transport whose peer reads nothing."""
    reactor = MemoryReactorClock()
    connection = server.factory.buildProtocol(None)
    transport = tcp.Connection(StuckSocket(room), connection, reactor=reactor)
    transport.connected = 1
    transport.getPeer = lambda: "peer"
    connection.makeConnection(transport)
    return connection, transport, reactor


def test_a_client_that_does_not_read_is_paused_then_resumed_and_gets_every_reply_in_order():
    server = ProtocolServer(operators=["A"], ring_timeout=0)
    connection, transport, reactor = connect_tcp(server, room=0)
    sent = 0
    while not connection.paused:  # requests until Twisted pauses the connection
        connection.dataReceived(b"".join(request("call", str(sent + n)) for n in range(100)))
        sent += 100
        assert sent < 10000
    assert transport.producerPaused and transport not in reactor.getReaders()
    buffered = unsent_bytes(transport)
    assert 64 * 1024 < buffered < 128 * 1024
    # More requests arrive while paused: read but not run, so nothing more is buffered.
    connection.dataReceived(request("call", "late"))
    assert unsent_bytes(transport) == buffered
    # The peer reads everything: the transport drains, resumes the connection, which
    # answers the waiting request.
    transport.socket.room = 10**9
    transport.doWrite()
    transport.doWrite()
    assert not connection.paused and transport in reactor.getReaders()
    lines = transport.socket.received.split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line) for line in lines[:-1]] == [
        {"response": "Call 0 received\nCall 0 ringing for operator A"}
    ] + [{"response": "Call %d received\nCall %d waiting in queue" % (n, n)} for n in range(1, sent)] + [
        {"response": "Call late received\nCall late waiting in queue"}
    ]


def test_a_client_past_the_output_limit_is_disconnected_with_one_log_line(twisted_log):
    server = ProtocolServer(operators=["A"], ring_timeout=1)
    server.factory.max_output_buffer = 1000
    _, stuck_transport, _ = connect_tcp(server, room=0)
    reader, reader_transport = server.connect()
    reader.dataReceived(request("call", "1"))
    replies(reader_transport)
    for _ in range(30):  # call 1 is ignored every second: an event each time
        server.clock.advance(1)
    # The client that reads got all 30; the one that does not was cut off once its
    # unsent events passed 1000 bytes (an event is about 80), with one log line.
    assert replies(reader_transport) == [{"event": "Call 1 ignored by operator A\nCall 1 ringing for operator A"}] * 30
    assert stuck_transport._aborting and not reader_transport.disconnecting
    unsent = len(b"".join(stuck_transport._tempDataBuffer))
    assert 1000 < unsent < 1100
    (line,) = [line for line in twisted_log if "past the limit" in line]
    assert line == (
        "Closing connection from peer: it is not reading; %d bytes of output unsent, "
        "past the limit of 1000 (--max-output-buffer)" % unsent
    )


def test_unsent_bytes_reads_what_twisted_keeps_in_a_socket_transport():
    """Pins the FileDescriptor attributes that unsent_bytes and send_now rely on."""
    transport, _ = make_tcp_transport(limit=3)
    transport.write(b"hello")
    assert (transport.dataBuffer, transport.offset, transport._tempDataLen) == (b"", 0, 5)
    assert unsent_bytes(transport) == 5
    transport.doWrite()
    assert transport.socket.sent == b"hel" and unsent_bytes(transport) == 2
    transport.write(b"!")
    assert unsent_bytes(transport) == 3
    assert unsent_bytes(StringTransport()) == 0


# The dialects of other people's clients (issue 9): each must yield the transcript.


def golden_requests(id_as_int=False):
    """The golden transcript's requests as JSON texts without a delimiter, and its replies."""
    commands, expected = read_golden()
    texts = []
    for text in commands:
        command, argument = text.split()
        value = int(argument) if id_as_int and argument.isdigit() else argument
        texts.append(json.dumps({"command": command, "id": value}).encode("ascii"))
    return texts, expected


def transcript(data, ending=b"\n"):
    """The replies' texts as the transcript prints them, checking each line's ending."""
    assert data.endswith(ending)
    lines = data[: -len(ending)].split(ending)
    assert all(not line.endswith(b"\r") for line in lines)
    return "".join(json.loads(line)["response"] + "\n" for line in lines)


@pytest.mark.parametrize(
    "dialect",
    ["crlf lines", "one bare object per write", "all bare objects in one write", "spaces between", "integer ids"],
)
def test_each_clients_dialect_gets_the_transcript(dialect):
    texts, expected = golden_requests(id_as_int=dialect == "integer ids")
    connection, transport = ProtocolServer().connect()
    if dialect == "crlf lines":
        connection.dataReceived(b"".join(text + b"\r\n" for text in texts))
    elif dialect == "one bare object per write":
        for text in texts:
            connection.dataReceived(text)
    elif dialect == "all bare objects in one write":
        connection.dataReceived(b"".join(texts))
    elif dialect == "spaces between":
        connection.dataReceived(b" \t".join(texts) + b"  ")
    else:
        connection.dataReceived(b"".join(text + b"\n" for text in texts))
    ending = b"\r\n" if dialect == "crlf lines" else b"\n"
    assert transcript(transport.value(), ending) == expected


def test_bare_objects_split_at_every_byte_boundary_get_the_transcript():
    texts, expected = golden_requests()
    data = b"".join(texts)
    for split in range(1, len(data)):
        connection, transport = ProtocolServer().connect()
        connection.dataReceived(data[:split])
        connection.dataReceived(data[split:])
        assert transcript(transport.value()) == expected, split
    connection, transport = ProtocolServer().connect()
    for byte in range(len(data)):
        connection.dataReceived(data[byte : byte + 1])
    assert transcript(transport.value()) == expected


def test_strings_with_braces_quotes_and_escapes_do_not_end_an_object_early():
    connection, transport = ProtocolServer().connect()
    tricky = b'{"command": "call", "id": "}{\\"\\\\", "note": "[{"}'
    for byte in range(len(tricky)):
        connection.dataReceived(tricky[byte : byte + 1])
    assert replies(transport) == [{"response": 'Call }{"\\ received\nCall }{"\\ ringing for operator A'}]


def test_a_crlf_client_gets_events_in_crlf_too():
    server = ProtocolServer()
    crlf, crlf_transport = server.connect()
    _, plain_transport = server.connect()
    crlf.dataReceived(request("call", "1").replace(b"\n", b"\r\n"))
    crlf_transport.clear()
    server.clock.advance(10)
    event = b'{"event": "Call 1 ignored by operator A\\nCall 1 ringing for operator B"}'
    assert crlf_transport.value() == event + b"\r\n"
    assert plain_transport.value() == event + b"\n"


@pytest.mark.parametrize(
    "chunks, errors",
    [
        # An unterminated object, then garbage, then the line ends: one error for the line.
        ([b'{"command": "call", "id": "1"', b" garbage\n"], ["request is not valid JSON"]),
        # Objects back to back on a line, the second broken: a reply each.
        ([b'{"command": "status"}{"command": \n'], [None, "request is not valid JSON"]),
        # An object over the limit, with no newline: one error, then the next is answered.
        ([b'{"command": "call", "id": "' + b"x" * 10000, b"y" * 10000 + b'"}'], ["request longer than 16384 bytes"]),
        # A bare string and a bare number instead of objects, and a stray closer.
        (
            [b'"call 1"', b" 42 ", b"}"],
            [
                'request must be a JSON object like {"command": "call", "id": "1"}',
                'request must be a JSON object like {"command": "call", "id": "1"}',
                "request is not valid JSON",
            ],
        ),
        # A bad object without a newline is answered as soon as it is complete.
        ([b'{"command": bad}'], ["request is not valid JSON"]),
        # Blank lines and whitespace are no request at all.
        ([b"\n\r\n   \n\t"], []),
    ],
)
def test_bad_input_in_the_bare_framing_gets_one_error_each_and_the_connection_goes_on(chunks, errors):
    server = ProtocolServer()
    connection, transport = server.connect()
    for chunk in chunks:
        connection.dataReceived(chunk)
    connection.dataReceived(b'{"command": "status"}')
    got = replies(transport)
    assert [reply.get("error") for reply in got[:-1]] == errors
    assert got[-1] == {"response": "Operator A available\nOperator B available"}
    assert not transport.disconnecting


def test_framing_is_linear_in_the_bytes_of_a_value_split_into_many_reads():
    # Counted, not timed: every read scans only its own bytes (the scanner keeps its place).
    connection, transport = ProtocolServer().connect()
    value = b'{"command": "call", "id": "' + b"z" * 60 + b'", "pad": "' + b"p" * 16000 + b'"}'
    for start in range(0, len(value), 7):
        connection.dataReceived(value[start : start + 7])
    assert connection.scanner.scanned_total == len(value)
    call = "z" * 60
    assert replies(transport) == [{"response": "Call %s received\nCall %s ringing for operator A" % (call, call)}]


def test_stats_is_a_request_like_status_and_its_reply_is_the_shells_lines():
    server = ProtocolServer()
    connection, transport = server.connect()
    connection.dataReceived(request("call", "1"))
    server.clock.advance(7)
    transport.clear()
    connection.dataReceived(request("answer", "A") + request("stats") + b'{"command": "stats", "id": "1"}\n')
    answer, stats, error = replies(transport)
    assert answer == {"response": "Call 1 answered by operator A"}
    assert stats["response"].split("\n") == server.factory.center.stats()
    assert stats["response"].split("\n")[6] == "Service level: 0.0% (0 of 1 answered within 5 s)"
    assert error == {"error": "stats takes no argument"}


def test_the_operators_request_lists_the_operator_ids_one_a_line():
    server = ProtocolServer(operators=("A", "/a", "a,b"))
    connection, transport = server.connect()
    connection.dataReceived(request("operators") + request("operators", "A"))
    assert replies(transport) == [{"response": "A\n/a\na,b"}, {"error": "unknown command 'operators'"}]


def completing_shell(server):
    """A client's shell that has asked ``server`` for what Tab completes, and had the replies."""
    from callcenter.cli.client import ask_for_completions
    from callcenter.cli.shell import CallCenterShell

    client = ClientSide()
    shell = CallCenterShell(client.remote.send, client.output)
    ask_for_completions(client.remote, shell)
    connection, transport = server.connect()
    connection.dataReceived(client.transport.value())
    client.connection.dataReceived(transport.value())
    transport.clear()
    return shell, connection, transport


def test_the_client_learns_the_operator_ids_for_completion_through_the_protocol():
    shell, _, _ = completing_shell(ProtocolServer(operators=("/a", "/b", "a,b")))
    assert shell.completions("answer /") == ["/a", "/b"]
    assert shell.completions("reject a") == ["a,b"]


def test_the_client_learns_the_queue_names_for_completion_through_the_protocol():
    from callcenter.core.queues import parse_queues

    server = ProtocolServer(queues=parse_queues("[sales]\noperators = A\n[support]\noperators = A, B\n"))
    shell, connection, transport = completing_shell(server)
    assert shell.completions("call 1 queue=s") == ["queue=sales", "queue=support"]
    connection.dataReceived(request("queues") + request("queues", "x"))
    assert replies(transport) == [{"response": "sales\nsupport"}, {"error": "unknown command 'queues'"}]


# Flow control per request (issue 18): the bound holds wherever it falls in a read.


def queued_call(n):
    return "late-reader-%04d-" % n + "x" * 40  # a long id: status replies grow fast


def late_reader_requests(pairs):
    """``call`` then ``status``, ``pairs`` times, each as a JSON text without its newline."""
    texts = []
    for n in range(pairs):
        texts.append(json.dumps({"command": "call", "id": queued_call(n)}).encode("ascii"))
        texts.append(b'{"command": "status"}')
    return texts


FRAMINGS = {
    "newline lines": lambda texts: b"".join(text + b"\n" for text in texts),
    "bare JSON values": lambda texts: b"".join(texts),
    # Seven to a line (a line holds at most 16 KiB), so that the bound falls inside one.
    "several values on one line": lambda texts: b"".join(
        b"".join(texts[start : start + 7]) + b"\n" for start in range(0, len(texts), 7)
    ),
}


def expected_replies(texts):
    """What a client that reads at once gets for ``texts``: a reply line each, in order."""
    connection, transport = ProtocolServer(operators=["A"], ring_timeout=0).connect()
    connection.dataReceived(b"".join(text + b"\n" for text in texts))
    return transport.value().splitlines(True)


def calls_handled(server):
    """How many of the pipelined calls the core has run (all but the first wait in the queue)."""
    return len(server.factory.center.queue) + 1


def written(transport):
    """What the transport has been given so far: sent to the peer, then still unsent."""
    return transport.socket.received + transport.dataBuffer[transport.offset :] + b"".join(transport._tempDataBuffer)


def drain(connection, transport):
    """The peer reads everything, a write at a time, until the connection has handled all."""
    transport.socket.room = 10**9
    for _ in range(1000):
        transport.doWrite()
        if not connection.paused and not unsent_bytes(transport):
            return
    raise AssertionError("still paused after 1000 writes")


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_a_connection_stops_at_the_request_whose_reply_passes_the_bound_and_goes_on_once_drained(framing):
    texts = late_reader_requests(200)
    server = ProtocolServer(operators=["A"], ring_timeout=0)
    connection, transport, _ = connect_tcp(server, room=0)
    connection.dataReceived(FRAMINGS[framing](texts))
    # One read of 400 requests: the connection stopped in the middle of it, at the reply
    # that took its unsent output past the bound; no request after that one has run.
    lines = written(transport).splitlines(True)
    assert connection.paused and transport.producerPaused
    assert unsent_bytes(transport) > OUTPUT_BOUND >= unsent_bytes(transport) - len(lines[-1])
    assert calls_handled(server) == (len(lines) + 1) // 2 < 200
    if framing == "several values on one line":
        assert len(lines) % 7  # inside a line
    # More bytes arrive meanwhile (Twisted's read already under way): kept, not handled.
    connection.dataReceived(FRAMINGS[framing](late_reader_requests(0)))
    assert written(transport).splitlines(True) == lines
    drain(connection, transport)
    assert transport.socket.received.splitlines(True) == expected_replies(texts)


def test_each_write_holds_the_replies_of_at_most_about_the_bound():
    connection, transport = ProtocolServer(operators=["A"], ring_timeout=0).connect()
    writes = []
    transport.write = writes.append
    connection.dataReceived(FRAMINGS["newline lines"](late_reader_requests(100)))
    assert len(writes) > 1 and all(len(data) - len(data.splitlines()[-1]) <= OUTPUT_BOUND for data in writes)
    assert b"".join(writes).splitlines(True) == expected_replies(late_reader_requests(100))


@implementer(IDurableOutput)
class FakeDurableOutput(object):
    """Commits done by hand: ``when_durable`` hands out the Deferred of the next commit
    once a command has changed state, ``commit`` fires it, ``refuse`` fails it."""

    def __init__(self, center):
        self.center = center
        self.next = None
        self.handed_out = 0

    def when_durable(self):
        if self.next is None and self.center.changed:
            self.next = Deferred()
        if self.next is not None:
            self.handed_out += 1
        return self.next

    def _take(self):
        waiting, self.next = self.next, None
        self.center.changed = False
        return waiting

    def commit(self):
        self._take().callback(None)

    def refuse(self, error):
        waiting = self._take()
        waiting.errback(error)
        # Every waiter passes the failure on (each connection hears it): the end of the
        # chain is the provider's, which fired it.
        waiting.addErrback(lambda failure: None)


class ChangingCenter(CallCenter):
    """The core, noting when a command changed state (what a journal would write)."""

    changed = False

    def execute(self, command, argument):
        lines = CallCenter.execute(self, command, argument)
        self.changed = self.changed or command in self.commands
        return lines

    def ring_timed_out(self, *args):
        self.changed = True  # journaled before its event goes out
        return CallCenter.ring_timed_out(self, *args)


def durable_server(operators=("A",), ring_timeout=0):
    server = ProtocolServer(operators, ring_timeout)
    center = ChangingCenter(list(operators), server.clock.callLater, ring_timeout, now=server.clock.seconds)
    durable = FakeDurableOutput(center)
    assert verifyObject(IDurableOutput, durable)
    server.factory = CallCenterServerFactory(center, server.clock.callLater, durable_output=durable)
    return server, durable


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_replies_waiting_for_a_commit_count_as_unsent_and_the_connection_goes_on_by_itself(framing):
    texts = late_reader_requests(200)
    server, durable = durable_server()
    connection, transport = server.connect()
    connection.dataReceived(FRAMINGS[framing](texts))
    # Nothing is out yet; the replies waiting for the commit passed the bound: stopped.
    assert transport.value() == b"" and connection.paused and transport.producerState == "paused"
    handled = calls_handled(server)
    assert handled < 200
    delivered = []
    for _ in range(200):
        durable.commit()  # out, and the connection goes on with the next requests by itself
        out = transport.value()[sum(map(len, delivered)) :]
        delivered.append(out)
        assert len(out) - len(out.splitlines()[-1]) <= OUTPUT_BOUND  # stopped at the bound,
        if not connection.paused:
            break
        assert len(out) > OUTPUT_BOUND  # and not before it
    assert transport.producerState == "producing"
    assert b"".join(delivered).splitlines(True) == expected_replies(texts)


def test_replies_out_of_a_commit_into_a_full_transport_wait_for_it_to_drain():
    texts = late_reader_requests(200)
    server, durable = durable_server()
    connection, transport, _ = connect_tcp(server, room=0)
    connection.dataReceived(FRAMINGS["newline lines"](texts))
    handled = calls_handled(server)
    durable.commit()  # into a socket that takes nothing: now the transport is full
    assert connection.paused and transport.producerPaused and calls_handled(server) == handled
    assert unsent_bytes(transport) > OUTPUT_BOUND
    transport.socket.room = 10**9
    for _ in range(1000):
        transport.doWrite()
        if durable.next is not None:
            durable.commit()
        if not connection.paused and not unsent_bytes(transport) and durable.next is None:
            break
    assert transport.socket.received.splitlines(True) == expected_replies(texts)


def test_a_refused_commit_turns_each_waiting_reply_into_an_error_line_and_drops_events():
    server, durable = durable_server(operators=("A", "B"), ring_timeout=10)
    connection, transport = server.connect()
    other, other_transport = server.connect()
    connection.dataReceived(b'{"command": "call", "id": "1"}\r\n{"command": "call", "id": "2"}\r\n')
    other.dataReceived(request("status"))
    assert transport.value() == other_transport.value() == b""
    refused = "cannot store the change: no space left in /var/lib/callcenter; status and stats still work"
    durable.refuse(ChangeNotStored(refused))
    line = encode("error", refused)
    assert transport.value() == line.replace(b"\n", b"\r\n") * 2  # one each, in its line ending
    assert other_transport.value() == line
    transport.clear()
    other_transport.clear()
    # An event waiting for a refused commit is dropped; later output goes on as before.
    server.clock.advance(10)
    durable.refuse(ChangeNotStored(refused))
    assert transport.value() == other_transport.value() == b""
    connection.dataReceived(b'{"command": "call", "id": "3"}\r\n')
    assert transport.value() == b""
    durable.commit()
    assert transport.value().endswith(b"\r\n") and list(json.loads(transport.value())) == ["response"]


def test_a_commit_failing_otherwise_is_a_bug_logged_once_and_sends_nothing(twisted_log):
    server, durable = durable_server()
    clients = [server.connect() for _ in range(3)]
    for connection, _ in clients:
        connection.dataReceived(request("call", str(id(connection))))
    durable.refuse(ZeroDivisionError("a bug"))
    assert [transport.value() for _, transport in clients] == [b""] * 3
    assert len([line for line in twisted_log if "failed unexpectedly" in line]) == 1


def test_replies_of_two_reads_waiting_for_one_commit_go_out_before_any_later_reply():
    first_read = [request("call", "a"), request("status"), request("status")]
    # Statuses and refused hangups, which change nothing, so that their replies need no commit.
    second_read = [request("status"), request("status"), request("hangup", "no-1"), request("status")]
    second_read += [request("hangup", "no-2")]
    plain = ProtocolServer(operators=["A"], ring_timeout=0)
    server, durable = durable_server()
    for center in (plain.factory.center, server.factory.center):
        for n in range(300):  # status replies of about 20 KB
            center.execute("call", queued_call(n))
    server.factory.center.changed = False  # as if committed before
    reader, reader_transport = plain.connect()
    reader.dataReceived(b"".join(first_read + second_read))
    connection, transport = server.connect()
    connection.dataReceived(b"".join(first_read))  # waiting for the commit, under the bound
    assert not connection.paused
    connection.dataReceived(b"".join(second_read))  # past it: stopped
    assert connection.paused and transport.value() == b""
    # The commit hands out the first read's replies, then the second's: the connection must
    # not go on in between (a hangup refused then would be answered at once, before them).
    durable.commit()
    assert not connection.paused
    assert transport.value().splitlines(True) == reader_transport.value().splitlines(True)


def test_the_bound_is_the_buffer_size_past_which_twisted_pauses_a_socket_transport():
    from twisted.internet import abstract

    # With no reply waiting for a commit, the connection relies on Twisted's own pause.
    assert abstract.FileDescriptor.bufferSize == OUTPUT_BOUND


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(
        st.tuples(st.sampled_from(["call", "hangup", "status", "bad"]), st.integers(0, 5)), min_size=1, max_size=40
    ),
    ending=st.sampled_from([b"\n", b"\r\n"]),
    # No space between values: a read cut just after a bare value would make the rest of its
    # line begin with one, which the framing takes as one bad request whatever the bound.
    separators=st.lists(st.sampled_from(["line", ""]), min_size=40, max_size=40),
    cuts=st.lists(st.integers(1, 200), min_size=1, max_size=20),
    commits=st.lists(st.booleans(), min_size=20, max_size=20),
    bound=st.integers(1, 400),
    line_a_read=st.booleans(),
)
def test_with_any_bound_framing_and_reads_every_reply_arrives_once_in_order(
    monkeypatch, requests, ending, separators, cuts, commits, bound, line_a_read
):
    """A small bound stops the connection at nearly every request, in every framing (lines,
    bare values, several on a line), with commits between reads or not, in reads cut
    anywhere or one line a read (a client waiting for each reply): the replies are those of
    a client that reads at once."""
    texts = [
        b"{bad" if command == "bad" else encode_request(command, None if command == "status" else str(n)).rstrip()
        for command, n in requests
    ]
    # A bad value swallows the rest of its line, so it ends one.
    data = ending + b"".join(
        text + (ending if text == b"{bad" or separator == "line" else separator.encode())
        for text, separator in zip(texts, separators)
    )
    data += ending
    if line_a_read:
        cuts = [len(line) for line in data.splitlines(True)]
    reader, reader_transport = ProtocolServer(operators=["A"], ring_timeout=0).connect()
    reader.dataReceived(data)
    monkeypatch.setattr(protocol_module, "OUTPUT_BOUND", bound)
    server, durable = durable_server()
    connection, transport = server.connect()
    position = 0
    for step, cut in enumerate([*cuts, len(data)]):
        connection.dataReceived(data[position : position + cut])
        position += cut
        if durable.next is not None and commits[step % len(commits)]:
            durable.commit()
        if position >= len(data):
            break
    for _ in range(len(data) + 1):  # every commit, until nothing waits
        if durable.next is None:
            break
        durable.commit()
    assert not connection.paused
    # Line endings aside: a read cut between a line's \r and its \n makes the next line,
    # and so the replies still to go out, end in \n (the rule follows the latest line).
    assert transport.value().replace(b"\r\n", b"\n") == reader_transport.value().replace(b"\r\n", b"\n")


def test_with_a_hundred_thousand_calls_queued_one_status_reply_stops_the_connection():
    server = ProtocolServer(operators=["A"], ring_timeout=0)
    for n in range(10**5):
        server.factory.center.execute("call", str(n))
    connection, transport, _ = connect_tcp(server, room=0)
    connection.dataReceived(request("status") * 5 + request("call", "next"))
    # One reply of about 1.5 MB is past the bound: the other requests wait, the call too.
    (line,) = written(transport).splitlines(True)
    assert len(line) > 10**6 and connection.paused and "next" not in server.factory.center.calls
    drain(connection, transport)
    lines = transport.socket.received.splitlines(True)
    assert lines[:5] == [line] * 5
    assert json.loads(lines[5]) == {"response": "Call next received\nCall next waiting in queue"}


# Structured events, opt in: {"command": "subscribe"}.


def test_a_connection_that_never_subscribes_gets_todays_bytes():
    server = ProtocolServer(operators=("A",))
    connection, transport = server.connect()
    for line in ["call 1", "call 2", "answer B", "status", "operators", "queues"]:
        connection.dataReceived(request(line))
    server.clock.advance(10)  # call 1's ring times out and it rings A again
    assert transport.value() == (
        b'{"response": "Call 1 received\\nCall 1 ringing for operator A"}\n'
        b'{"response": "Call 2 received\\nCall 2 waiting in queue"}\n'
        b'{"error": "no operator B"}\n'
        b'{"response": "Operator A ringing with call 1\\nQueued call 2"}\n'
        b'{"response": "A"}\n'
        b'{"response": "default"}\n'
        b'{"event": "Call 1 ignored by operator A\\nCall 1 ringing for operator A"}\n'
    )


def test_a_subscribed_connection_gets_each_reply_and_event_with_its_events():
    server = ProtocolServer(operators=("A",))
    subscribed, transport = server.connect()
    plain, plain_transport = server.connect()
    subscribed.dataReceived(request("subscribe"))
    assert transport.value() == b'{"response": "subscribed"}\n'
    transport.clear()
    server.clock.advance(2)
    for line in ["call 1", "call 2", "answer B", "status", "subscribe"]:
        subscribed.dataReceived(request(line))
    server.clock.advance(10)
    assert replies(transport) == [
        {
            "response": "Call 1 received\nCall 1 ringing for operator A",
            "events": [
                {"event": "CallReceived", "at": 2.0, "call": "1", "queue": "default", "priority": 0},
                {"event": "CallRinging", "at": 2.0, "call": "1", "operator": "A", "queue": "default", "timeout": 10},
            ],
        },
        {
            "response": "Call 2 received\nCall 2 waiting in queue",
            "events": [
                {"event": "CallReceived", "at": 2.0, "call": "2", "queue": "default", "priority": 0},
                {
                    "event": "CallQueued",
                    "at": 2.0,
                    "call": "2",
                    "queue": "default",
                    "default_queue": True,
                    "priority": 0,
                    "position": 1,
                    "waiting": 1,
                    "back": False,
                },
            ],
        },
        {"error": "no operator B", "events": []},
        {"response": "Operator A ringing with call 1\nQueued call 2", "events": []},
        {"response": "subscribed", "events": []},
        {
            "event": "Call 1 ignored by operator A\nCall 1 ringing for operator A",
            "events": [
                {"event": "CallIgnored", "at": 12.0, "call": "1", "operator": "A", "queue": "default", "ring": 10.0},
                {"event": "CallRinging", "at": 12.0, "call": "1", "operator": "A", "queue": "default", "timeout": 10},
            ],
        },
    ]
    assert plain_transport.value() == b'{"event": "Call 1 ignored by operator A\\nCall 1 ringing for operator A"}\n'
    del plain


def test_subscribe_needs_the_token_first():
    server = ProtocolServer(auth_token=b"secret")
    connection, transport = server.connect()
    connection.dataReceived(request("subscribe"))
    connection.dataReceived(b'{"command": "auth", "token": "secret"}\n')
    connection.dataReceived(request("subscribe"))
    assert replies(transport) == [
        {"error": "authentication required"},
        {"response": "authenticated"},
        {"response": "subscribed"},
    ]


def test_the_subscribed_decoder_takes_both_kinds_of_line():
    assert decode_subscribed(b'{"response": "subscribed"}\n') == ("response", "subscribed", None)
    assert decode_subscribed(b'{"event": "x", "events": [{"event": "CallReceived"}]}') == (
        "event",
        "x",
        [{"event": "CallReceived"}],
    )
    for bad in (b'{"response": "x", "events": 3}', b'{"events": []}', b'{"response": "x", "other": 1}'):
        with pytest.raises(WireError):
            decode_subscribed(bad)
    with pytest.raises(WireError):
        decode_message(b'{"response": "x", "events": []}')  # a client that never subscribed


def test_a_level_goes_on_the_wire_as_its_fields_and_back_to_the_cores_words():
    from callcenter.net.wire import WireError, argument_of, request_fields

    assert request_fields("level", "A 2") == {"command": "level", "id": "A", "level": 2}
    assert request_fields("level", "A 2 queue=sales") == {"command": "level", "id": "A", "level": 2, "queue": "sales"}
    assert request_fields("level", "A x") == {"command": "level", "id": "A", "level": "x"}  # the core refuses it
    assert request_fields("level", "A 2 sales") == {"command": "level", "id": "A 2 sales"}
    assert request_fields("finish", "A") == {"command": "finish", "id": "A"}
    assert argument_of("level", "A", {"level": 2, "queue": "sales"}) == "A 2 queue=sales"
    assert argument_of("level", "A", {"level": "7"}) == "A 7"
    for bad in (True, 1.5, "2 3", None, -1):
        with pytest.raises(WireError, match='"level" must be a whole number from 0 to 99'):
            argument_of("level", "A", {"level": bad})
    with pytest.raises(WireError, match="level needs an id"):
        argument_of("level", None, {"level": 2})
