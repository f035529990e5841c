"""The wire codec (callcenter.net.wire): the usual request's one match reads what the JSON
decoder reads."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.net.wire import WireError, load_line, request_of, usual_request

# Strings with what a match must refuse: quotes, backslashes, control characters, non-ASCII.
WORDS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["call", "hangup", "1", "a\\b", 'a"b', "a\tb", "\x7f", "é", ""]
)


def decoded(line):
    """``(command, id)`` as ``load_line`` and ``request_of`` read ``line``, or None."""
    try:
        value, several = load_line(line)
        if several is not None or not isinstance(value, dict) or set(value) != {"command", "id"}:
            return None
        command, argument = request_of(value)
    except WireError:
        return None
    return command, argument if isinstance(value["id"], str) else None


@settings(max_examples=500, deadline=None)
@given(
    command=WORDS,
    argument=WORDS,
    separators=st.sampled_from([(", ", ": "), (",", ":"), (", ", ":"), (" , ", " : ")]),
    ascii=st.booleans(),
    around=st.sampled_from(["", " ", "\t", "x"]),
    data=st.data(),
)
def test_the_usual_request_reads_as_the_json_decoder_reads_it(command, argument, separators, ascii, around, data):
    text = json.dumps({"command": command, "id": argument}, separators=separators, ensure_ascii=ascii)
    if around and data.draw(st.booleans()):
        text = around + text if data.draw(st.booleans()) else text + around
    line = text.encode("utf-8")
    if data.draw(st.booleans()):  # and raw, unescaped, as a careless client writes it
        line = ('{"command": "%s", "id": "%s"}' % (command, argument)).encode("utf-8", "surrogatepass")
    words = usual_request(line)
    if words is not None:
        assert words == decoded(line)


def test_the_usual_request_as_clients_write_it():
    assert usual_request(b'{"command": "call", "id": "c-1-0a"}') == ("call", "c-1-0a")
    assert usual_request(b'{"command":"hangup","id":"\xc3\xa9"}') == ("hangup", "\u00e9")
    for other in [b'{"id": "1", "command": "call"}', b'{"command": "call", "id": "1\\u0031"}', b'{"command": "call"}']:
        assert usual_request(other) is None  # left to load_line and request_of
