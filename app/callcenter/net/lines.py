"""Newline framing shared by stdin, the server and the client, and the server's JSON framing.

Layer: protocols. The scanning of bare JSON values is :mod:`callcenter.net.scanner`'s (a plain
buffer object); here Twisted's ``LineReceiver`` feeds it.
"""

import re
from collections import deque
from typing import Any, Callable, Deque, List, Tuple

from twisted.protocols import basic

from callcenter.net.scanner import ValueScanner

# A whole line of nothing but whitespace (bytes.isspace's), \r included, after the first line.
# (Beginning with its newline, it is searched for as fast as that byte; ``\A|\n`` is ten times slower.)
_BLANK_LINE = re.compile(rb"\n[ \t\r\x0b\x0c]*\n")


class LineReceiver(basic.LineReceiver):
    """``basic.LineReceiver`` with ``\\n`` or ``\\r\\n`` endings, linear-time framing, and
    over-long lines reported instead of dropping the connection.

    Twisted's own ``dataReceived`` splits one line off the buffer at a time, copying
    the rest each time: quadratic in the lines per read, which a pipelining client
    makes large. Here a read is split once. A line longer than ``MAX_LENGTH`` goes to
    ``lineLengthExceeded`` (at most its first ``MAX_LENGTH`` bytes when it is still
    arriving) and its remaining bytes up to the next newline are skipped.

    Lines only: ``setRawMode`` is refused, since this ``dataReceived`` never hands raw data
    on (Twisted's own honours it, re-entrantly: its ``test_stackRecursion``).
    """

    delimiter = b"\n"
    MAX_LENGTH = 16384
    # Set by makeConnection. Twisted types it as ITransport, which lacks the
    # ``disconnecting`` and ``getPeer`` that every real transport has.
    transport: Any = None
    _skipping = False  # inside an over-long line, until its newline
    crlf = False  # whether the last line ended in \r\n
    # What is not handled yet: the bytes after the last newline, and whole lines while paused.
    _unhandled = b""

    def setRawMode(self) -> None:
        raise NotImplementedError("callcenter's LineReceiver has no raw mode: it hands on lines only")

    def clearLineBuffer(self) -> bytes:
        unhandled, self._unhandled = self._unhandled, b""
        return unhandled

    def line_handler(self) -> Callable[[bytes], None]:
        """What each line goes to, and whether blank lines do too (a request receiver's don't:
        it takes each line straight to its request handler)."""
        return self.lineReceived

    skip_blank_lines = False

    def dataReceived(self, data: bytes) -> None:
        buffer = self._unhandled + data if self._unhandled else data
        lines = buffer.split(b"\n")
        self._unhandled = lines.pop()
        if self._skipping and lines:
            self._skipping = False
            del lines[0]
        handle = self.line_handler()
        transport = self.transport
        # What no line of this read can be (over-long, ended in \r\n, blank) is not looked
        # for line by line: that work is most of the server's framing when clients pipeline.
        long_possible = len(buffer) > self.MAX_LENGTH
        crlf_possible = b"\r" in buffer
        blank_possible = (
            self.skip_blank_lines
            and lines
            and (not lines[0] or lines[0].isspace() or _BLANK_LINE.search(buffer) is not None)
        )
        for position, line in enumerate(lines):
            if self.paused:
                # pauseProducing was called by a handler: keep the rest for resumeProducing.
                self._unhandled = b"\n".join(lines[position:]) + b"\n" + self._unhandled
                return
            if transport is not None and transport.disconnecting:
                return
            if long_possible and len(line) > self.MAX_LENGTH:
                self.lineLengthExceeded(line)
                continue
            if crlf_possible and line[-1:] == b"\r":
                self.crlf = True
                line = line[:-1]
            else:
                self.crlf = False
            if blank_possible and (not line or line.isspace()):
                continue
            handle(line)
        if self._unhandled or self._skipping:  # else there is no tail
            self.tailReceived()

    def tailReceived(self) -> None:
        """What follows the last newline is in ``_unhandled``."""
        if len(self._unhandled) > self.MAX_LENGTH and not self._skipping:
            partial, self._unhandled = self._unhandled[: self.MAX_LENGTH], b""
            self._skipping = True
            self.lineLengthExceeded(partial)
        elif self._skipping:
            self._unhandled = b""

    def unterminatedLine(self) -> bytes:
        """At end of input: the last line if it had no newline (Twisted leaves it in the buffer)."""
        rest = b"" if self._skipping else self.clearLineBuffer()
        return rest[:-1] if rest[-1:] == b"\r" else rest


