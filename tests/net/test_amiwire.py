"""The AMI's wire (net/amiwire.py): framing, limits, encoding, classes, as main/manager.c has them."""

from callcenter.net import amiwire


def test_a_message_ends_at_a_blank_line_with_crlf_or_bare_lf_and_in_any_pieces():
    parser = amiwire.MessageParser()
    data = b"Action: Ping\r\nActionID: 1\r\n\r\nAction: Ping\nActionID:  2\n\n"
    got = []
    for byte in range(len(data)):
        got.extend(parser.feed(data[byte : byte + 1]))
    assert [(m.get("action"), m.get("ACTIONID")) for m in got] == [("Ping", "1"), ("Ping", "2")]


def test_a_line_too_long_or_too_many_lines_is_answered_once_its_message_ends():
    parser = amiwire.MessageParser()
    got = parser.feed(b"ActionID: 7\r\nAction: Ping\r\nX: " + b"x" * 5000 + b"\r\n\r\n")
    assert [(m.error, m.get("ActionID")) for m in got] == [("Failed to parse message: line too long", "7")]
    got = parser.feed(b"".join(b"H%d: v\r\n" % n for n in range(200)) + b"\r\n")
    assert [m.error for m in got] == ["Too many lines in message or allocation failure"]
    assert len(got[0].headers) == amiwire.MAX_HEADERS
    # What it holds stays bounded while a line without end arrives.
    for _ in range(100):
        parser.feed(b"y" * 4096)
    assert len(parser._buffer) <= amiwire.MAX_LINE + 1
    assert [m.error for m in parser.feed(b"\r\n\r\n")] == ["Failed to parse message: line too long"]


def test_encoded_values_cannot_end_a_line_and_events_say_their_classes():
    assert amiwire.response("a\rb", message="ok") == b"Response: Success\r\nActionID: a b\r\nMessage: ok\r\n\r\n"
    assert amiwire.privilege(amiwire.AGENT) == "agent,all"
    assert amiwire.privilege(amiwire.SYSTEM | amiwire.CALL) == "system,call,all"
    assert amiwire.privilege(0) == "<none>"
    assert amiwire.event_mask("off") == 0 and amiwire.event_mask("on") == amiwire.ALL
    assert amiwire.event_mask("agent,call") == amiwire.AGENT | amiwire.CALL
    assert amiwire.event_mask("") == -1
