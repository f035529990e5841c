"""Feeding the shell from stdin with ``twisted.internet.stdio``: no thread, no ``cmdloop``.

Piped input goes through a line receiver that calls ``Cmd.onecmd`` per line and prints
nothing but results. A terminal gets ``twisted.conch.recvline``: a prompt, history on the
arrow keys, tab completion, and output that arrives while someone types (a ring timeout,
a server's reply) printed above their half-typed line, which is then drawn again.
"""

import os
import sys
import termios
import tty
from os.path import commonpath
from typing import Any, Optional

from twisted.conch import recvline
from twisted.conch.insults import insults
from twisted.internet import defer, stdio
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorCore
from twisted.python.failure import Failure
from zope.interface import implementer

from callcenter.lines import LineReceiver
from callcenter.output import Output, StreamOutput

CTRL_C = b"\x03"
CTRL_D = b"\x04"
CTRL_L = b"\x0c"
CTRL_U = b"\x15"


def interactive() -> bool:
    """Prompt and line editing only when a person is at a terminal on both ends."""
    return os.isatty(0) and os.isatty(1)


def make_output() -> Output:
    if interactive():
        return TerminalOutput()
    return StreamOutput(sys.stdout.buffer, sys.stderr.buffer)


@implementer(IHalfCloseableProtocol)
class LineConsole(LineReceiver):
    """Piped stdin: one ``onecmd`` per line; ``done`` fires at end of input or ``quit``.

    Half-closeable, so that end of input does not close stdout: the client still has
    replies to print after it."""

    ended = False

    def __init__(self, shell: Any, output: Output, done: defer.Deferred) -> None:
        self.shell = shell
        self.output = output
        self.done = done

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

    def readConnectionLost(self) -> None:
        last = self.unterminatedLine()
        if last:
            self.lineReceived(last)
        self.end()

    def writeConnectionLost(self) -> None:
        """Nothing is written through the transport: output goes to sys.stdout."""

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.end()

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.pauseProducing()  # stop reading stdin after quit
            self.done.callback(None)


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
        common = commonpath(candidates).encode("utf-8")
        addition = common[len(typed) :]
        if len(candidates) == 1:
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


def attach(reactor: IReactorCore, shell: Any, output: Output) -> defer.Deferred:
    """Read stdin into ``shell``; the result fires at end of input or ``quit``."""
    done: defer.Deferred = defer.Deferred()
    if not isinstance(output, TerminalOutput):
        stdio.StandardIO(LineConsole(shell, output, done), reactor=reactor)
        return done

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)

    def restore(result: object) -> object:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
        return result

    def build(*args: object) -> TerminalConsole:
        output.console = TerminalConsole(shell, done)
        return output.console

    terminal = insults.ServerProtocol(build)
    stdio.StandardIO(terminal, reactor=reactor)
    return done.addBoth(restore)
