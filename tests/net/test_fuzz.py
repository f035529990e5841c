"""The server protocol fuzzed: random bytes and well-formed but wrong requests, mixed with valid
ones, cut into random reads. On StringTransport with Hypothesis, and a bounded run of 10^5
random lines against a real server process.

Every generated line is one complete request: a JSON value or bytes that begin no JSON value
(a blank line is no request, and values back to back on a line are one request each: the
framing tests in test_protocol.py cover those)."""

import json
import random
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from callcenter.core.center import CallCenter, CallCenterError
from callcenter.net.protocol import CallCenterServerFactory, CallCenterServerProtocol
from callcenter.net.wire import encode, encode_request
from transcript import lines_of

OPERATORS = ["A", "B"]
IDS = ["1", "2", "3", "A", "B", "C"]
COMMANDS = ["call", "answer", "reject", "hangup"]

valid_requests = st.one_of(
    st.tuples(st.sampled_from(COMMANDS), st.sampled_from(IDS)),
    st.just(("status", None)),
)
# Each is a JSON value that is no valid request (the reply must be an error, the state unchanged).
wrong_requests = st.one_of(
    st.builds(
        lambda command, argument: {"command": command, "id": argument},
        st.sampled_from(["dial", "CALL", "", "help me", "status now"]),
        st.sampled_from(IDS),
    ),
    st.builds(
        lambda command, argument: {"command": command, "id": argument},
        st.sampled_from(COMMANDS),
        st.one_of(st.lists(st.sampled_from(IDS), max_size=2), st.booleans(), st.just({"id": "1"})),
    ),
    st.builds(lambda argument: {"id": argument}, st.sampled_from(IDS)),
    st.builds(lambda command: {"command": command}, st.sampled_from(COMMANDS)),
    st.builds(lambda argument: {"command": "call", "id": argument}, st.sampled_from(["x" * 65, "1 2", "", "\u00e9\t"])),
    st.sampled_from([[], ["call", "1"], "call 1", None, True, {"command": ["call"]}]),
)
# Bytes that are not JSON, on a line of their own: "#" first, so that no JSON value begins the
# line (values back to back on a line are a request each), and no newline inside.
junk = st.binary(max_size=40).map(lambda data: b"#" + data.replace(b"\n", b""))
truncated = st.builds(
    lambda request, cut: encode_request(*request)[: max(1, cut)].rstrip(b"\n"),
    valid_requests,
    st.integers(1, 20),
)
over_long = st.integers(1, 100).map(lambda extra: b"y" * (CallCenterServerProtocol.MAX_LENGTH + extra))

# A line: (its bytes without the newline, the valid request it is or None).
lines = st.one_of(
    valid_requests.map(lambda request: (encode_request(*request).rstrip(b"\n"), request)),
    wrong_requests.map(lambda value: (json.dumps(value).encode("utf-8"), None)),
    junk.map(lambda data: (data, None)),
    truncated.map(lambda data: (data, None)),
    over_long.map(lambda data: (data, None)),
)


@pytest.mark.parametrize("line", [b"#\x00 \x00", b'# {"command": "status"} x', b'{"command": "status"} #a b'])
def test_a_line_split_anywhere_gets_the_replies_it_gets_whole(line):
    def replies(chunks):
        factory = CallCenterServerFactory(CallCenter(OPERATORS, Clock().callLater, 10), Clock().callLater)
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        for chunk in chunks:
            protocol.dataReceived(chunk)
        return transport.value()

    data = line + b"\n"
    whole = replies([data])
    assert [cut for cut in range(1, len(data)) if replies([data[:cut], data[cut:]]) != whole] == []


def reference_reply(center, request):
    try:
        return encode("response", "\n".join(lines_of(center, *request)))
    except CallCenterError as error:
        return encode("error", str(error))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(lines, max_size=40),
    st.lists(st.integers(0, 2000), max_size=20),
    st.booleans(),
    st.lists(valid_requests, max_size=3),
)
def test_random_input_gets_one_reply_a_request_and_changes_only_what_valid_requests_change(
    items, cuts, crlf, bare_tail
):
    clock = Clock()
    factory = CallCenterServerFactory(CallCenter(OPERATORS, clock.callLater, 10), clock.callLater)
    reference = CallCenter(OPERATORS, Clock().callLater, 10)
    connection = factory.buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)

    ending = b"\r\n" if crlf else b"\n"
    stream = b"".join(data + ending for data, _ in items)
    # Then valid requests as bare JSON objects, back to back with no line ending: each is complete
    # at its closing brace.
    stream += b"".join(encode_request(*request).rstrip(b"\n") for request in bare_tail)
    items = items + [(None, request) for request in bare_tail]
    positions = [*sorted({min(cut * 7, len(stream)) for cut in cuts}), len(stream)]
    start = 0
    for end in positions:
        if end > start:
            connection.dataReceived(stream[start:end])  # nothing may escape
            start = end

    output = transport.value()
    # Replies come in the line ending of the last complete request line (an over-long line
    # before any complete one is answered in \n: its ending is not known yet).
    output = output.replace(b"\r\n", b"\n")
    replies = output.splitlines(keepends=True)
    assert len(replies) == len(items)
    for (_, request), reply in zip(items, replies):
        if request is None:
            assert list(json.loads(reply)) == ["error"], reply
        else:
            assert reply == reference_reply(reference, request)
    assert factory.center.status() == reference.status()
    assert not transport.disconnecting


def random_line(rng):
    """A random request line (newline included): valid, wrong, junk, or cut short."""
    kind = rng.random()
    if kind < 0.5:
        command = rng.choice([*COMMANDS, "status"])
        return encode_request(command, None if command == "status" else rng.choice(IDS))
    if kind < 0.7:
        wrong = rng.choice([{"command": "dial", "id": "1"}, {"id": "2"}, [], "call 1", {"command": "call", "id": [1]}])
        return json.dumps(wrong).encode() + b"\n"
    if kind < 0.9:
        junk_bytes = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
        return b"#" + junk_bytes.replace(b"\n", b"") + b"\n"
    return encode_request("call", rng.choice(IDS))[: rng.randrange(1, 15)].rstrip(b"\n") + b"\n"


def test_a_real_server_answers_each_of_100000_random_lines_and_goes_on(start_server):
    server = start_server("--ring-timeout", "0")
    rng = random.Random(20261128)
    payload = b"".join(random_line(rng) for _ in range(100000))
    line_count = payload.count(b"\n")
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    # Send from a thread while this one reads: the server stops reading a client that does not read.
    sender = threading.Thread(target=connection.sendall, args=(payload,))
    sender.start()
    received = 0
    buffer = b""
    while received < line_count:
        chunk = connection.recv(1 << 20)
        assert chunk, "the server closed the connection after %d replies" % received
        received += chunk.count(b"\n")
        buffer = chunk[chunk.rfind(b"\n") + 1 :] if b"\n" in chunk else buffer + chunk
    sender.join(60)
    assert received == line_count
    assert buffer == b""
    connection.sendall(encode_request("status", None))
    reply = connection.recv(65536)
    assert json.loads(reply)["response"].startswith("Operator A ")
    connection.close()
    assert server.process.poll() is None
