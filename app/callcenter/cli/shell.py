"""The command interpreter (a stdlib ``cmd.Cmd``), and how it runs on a local call center.

Layer: cli. The ``callcenter`` program that starts it is in ``wiring/shell.py``.

The same shell class serves the one-process program and the TCP client: it checks a
command's syntax and hands ``(command, id)`` to a ``send`` callable. In one process
``send`` runs the command on the local :class:`CallCenter` and prints the lines of its
events, and :class:`PrintedEvents` prints those no command caused (a ring timeout) as they
happen; in the client it goes to the server as JSON.
"""

import cmd
from typing import Any, Callable, List, Optional, Sequence, Tuple

from zope.interface import implementer

from callcenter.cli.output import Output
from callcenter.core.center import QUERIES, CallCenter, CallCenterError
from callcenter.core.rendering import render
from callcenter.interfaces import IEventSubscriber

Send = Callable[[str, Optional[str]], None]

COMMANDS_WITH_ID = {
    "call": "call <call id> [priority=N]",
    "answer": "answer <operator id>",
    "reject": "reject <operator id>",
    "hangup": "hangup <call id>",
    "pause": "pause <operator id> [reason...]",
    "unpause": "unpause <operator id>",
    "login": "login <operator id>",
    "logout": "logout <operator id>",
    "finish": "finish <operator id>",
    "level": "level <operator id> <level> [queue=NAME]",
}

STATS_HELP = """\
stats: the figures since the server (or the program) started; times are H:MM:SS.
  Calls received       every call that arrived
  Calls answered       calls an operator answered: those talking now, and those finished
  Calls missed         calls hung up before anyone answered (waiting or ringing)
  Calls refused        with --max-queue: calls that found the queue full
  Calls timed out      with --max-wait: calls that waited too long in the queue
  Calls waiting        calls in the queue now, and how long the one waiting longest has waited
  Calls ringing        calls ringing for an operator now
                       (received = answered + missed + refused + timed out + waiting + ringing)
  Wait before answer   average and longest time from arrival to answer, over answered calls
  Service level        share of answered calls answered within the threshold
                       (--service-level, 20 s by default)
  Then one row per operator:
  State, For           its state now, and how long it has been in it
  Answered             calls it answered
  Rejected, Ignored    calls it rejected, and let ring until the ring timeout
  Talk time            time spent on its answered calls, the one in progress included
  Then, for each operator that was paused, logged out or in wrap-up: its time paused
  (by reason), in wrap-up and logged in.
"""


