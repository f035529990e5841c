"""Where the shell's results go: lines on stdout, errors on stderr, as they come.

Layer: protocols (the shell's side). Which output a program gets, and how it is closed,
is its session's (``console.PipeSession``, ``console.TerminalSession``).
"""

import io
from typing import Any, List, Optional


class Output(object):
    """Result lines, error lines, and a text stream for ``cmd.Cmd``'s own help output."""

    def lines(self, lines: List[str]) -> None:
        """Whole result lines, as one write."""
        if lines:
            self.text("\n".join(lines) + "\n")

    def error(self, message: str) -> None:
        raise NotImplementedError

    def text(self, text: str) -> None:
        raise NotImplementedError

    def text_stream(self) -> "TextStream":
        return TextStream(self)

    def batch(self) -> None:
        """Gather what is written until ``flush``."""

    def flush(self) -> None:
        """Write what was gathered since ``batch``."""


class TextStream(io.TextIOBase):
    """The file-like ``stdout`` that ``cmd.Cmd`` writes its help to."""

    def __init__(self, output: Output) -> None:
        self._output = output

    def write(self, text: str) -> int:
        self._output.text(text)
        return len(text)


class StreamOutput(Output):
    """Pipes and files: UTF-8 whatever the locale (CentOS 7's C locale is ASCII), written
    through Twisted transports, which send what the pipe takes now and keep the rest
    until it drains, so a slow reader loses nothing. When stdout and stderr are one file
    (``2>&1``) they are one transport, so errors and results keep their order.

    Between ``batch()`` and ``flush()`` (one read of input) the text is gathered and
    written once: one write per read instead of one per command (for a file, which
    epoll cannot watch, each write would also ask the reactor for a writer slot)."""

    def __init__(self, stdout: Any, stderr: "Optional[Any]" = None) -> None:
        self.stdout = stdout
        self.stderr = stdout if stderr is None else stderr
        self._out: "Optional[List[bytes]]" = None
        self._err: "Optional[List[bytes]]" = None

    def error(self, message: str) -> None:
        data = ("error: %s\n" % message).encode("utf-8")
        if self._err is None:
            self.stderr.write(data)
        else:
            self._err.append(data)

    def text(self, text: str) -> None:
        data = text.encode("utf-8")
        if self._out is None:
            self.stdout.write(data)
        else:
            self._out.append(data)

    def batch(self) -> None:
        if self._out is None:
            self._out = []
            self._err = self._out if self.stderr is self.stdout else []

    def flush(self) -> None:
        out, err = self._out, self._err
        self._out = self._err = None
        if out:
            self.stdout.write(b"".join(out))
        if err and err is not out:
            self.stderr.write(b"".join(err))
