"""Where the shell's results go: lines on stdout, errors on stderr, flushed as they come."""

import io
from typing import BinaryIO, List


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


class TextStream(io.TextIOBase):
    """The file-like ``stdout`` that ``cmd.Cmd`` writes its help to."""

    def __init__(self, output: Output) -> None:
        self._output = output

    def write(self, text: str) -> int:
        self._output.text(text)
        return len(text)


class StreamOutput(Output):
    """Pipes and files: UTF-8 whatever the locale (CentOS 7's C locale is ASCII), flushed
    at once so that a reader downstream sees each result as it happens."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO) -> None:
        self._stdout = stdout
        self._stderr = stderr

    def error(self, message: str) -> None:
        self._write(self._stderr, "error: %s\n" % message)

    def text(self, text: str) -> None:
        self._write(self._stdout, text)

    @staticmethod
    def _write(stream: BinaryIO, text: str) -> None:
        try:
            stream.write(text.encode("utf-8"))
            stream.flush()
        except BrokenPipeError:
            # The reader went away (``callcenter < input | head``): the session goes on
            # to the end of its input, as ``cat`` would, without a traceback.
            pass
