"""The newline framing on its own: what each whole line becomes, however the reads are cut
at line ends, and the request framing's read of a single line."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.net.lines import LineReceiver, RequestReceiver


class Recorder(LineReceiver):
    """Each line with the line ending it was read with, and each over-long line."""

    def __init__(self, max_length: int, skip_blank: bool) -> None:
        self.MAX_LENGTH = max_length
        self.skip_blank_lines = skip_blank
        self.heard = []

    def lineReceived(self, line):
        self.heard.append(("line", line, self.crlf))

    def lineLengthExceeded(self, line):
        self.heard.append(("long", line))


def expected(data, max_length, skip_blank):
    """What the framing makes of each whole line of ``data``, written as the docstrings say."""
    heard = []
    *lines, tail = data.split(b"\n")
    for line in lines:
        if len(line) > max_length:
            heard.append(("long", line))
            continue
        crlf = line.endswith(b"\r")
        line = line[:-1] if crlf else line
        if skip_blank and line.strip(b" \t\r\x0b\x0c") == b"":
            continue
        heard.append(("line", line, crlf))
    if len(tail) > max_length:  # what is unterminated is told once it is too long
        heard.append(("long", tail[:max_length]))
    return heard


PIECES = [b"a", b"{}", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\x0b", b"\x0c"]


@given(
    data=st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
    max_length=st.integers(1, 12),
    skip_blank=st.booleans(),
    cuts=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_whole_lines_in_reads_cut_at_any_line_ends_are_each_heard_as_written(data, max_length, skip_blank, cuts):
    receiver = Recorder(max_length, skip_blank)
    ends = [index + 1 for index, byte in enumerate(data) if byte == 10]
    read_from = 0
    for end, cut in zip(ends, cuts):
        if cut:
            receiver.dataReceived(data[read_from:end])
            read_from = end
    receiver.dataReceived(data[read_from:])
    assert receiver.heard == expected(data, max_length, skip_blank)


class Requests(RequestReceiver):
    MAX_LENGTH = 20

    def __init__(self):
        self.heard = []

    def requestReceived(self, request):
        self.heard.append((request, self.crlf))

    def lineLengthExceeded(self, line):
        self.heard.append(("long", line))


@pytest.mark.parametrize(
    "reads, heard",
    [
        ([b'{"a": 1}\n'], [(b'{"a": 1}', False)]),
        ([b'{"a": 1}\r\n'], [(b'{"a": 1}', True)]),
        ([b"\n", b"  \r\n"], []),  # blank lines are no request
        ([b"x" * 20 + b"\n"], [(b"x" * 20, False)]),
        ([b"x" * 21 + b"\n"], [("long", b"x" * 21)]),
        ([b'{"a"', b": 1}\n"], [(b'{"a": 1}', False)]),  # the line began in the read before
        ([b'{"a": 1}{"b"', b": 2}\n"], [(b'{"a": 1}', False), (b'{"b": 2}', False)]),  # a value was open
        ([b"x" * 25, b"yz\n", b"1\n"], [("long", b"x" * 20), (b"1", False)]),  # the long line's rest skipped
    ],
)
def test_a_read_of_one_line_is_a_request_as_in_any_other_read(reads, heard):
    receiver = Requests()
    for data in reads:
        receiver.dataReceived(data)
    assert receiver.heard == heard
