"""Complete JSON values out of bytes with no delimiter between them: a plain buffer object.

Layer: protocols, its pure half (no Twisted). h11's ``_receivebuffer.py`` is the model:
:meth:`ValueScanner.feed` bytes in, :meth:`ValueScanner.values` the values complete so far
out, each byte scanned once however the input is split. ``lines.RequestReceiver`` feeds it
what follows the last newline.
"""

import re
from typing import List, Tuple

# Between values: JSON's whitespace.
_WHITESPACE = re.compile(rb"[ \t\r\n]*")
# Outside strings, the characters that open or close a value or a string.
_STRUCTURE = re.compile(rb'[{}\[\]"]')
# Inside a string, the characters that end it or escape the next one.
_STRING_EDGE = re.compile(rb'["\\]')
# A bare token (a number, true, false, null) ends at whitespace or structure.
_TOKEN_END = re.compile(rb'[ \t\r\n{}\[\]"]')
# What a bare token may begin with; anything else is no JSON, and runs to the newline.
_TOKEN_STARTS = frozenset(b"-0123456789tfn")
_GARBAGE = -2  # _depth inside garbage


class ValueScanner(object):
    """The bytes after the last newline, scanned for complete JSON values.

    A small state machine (depth of brackets, inside a string or a bare token or not)
    whose state is kept between feeds, so that a value is handed on as soon as its last
    byte arrives: linear time however the value is split. Whitespace between values is
    skipped; a stray closer is a value of its own (a bad one). Garbage (what no JSON value
    begins with) never ends here: it runs to the newline, one bad request as
    ``wire.load_line`` has it, however its bytes were split. A value still open past
    ``max_length`` is reported once and dropped as it is scanned, to its end. Only the
    open value's bytes are kept."""

    __slots__ = ("_depth", "_in_string", "_scanned", "_start", "buffer", "dropping", "max_length", "scanned_total")

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.buffer = b""  # the open value (or nothing)
        self.dropping = False  # the open value is over-long: its bytes are dropped as scanned
        self.scanned_total = 0  # bytes scanned since the start: as many as were fed
        self._scanned = 0  # bytes of buffer scanned so far
        self._start = -1  # where the open value starts in buffer; -1 between values
        self._depth = 0  # brackets open in the open value; -1 inside a bare token, -2 in garbage
        self._in_string = False

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def is_empty(self) -> bool:
        """Whether no value is open: nothing kept, and nothing being dropped."""
        return not (self.buffer or self.dropping)

    def take(self) -> Tuple[bytes, bool]:
        """A newline came: the open value's bytes (they begin that line) and whether it was
        being dropped as over-long; the scanner starts afresh."""
        kept, dropping = self.buffer, self.dropping
        self.buffer, self.dropping = b"", False
        self._scanned, self._start, self._depth, self._in_string = 0, -1, 0, False
        return kept, dropping

    def values(self) -> List[Tuple[bytes, bool]]:
        """The values completed by what was fed, in order: ``(value, False)``, or ``(its first
        max_length bytes, True)`` for an over-long one (reported once, when it passes the
        limit or when it ends)."""
        buffer, position = self.buffer, self._scanned
        start, depth, in_string = self._start, self._depth, self._in_string
        end = len(buffer)
        self.scanned_total += end - position
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
                    depth = -1 if buffer[position] in _TOKEN_STARTS else _GARBAGE
            elif in_string:
                edge = _STRING_EDGE.search(buffer, position)
                if edge is None:
                    position = end
                    break
                if edge.group() == b"\\":
                    position = edge.end() + 1  # past the escaped character, even in the next feed
                    continue
                in_string, position = False, edge.end()
                if depth == 0:
                    values.append(buffer[start:position])
                    start = -1
            elif depth == _GARBAGE:  # open until the newline takes it
                position = end
                break
            elif depth < 0:  # a bare token: a number, true, false or null
                edge = _TOKEN_END.search(buffer, position)
                if edge is None:  # it may go on in the next feed
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
        self.buffer = buffer[keep:]
        self._scanned = position - keep
        self._start = 0 if start >= 0 else -1
        self._depth, self._in_string = depth, in_string
        if self.dropping:
            values = values[1:]  # the end of the over-long value
            self.dropping = start >= 0
        limit = self.max_length
        found = [(value[:limit], True) if len(value) > limit else (value, False) for value in values]
        if start >= 0 and len(self.buffer) > limit and not self.dropping:
            found.append((self.buffer[:limit], True))
            self.dropping = True
        if self.dropping:
            # Scan on to the over-long value's end, without keeping its bytes.
            self._scanned = 0
            self.buffer = b""
        return found