class CallCenterShell(cmd.Cmd):
    """Reads one command per ``onecmd`` call; never runs ``cmdloop`` (no thread, no blocking)."""

    prompt = "callcenter> "
    doc_header = "Commands (type help <command> for details):"
    ruler = ""

    def __init__(
        self, send: Send, output: Output, operator_ids: Sequence[str] = (), queue_names: Sequence[str] = ()
    ) -> None:
        cmd.Cmd.__init__(self, stdout=output.text_stream())  # type: ignore[arg-type]
        self.send = send
        self.output = output
        self.operator_ids = sorted(operator_ids)
        self.queue_names = list(queue_names)  # the default one first, as the server has them

    # What a line means. Cmd's own parser splits "call-1" into "call" and "-1" (it stops
    # at the first non-identifier character); commands here are whole words.

    def parseline(self, line: str) -> Tuple[Optional[str], Optional[str], str]:
        line = line.strip()
        if not line:
            return None, None, line
        if line.startswith("?"):
            line = "help " + line[1:]
        words = line.split(None, 1)
        argument = words[1].strip() if len(words) > 1 else ""
        return words[0], argument, line

    def emptyline(self) -> bool:
        """An empty line does nothing (Cmd's default repeats the last command)."""
        return False

    def default(self, line: str) -> None:
        self.output.error("unknown command %r; type help for the list" % (line.split()[0][:80],))

    def _send_with_id(self, command: str, argument: str, more: str = "") -> bool:
        """One id; ``more="words"``: any words after it (a pause's reason), ``"key=value"``:
        key=value words after it (a call's priority); the core checks what they say."""
        words = argument.split()
        if not words or (len(words) > 1 and not more):
            self.output.error("usage: %s" % COMMANDS_WITH_ID[command])
        elif more == "key=value" and not all("=" in word for word in words[1:]):
            self.output.error("usage: %s" % COMMANDS_WITH_ID[command])
        else:
            self.send(command, " ".join(words))
        return False

    # The commands: their docstrings are the help text.

    def do_call(self, argument: str) -> bool:
        """call <call id> [priority=N]: a call arrives; it rings the first available operator or waits in the queue.
        priority=N (0 to 9, default 0): a waiting call of higher priority is offered first."""
        return self._send_with_id("call", argument, "key=value")

    def do_answer(self, argument: str) -> bool:
        """answer <operator id>: the operator answers the call ringing for it."""
        return self._send_with_id("answer", argument)

    def do_reject(self, argument: str) -> bool:
        """reject <operator id>: the operator rejects the call ringing for it; it goes to the next one."""
        return self._send_with_id("reject", argument)

    def do_hangup(self, argument: str) -> bool:
        """hangup <call id>: the call ends (missed if nobody had answered it)."""
        return self._send_with_id("hangup", argument)

    def do_pause(self, argument: str) -> bool:
        """pause <operator id> [reason...]: the operator takes no calls until unpause (a busy one after its call)."""
        return self._send_with_id("pause", argument, "words")

    def do_unpause(self, argument: str) -> bool:
        """unpause <operator id>: the paused operator is available again (or a pending pause is called off)."""
        return self._send_with_id("unpause", argument)

    def do_login(self, argument: str) -> bool:
        """login <operator id>: the operator is available again; a new id joins after the last operator."""
        return self._send_with_id("login", argument)

    def do_logout(self, argument: str) -> bool:
        """logout <operator id>: the operator leaves until login (a busy one after its call)."""
        return self._send_with_id("logout", argument)

    def do_finish(self, argument: str) -> bool:
        """finish <operator id>: the operator hangs up the call it talks on (then as when its caller hangs up)."""
        return self._send_with_id("finish", argument)

    def do_level(self, argument: str) -> bool:
        """level <operator id> <level> [queue=NAME]: the operator serves its queues (or that one) at that level.
        A level is 0 to 99; among a queue's available operators a call rings those of the lowest level first."""
        words = argument.split()
        if len(words) not in (2, 3) or "=" in words[1] or (len(words) == 3 and not words[2].startswith("queue=")):
            self.output.error("usage: %s" % COMMANDS_WITH_ID["level"])
        else:
            self.send("level", " ".join(words))
        return False

    def _send_without_id(self, command: str, argument: str) -> bool:
        if argument:
            self.output.error("usage: %s" % command)
        else:
            self.send(command, None)
        return False

    def do_status(self, argument: str) -> bool:
        """status: every operator with its state and call, then the queued calls in order."""
        return self._send_without_id("status", argument)

    def do_stats(self, argument: str) -> bool:
        """stats: the figures since the start: calls by outcome, waits, service level, per operator."""
        return self._send_without_id("stats", argument)

    def help_stats(self) -> None:
        self.output.text(STATS_HELP)

    def do_quit(self, argument: str) -> bool:
        """quit: leave (end of input does the same)."""
        return True

    # Tab completion: command names first, then operator ids after the operator commands.

    def complete_operator(self, text: str, *ignored: object) -> List[str]:
        return [operator_id for operator_id in self.operator_ids if operator_id.startswith(text)]

    complete_answer = complete_operator
    complete_reject = complete_operator
    complete_pause = complete_operator
    complete_unpause = complete_operator
    complete_login = complete_operator
    complete_logout = complete_operator
    complete_finish = complete_operator
    complete_level = complete_operator

    def learn_operators(self, operator_ids: List[str]) -> None:
        """Operator ids for completion: the server's reply to ``operators``."""
        self.operator_ids = sorted(operator_ids)

    def learn_queues(self, queue_names: List[str]) -> None:
        """Queue names for completion after ``queue=``: the server's reply to ``queues``."""
        self.queue_names = list(queue_names)

    def complete_call_option(self, text: str) -> List[str]:
        """The words after ``call <id>``: ``priority=`` and ``queue=`` (with several queues),
        then the queue names after ``queue=``."""
        if text.startswith("queue=") and len(self.queue_names) > 1:
            return ["queue=" + name for name in self.queue_names if ("queue=" + name).startswith(text)]
        options = ["priority=", "queue="] if len(self.queue_names) > 1 else ["priority="]
        return [option for option in options if option.startswith(text) and option != text]

    def complete_queue_option(self, text: str) -> List[str]:
        """The word after ``level <id> <level>``: ``queue=`` then the queue names (with several
        queues)."""
        if len(self.queue_names) < 2:
            return []
        return ["queue=" + name for name in self.queue_names if ("queue=" + name).startswith(text)]

    def completions(self, before_cursor: str) -> List[str]:
        """What may complete the word before the cursor, as readline's Cmd.complete would offer."""
        words = before_cursor.split()
        if not words or before_cursor[-1].isspace():
            words.append("")  # the cursor starts a new word
        text = words[-1]
        if len(words) == 1:
            return self.completenames(text)
        if words[0] == "call" and len(words) > 2:
            return self.complete_call_option(text)
        if words[0] == "level" and len(words) == 4:
            return self.complete_queue_option(text)
        completer = getattr(self, "complete_" + words[0], None)
        if completer is None or len(words) > 2:
            return []
        return list(completer(text, before_cursor, len(before_cursor) - len(text), len(before_cursor)))


def run_locally(center: CallCenter, output: Output) -> Send:
    """The one-process ``send``: run the command on ``center``, print its lines or its error."""

    def send(command: str, argument: Optional[str]) -> None:
        try:
            if command in QUERIES:
                lines = center.query(command, argument)
            else:
                lines = render(center.execute(command, argument))
        except CallCenterError as error:
            output.error(str(error))
        else:
            output.lines(lines)

    return send


@implementer(IEventSubscriber)
class PrintedEvents(object):
    """Prints the lines of the events that no command caused (a ring timeout, the end of a
    wrap-up) as they happen; a command's own lines are its reply."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def heard(self, events: Sequence[Any], command: Optional[str]) -> None:
        if command is None:
            lines = render(events)
            if lines:
                self.output.lines(lines)
