"""Feeding the shell from stdin with ``twisted.internet.stdio``: no thread, no ``cmdloop``.

Layer: protocols (the shell's side). Two sessions, each owning its output and how it
attaches to the shell (``interfaces.IShellSession``): a :class:`PipeSession` reads piped
input through a line receiver that calls ``Cmd.onecmd`` per line and prints nothing but
results, with flow control from stdout and stderr back to stdin (and to the client's
server connection). A :class:`TerminalSession` gets ``twisted.conch.recvline``: a prompt,
history on the arrow keys, tab completion, and output that arrives while someone types (a
ring timeout, a server's reply) printed above their half-typed line, which is then drawn
again.
"""

import os
import sys
import termios
import tty
from typing import Any, List, Optional, Set

from twisted.conch import recvline
from twisted.conch.insults import insults
from twisted.internet import defer, process, stdio
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer

from callcenter.cli.output import Output, StreamOutput
from callcenter.interfaces import IShellSession
from callcenter.net.lines import LineReceiver

CTRL_C = b"\x03"
CTRL_D = b"\x04"
CTRL_L = b"\x0c"
CTRL_U = b"\x15"


def interactive() -> bool:
    """Prompt and line editing only when a person is at a terminal on both ends."""
    return os.isatty(0) and os.isatty(1)


def open_session(reactor: Any) -> IShellSession:
    """A terminal session when a person is at a terminal, else a pipe session."""
    if interactive():
        return TerminalSession(reactor)
    return PipeSession(reactor)


def common_prefix(words: List[str]) -> str:
    """The longest string every one of ``words`` starts with (``stats``, ``status``: ``stat``)."""
    first, last = min(words), max(words)
    for position, (one, other) in enumerate(zip(first, last)):
        if one != other:
            return first[:position]
    return first


def same_file(fd: int, other: int) -> bool:
    """Whether two descriptors are one file or pipe (``2>&1``, ``> file 2>&1``)."""
    mine, theirs = os.fstat(fd), os.fstat(other)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


# Why the console is not reading stdin.
NOT_STARTED = "not started"  # no shell yet: the client is still connecting
STDOUT_FULL = "stdout"
STDERR_FULL = "stderr"
SERVER_FULL = "server"  # the client's requests wait for the server to take them
OUTPUT_FULL = frozenset([STDOUT_FULL, STDERR_FULL])


@implementer(IPushProducer)
class Hold(object):
    """The producer a consumer pauses: it holds the console's reading for one reason."""

    def __init__(self, console: "LineConsole", reason: str) -> None:
        self.console = console
        self.reason = reason

    def pauseProducing(self) -> None:
        self.console.hold(self.reason)

    def resumeProducing(self) -> None:
        self.console.release(self.reason)

    def stopProducing(self) -> None:
        self.console.release(self.reason)


@implementer(IHalfCloseableProtocol)
class LineConsole(LineReceiver):
    """Piped stdin: one ``onecmd`` per line; ``done`` fires at end of input or ``quit``.

    Half-closeable, so that end of input does not close stdout: the client still has
    replies to print after it. Stdin is read only while nothing holds it: while the
    output waits for a slow reader (the output transports pause it, as their producer),
    while the client's requests wait for the server, and until the shell is attached.
    ``followers`` (the client's server connection) stop reading while the output is full,
    so that their replies wait in the server, not here."""

    ended = False
    shell: Any = None

    def __init__(self, shell: Any, output: Output, done: defer.Deferred) -> None:
        self.shell = shell
        self.output = output
        self.done = done
        self.holds: "Set[str]" = set()
        self.followers: "List[Any]" = []
        self.closed: defer.Deferred = defer.Deferred()  # stdout is drained and closed, or gone

    def connectionMade(self) -> None:
        self.transport.registerProducer(Hold(self, STDOUT_FULL), True)
        if self.shell is None:
            self.hold(NOT_STARTED)

    def start(self, shell: Any, done: defer.Deferred) -> None:
        self.shell = shell
        self.done = done
        self.release(NOT_STARTED)

    def hold(self, reason: str) -> None:
        if reason in OUTPUT_FULL and not self.holds & OUTPUT_FULL:
            for follower in self.followers:
                follower.pauseProducing()
        self.holds.add(reason)
        if not self.paused:
            self.pauseProducing()

    def release(self, reason: str) -> None:
        if reason not in self.holds:
            return
        self.holds.discard(reason)
        if reason in OUTPUT_FULL and not self.holds & OUTPUT_FULL:
            for follower in self.followers:
                follower.resumeProducing()
        if not self.holds and self.paused and not self.ended:
            self.resumeProducing()  # runs the lines already read, then reads on
            self._end_if_input_ended()

    def dataReceived(self, data: bytes) -> None:
        self.output.batch()
        try:
            LineReceiver.dataReceived(self, data)
        finally:
            self.output.flush()

    def lineReceived(self, line: bytes) -> None:
        if self.ended:
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.output.error("the line is not valid UTF-8; it was ignored")
            return
        if self.shell.onecmd(text):
            self.end()

    def lineLengthExceeded(self, line: bytes) -> None:
        self.output.error("line longer than %d bytes; it was ignored" % self.MAX_LENGTH)

    input_ended = False

    def readConnectionLost(self) -> None:
        self.input_ended = True
        self._end_if_input_ended()

    def _end_if_input_ended(self) -> None:
        """At end of input, once the lines already read have run (none wait while paused)."""
        if self.input_ended and not self.paused and not self.ended:
            last = self.unterminatedLine()
            if last:
                self.lineReceived(last)
            self.end()

    def writeConnectionLost(self) -> None:
        """Stdout is closed: nothing more can be seen, so stop, quietly."""
        self.end()
        self._closed()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        # After close() has drained stdout, or when its reader went away (| head).
        self.end()
        self._closed()

    def _closed(self) -> None:
        if not self.closed.called:
            self.closed.callback(None)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            if not self.paused:
                self.pauseProducing()  # stop reading stdin after quit
            if self.done is not None and not self.done.called:
                self.done.callback(None)