class RequestReceiver(LineReceiver):
    """The server's framing: each newline-terminated line is a request, as
    ``LineReceiver`` has it, and so is each complete JSON value with no delimiter,
    alone or followed directly by more (``{...}{...}``), which clients written for
    the assignment often send. (A line holding several values back to back is split
    into them by the request handler: ``wire.load_line``.)

    What follows the last newline goes to a :class:`ValueScanner`, which hands each value
    on as soon as its last byte arrives. A newline ends whatever value was open: its
    bytes begin that line. A value still open past ``MAX_LENGTH`` goes to
    ``lineLengthExceeded`` and is skipped to its end or the next newline, whichever comes
    first. ``crlf`` says whether the last request line ended in ``\r\n``."""

    _scanner: "ValueScanner" = None  # type: ignore[assignment]  # made at the first read
    _lines_waiting = False  # paused with whole lines still unhandled
    # Paused between complete values (bare ones, or those of one line): the values not yet
    # handled, in order, and the bytes after them (what followed the line's last newline,
    # what was received since), scanned only once those are handled.
    _values_waiting: "Deque[Tuple[bytes, bool]]" = None  # type: ignore[assignment]
    _unread = b""

    def requestReceived(self, request: bytes) -> None:
        raise NotImplementedError

    skip_blank_lines = True  # a blank line is no request

    def line_handler(self) -> Callable[[bytes], None]:
        return self.requestReceived

    def lineReceived(self, line: bytes) -> None:
        if line and not line.isspace():
            self.requestReceived(line)

    @property
    def scanner(self) -> ValueScanner:
        if self._scanner is None:
            self._scanner = ValueScanner(self.MAX_LENGTH)
        return self._scanner

    def dataReceived(self, data: bytes) -> None:
        # A read of exactly one line, with nothing read before it still waiting: what a client
        # that waits for each reply sends. Handled as the general path below would, without it.
        end = len(data) - 1
        if (
            end >= 0
            and data.find(b"\n") == end
            and end <= self.MAX_LENGTH
            and not (self._unhandled or self._values_waiting or self._unread or self._skipping or self.paused)
            and (self._scanner is None or self._scanner.is_empty())
        ):
            if self.transport is not None and self.transport.disconnecting:
                return
            if end and data[end - 1] == 13:  # \r
                self.crlf = True
                line = data[: end - 1]
            else:
                self.crlf = False
                line = data[:end]
            if line and not line.isspace():
                self.requestReceived(line)
            return
        if self._values_waiting or self._unread:
            self._unread += data
            self._handle_values()
            if self._values_waiting or self.paused:
                return  # paused again
            data, self._unread = self._unread, b""
        if self._lines_waiting or b"\n" in data:
            if self._scanner is not None:  # else no value is open
                open_value, dropping = self._scanner.take()
                if dropping:
                    self._skipping = True  # the over-long value's rest, to the newline
                self._unhandled += open_value
            LineReceiver.dataReceived(self, data)
            self._lines_waiting = self.paused and b"\n" in self._unhandled
        elif self._skipping:
            return
        else:
            self.scanner.feed(data)
            self._values_received(self.scanner.values())

    def tailReceived(self) -> None:
        tail, self._unhandled = self._unhandled, b""
        if not tail or self._skipping:
            return
        if self.paused:
            self._unread = tail  # after the values of the last line still waiting
        else:
            self.scanner.feed(tail)
            self._values_received(self.scanner.values())

    def _values_received(self, values: "List[Tuple[bytes, bool]]") -> None:
        """Complete values, each ``(value, too_long)``, handled in order until a handler
        pauses; the rest wait for ``resumeProducing``. Values handed on while one is being
        handled (the parts of one line) come before those already waiting."""
        if self._values_waiting is None:
            self._values_waiting = deque()
        self._values_waiting.extendleft(reversed(values))
        self._handle_values()

    def _handle_values(self) -> None:
        waiting = self._values_waiting
        while waiting and not self.paused:
            if self.transport is not None and self.transport.disconnecting:
                waiting.clear()
                return
            value, too_long = waiting.popleft()
            if too_long:
                self.lineLengthExceeded(value)
            else:
                self.requestReceived(value)
