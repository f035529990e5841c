"""Newline framing shared by stdin, the server and the client, and the server's JSON framing."""

import re
from typing import Any

from twisted.protocols import basic


class LineReceiver(basic.LineReceiver):
    """``basic.LineReceiver`` with ``\\n`` or ``\\r\\n`` endings, linear-time framing, and
    over-long lines reported instead of dropping the connection.

    Twisted's own ``dataReceived`` splits one line off the buffer at a time, copying
    the rest each time: quadratic in the lines per read, which a pipelining client
    makes large. Here a read is split once. A line longer than ``MAX_LENGTH`` goes to
    ``lineLengthExceeded`` (at most its first ``MAX_LENGTH`` bytes when it is still
    arriving) and its remaining bytes up to the next newline are skipped.
    """

    delimiter = b"\n"
    MAX_LENGTH = 16384
    # Set by makeConnection. Twisted types it as ITransport, which lacks the
    # ``disconnecting`` and ``getPeer`` that every real transport has.
    transport: Any = None
    _skipping = False  # inside an over-long line, until its newline
    crlf = False  # whether the last line ended in \r\n

    def dataReceived(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        if self._skipping and lines:
            self._skipping = False
            del lines[0]
        for position, line in enumerate(lines):
            if self.paused:
                # pauseProducing was called by a handler: keep the rest for resumeProducing.
                self._buffer = b"\n".join(lines[position:]) + b"\n" + self._buffer
                return
            if self.transport is not None and self.transport.disconnecting:
                return
            if len(line) > self.MAX_LENGTH:
                self.lineLengthExceeded(line)
                continue
            if line[-1:] == b"\r":
                self.crlf = True
                line = line[:-1]
            else:
                self.crlf = False
            self.lineReceived(line)
        self._tail_received()

    def _tail_received(self) -> None:
        """What follows the last newline is in ``_buffer``."""
        if len(self._buffer) > self.MAX_LENGTH and not self._skipping:
            partial, self._buffer = self._buffer[: self.MAX_LENGTH], b""
            self._skipping = True
            self.lineLengthExceeded(partial)
        elif self._skipping:
            self._buffer = b""

    def unterminatedLine(self) -> bytes:
        """At end of input: the last line if it had no newline (Twisted leaves it in the buffer)."""
        rest = b"" if self._skipping else self.clearLineBuffer()
        return rest[:-1] if rest[-1:] == b"\r" else rest


# Between values: JSON's whitespace.
_WHITESPACE = re.compile(rb"[ \t\r\n]*")
# Outside strings, the characters that open or close a value or a string.
_STRUCTURE = re.compile(rb'[{}\[\]"]')
# Inside a string, the characters that end it or escape the next one.
_STRING_EDGE = re.compile(rb'["\\]')
# A bare token (a number, true, garbage) ends at whitespace or structure.
_TOKEN_END = re.compile(rb'[ \t\r\n{}\[\]"]')


class RequestReceiver(LineReceiver):
    """The server's framing: each newline-terminated line is a request, as
    ``LineReceiver`` has it, and so is each complete JSON value with no delimiter,
    alone or followed directly by more (``{...}{...}``), which clients written for
    the assignment often send. (A line holding several values back to back is split
    into them by the request handler, with ``json.JSONDecoder.raw_decode``.)

    Input after the last newline is scanned once, by a small state machine (depth
    of brackets, inside a string or a bare token or not) whose state is kept between
    reads, so that a value is handed on as soon as its last byte arrives: linear
    time however the value is split. Whitespace between values is skipped. A value
    still open past ``MAX_LENGTH`` goes to ``lineLengthExceeded`` and is skipped to
    its end or the next newline, whichever comes first. ``crlf`` says whether the
    last request line ended in ``\r\n``."""

    _scanned = 0  # bytes of _buffer scanned so far
    _start = -1  # where the open value starts in _buffer; -1 between values
    _depth = 0  # brackets open in the open value; -1 inside a bare token
    _in_string = False
    _dropping = False  # the open value is over-long: its bytes are dropped as scanned
    _lines_waiting = False  # paused with whole lines still in _buffer

    def requestReceived(self, request: bytes) -> None:
        raise NotImplementedError

    def lineReceived(self, line: bytes) -> None:
        if line and not line.isspace():
            self.requestReceived(line)

    def dataReceived(self, data: bytes) -> None:
        if self._lines_waiting or b"\n" in data:
            # A newline ends whatever value was open: it belongs to that line.
            if self._dropping:
                self._dropping = False
                self._skipping = True
            self._scanned, self._start, self._depth, self._in_string = 0, -1, 0, False
            LineReceiver.dataReceived(self, data)
            self._lines_waiting = self.paused and b"\n" in self._buffer
        elif self._skipping:
            return
        else:
            self._buffer += data
            self._tail_received()

    def _tail_received(self) -> None:
        if self._skipping:
            self._buffer = b""
        elif self._buffer:
            self._frame_values()

    def _frame_values(self) -> None:
        buffer, position = self._buffer, self._scanned
        start, depth, in_string = self._start, self._depth, self._in_string
        end = len(buffer)
        values = []
        while position < end:
            if start < 0:  # between values
                position = _WHITESPACE.match(buffer, position).end()  # type: ignore[union-attr]
                if position == end:
                    break
                start = position
                first = buffer[position : position + 1]
                if first in (b"{", b"["):
                    depth, position = 1, position + 1
                elif first == b'"':
                    depth, in_string, position = 0, True, position + 1
                elif first in (b"}", b"]"):  # a stray closer: a value of its own, and an error
                    position += 1
                    values.append(buffer[start:position])
                    start = -1
                else:
                    depth = -1
            elif in_string:
                edge = _STRING_EDGE.search(buffer, position)
                if edge is None:
                    position = end
                    break
                if edge.group() == b"\\":
                    position = edge.end() + 1  # past the escaped character, even in the next read
                    continue
                in_string, position = False, edge.end()
                if depth == 0:
                    values.append(buffer[start:position])
                    start = -1
            elif depth < 0:  # a bare token: a number, true, or garbage
                edge = _TOKEN_END.search(buffer, position)
                if edge is None:  # it may go on in the next read
                    position = end
                    break
                position = edge.start()
                values.append(buffer[start:position])
                start, depth = -1, 0
            else:
                edge = _STRUCTURE.search(buffer, position)
                if edge is None:
                    position = end
                    break
                character, position = edge.group(), edge.end()
                if character == b'"':
                    in_string = True
                elif character in (b"{", b"["):
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        values.append(buffer[start:position])
                        start = -1
        # Keep only the open value (or nothing), with positions relative to it.
        keep = start if start >= 0 else min(position, end)
        self._buffer = buffer[keep:]
        self._scanned = position - keep
        self._start = 0 if start >= 0 else -1
        self._depth, self._in_string = depth, in_string
        if self._dropping:
            values = values[1:]  # the end of the over-long value
            self._dropping = start >= 0
        for value in values:
            if len(value) > self.MAX_LENGTH:
                self.lineLengthExceeded(value[: self.MAX_LENGTH])
            else:
                self.requestReceived(value)
        if start >= 0 and len(self._buffer) > self.MAX_LENGTH and not self._dropping:
            self.lineLengthExceeded(self._buffer[: self.MAX_LENGTH])
            self._dropping = True
        if self._dropping:
            # Scan on to the over-long value's end, without keeping its bytes.
            self._scanned = 0
            self._buffer = b""