class WriterOwner(object):
    """What ``process.ProcessWriter`` reports to: here only that stderr has closed."""

    def __init__(self) -> None:
        self.closed: defer.Deferred = defer.Deferred()

    def childDataReceived(self, name: str, data: bytes) -> None:
        """Never called: the descriptor is only written."""

    def childConnectionLost(self, name: str, reason: Failure) -> None:
        if not self.closed.called:
            self.closed.callback(None)


class StdioOutput(StreamOutput):
    """Stdout and stderr as Twisted transports (``twisted.internet.stdio`` for stdout and
    stdin, the same non-blocking writer for stderr), with the console that reads stdin
    as the producer that both of them pause while their reader is slow."""

    def __init__(self, reactor: Any) -> None:
        self.console = LineConsole(None, self, None)  # type: ignore[arg-type]
        stdout = stdio.StandardIO(self.console, reactor=reactor)
        if same_file(1, 2):
            StreamOutput.__init__(self, stdout)
            self._stderr_closed: "Optional[defer.Deferred]" = None
        else:
            other_side = WriterOwner()
            stderr = process.ProcessWriter(reactor, other_side, "write", 2)
            stderr.registerProducer(Hold(self.console, STDERR_FULL), True)
            StreamOutput.__init__(self, stdout, stderr)
            self._stderr_closed = other_side.closed

    def close(self) -> defer.Deferred:
        """Send what is still buffered, then close both streams."""
        waits = [self.console.closed]
        self.stdout.loseConnection()
        if self._stderr_closed is not None:
            self.stderr.loseConnection()
            waits.append(self._stderr_closed)
        return defer.gatherResults(waits).addCallback(lambda _: None)


