"""Newline framing shared by stdin, the server and the client."""

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
            self.lineReceived(line[:-1] if line[-1:] == b"\r" else line)
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