class TerminalConsole(recvline.HistoricRecvLine):
    """A terminal: the shell's prompt, history, completion, and redrawing."""

    def __init__(self, shell: Any, done: defer.Deferred) -> None:
        self.shell = shell
        self.done = done
        self.ps = (shell.prompt.encode("utf-8"), b"")
        self._prompt_shown = False

    def connectionMade(self) -> None:
        recvline.HistoricRecvLine.connectionMade(self)
        self.keyHandlers.update(
            {
                CTRL_C: self.handle_INTERRUPT,
                CTRL_D: self.handle_EOF,
                CTRL_L: self.handle_REDRAW,
                CTRL_U: self.handle_KILL_LINE,
                self.terminal.TAB: self.handle_COMPLETE,
            }
        )

    def initializeScreen(self) -> None:
        # RecvLine's own resets (clears) the whole terminal; a shell should not.
        self.terminal.write(self.ps[0])
        self._prompt_shown = True
        self.setInsertMode()

    def show(self, text: str) -> None:
        """Print ``text`` (whole lines) above the input line, then draw the input line again."""
        terminal = self.terminal
        if self._prompt_shown:
            terminal.write(b"\r")
            terminal.eraseLine()
        terminal.write(text.encode("utf-8"))  # ServerProtocol turns \n into \r\n
        if self._prompt_shown:
            self.drawInputLine()
            behind = len(self.lineBuffer) - self.lineBufferIndex
            if behind:
                terminal.cursorBackward(behind)

    def lineReceived(self, line: bytes) -> None:
        self._prompt_shown = False
        try:
            stop = self.shell.onecmd(line.decode("utf-8"))
        except UnicodeDecodeError:
            stop = False
            self.show("error: the line is not valid UTF-8; it was ignored\n")
        if stop:
            self.finish()
        else:
            self.terminal.write(self.ps[0])
            self._prompt_shown = True

    def handle_COMPLETE(self) -> None:
        before, _after = self.currentLineBuffer()
        candidates = self.shell.completions(before.decode("utf-8", "replace"))
        if not candidates:
            return
        typed = (before.split() or [b""])[-1] if not before[-1:].isspace() else b""
        common = common_prefix(candidates).encode("utf-8")
        addition = common[len(typed) :]
        if len(candidates) == 1 and not common.endswith(b"="):  # an option: its value comes next
            addition += b" "
        if addition:
            for character in addition:
                self.characterReceived(bytes((character,)), False)
        elif len(candidates) > 1:
            self.show("  ".join(candidates) + "\n")

    def handle_INTERRUPT(self) -> None:
        """Ctrl-C drops the half-typed line, like a shell."""
        self.terminal.write(b"^C\r\n")
        self.lineBuffer = []
        self.lineBufferIndex = 0
        self.drawInputLine()

    def handle_KILL_LINE(self) -> None:
        self.lineBuffer = self.lineBuffer[self.lineBufferIndex :]
        self.lineBufferIndex = 0
        self.terminal.write(b"\r")
        self.terminal.eraseLine()
        self.drawInputLine()
        if self.lineBuffer:
            self.terminal.cursorBackward(len(self.lineBuffer))

    def handle_REDRAW(self) -> None:
        self.terminal.eraseDisplay()
        self.terminal.cursorHome()
        self.drawInputLine()

    def handle_EOF(self) -> None:
        """Ctrl-D on an empty line ends the session; elsewhere it deletes, like readline."""
        if self.lineBuffer:
            self.handle_DELETE()
        else:
            self.terminal.write(b"\r\n")
            self.finish()

    def finish(self) -> None:
        self._prompt_shown = False
        if not self.done.called:
            self.done.callback(None)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.finish()


class TerminalOutput(Output):
    """Output for a terminal in raw mode, drawn around the input line."""

    console: "Optional[TerminalConsole]" = None

    def error(self, message: str) -> None:
        # The terminal is shared by stdout and stderr; writing to stderr would tear the input line.
        self.text("error: %s\n" % message)

    def text(self, text: str) -> None:
        assert self.console is not None
        self.console.show(text)


@implementer(IShellSession)
class PipeSession(object):
    """Piped stdin, stdout and stderr: the line console reads stdin while nothing holds it
    (a slow reader of stdout or stderr, requests the server has not taken yet)."""

    completes = False

    def __init__(self, reactor: Any) -> None:
        self.output = StdioOutput(reactor)

    def attach(self, shell: Any) -> defer.Deferred:
        done: defer.Deferred = defer.Deferred()
        self.output.console.start(shell, done)
        return done

    def follow(self, transport: Any) -> None:
        """The client's server connection: stdin waits while it has requests unsent, and
        it stops reading replies while the output waits for a slow reader."""
        console = self.output.console
        transport.registerProducer(Hold(console, SERVER_FULL), True)
        console.followers.append(transport)
        if console.holds & OUTPUT_FULL:
            transport.pauseProducing()

    def unfollow(self, transport: Any) -> None:
        console = self.output.console
        if transport in console.followers:
            console.followers.remove(transport)
        console.release(SERVER_FULL)

    def close(self) -> defer.Deferred:
        return self.output.close()


@implementer(IShellSession)
class TerminalSession(object):
    """A terminal in raw mode: the terminal console draws the output around the input line."""

    completes = True

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.output = TerminalOutput()

    def attach(self, shell: Any) -> defer.Deferred:
        done: defer.Deferred = defer.Deferred()
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setraw(fd)

        def restore(result: object) -> object:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
            return result

        def build(*args: object) -> TerminalConsole:
            self.output.console = TerminalConsole(shell, done)
            return self.output.console

        stdio.StandardIO(insults.ServerProtocol(build), reactor=self.reactor)
        return done.addBoth(restore)

    def follow(self, transport: Any) -> None:
        """Nothing to hold back: a person reads no faster than a terminal shows."""

    def unfollow(self, transport: Any) -> None:
        """Nothing was held back."""

    def close(self) -> defer.Deferred:
        return defer.succeed(None)
