"""The assignment's lines, rendered from events: the one place that words what happened.

Layer: core (pure). Each event renders as at most one line (:func:`line_of`); events that
another line already tells (a :class:`RingCanceled`, a :class:`WrapUpStarted`, a pending
pause taking effect) render as none. The lines are those of the assignment and of
docs/routing.md and docs/queues.md, byte for byte; the shell prints them, the server's
protocol sends them, joined by newlines, as a reply's or an event's text.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional

from callcenter.core.events import (
    CallAnswered,
    CallFinished,
    CallIgnored,
    CallMissed,
    CallQueued,
    CallReceived,
    CallRefused,
    CallRejected,
    CallRinging,
    CallTimedOut,
    ChangesAccepted,
    ChangesRefused,
    LogoutCalledOff,
    OperatorLoggedIn,
    OperatorLoggedOut,
    OperatorPaused,
    OperatorUnpaused,
    OperatorWillLogOut,
    OperatorWillPause,
    PauseCalledOff,
    RingCanceled,
    WrapUpEnded,
    WrapUpStarted,
)


def queue_label(queue: str, default_queue: bool) -> str:
    """How a line names a queue: not at all for the default queue, `` sales`` for another."""
    return "" if default_queue else " " + queue


def paused_line(operator: str, reason: Optional[str]) -> str:
    """``Operator A paused`` or ``Operator A paused: lunch``."""
    if reason:
        return "Operator %s paused: %s" % (operator, reason)
    return "Operator %s paused" % operator


def _none(event: Any) -> None:
    return None


def _paused(event: Any) -> Optional[str]:
    return None if event.after_call is not None else paused_line(event.operator, event.reason)


def _logged_out(event: Any) -> Optional[str]:
    return None if event.after_call is not None else "Operator %s logged out" % event.operator


def _available(event: Any) -> str:
    return "Operator %s available" % event.operator


def _busy(event: Any) -> str:
    return "Operator %s busy with call %s" % (event.operator, event.call)


# The line of each kind of event (None: it has none).
LINES: "Dict[type, Callable[[Any], Optional[str]]]" = {
    CallReceived: lambda event: "Call %s received" % event.call,
    CallRefused: lambda event: (
        "Call %s refused: queue%s full" % (event.call, queue_label(event.queue, event.default_queue))
    ),
    CallQueued: lambda event: (
        "Call %s waiting in queue%s" % (event.call, queue_label(event.queue, event.default_queue))
    ),
    CallRinging: lambda event: "Call %s ringing for operator %s" % (event.call, event.operator),
    CallAnswered: lambda event: "Call %s answered by operator %s" % (event.call, event.operator),
    CallRejected: lambda event: "Call %s rejected by operator %s" % (event.call, event.operator),
    CallIgnored: lambda event: "Call %s ignored by operator %s" % (event.call, event.operator),
    RingCanceled: _none,
    CallMissed: lambda event: "Call %s missed" % event.call,
    CallTimedOut: lambda event: (
        "Call %s timed out in queue%s" % (event.call, queue_label(event.queue, event.default_queue))
    ),
    CallFinished: lambda event: "Call %s finished and operator %s %s" % (event.call, event.operator, event.then),
    OperatorPaused: _paused,
    OperatorUnpaused: _available,
    OperatorLoggedOut: _logged_out,
    OperatorLoggedIn: _available,
    OperatorWillPause: lambda event: "Operator %s will pause after call %s" % (event.operator, event.call),
    OperatorWillLogOut: lambda event: "Operator %s will log out after call %s" % (event.operator, event.call),
    PauseCalledOff: _busy,
    LogoutCalledOff: _busy,
    WrapUpStarted: _none,
    WrapUpEnded: _available,
    ChangesRefused: lambda event: (
        "The call center cannot store changes: %s in %s; status and stats still work" % (event.reason, event.directory)
    ),
    ChangesAccepted: lambda event: "The call center stores changes again",
}


def line_of(event: Any) -> Optional[str]:
    """The line ``event`` prints, or None when another line already tells it."""
    return LINES[type(event)](event)


def render(events: Iterable[Any]) -> List[str]:
    """The lines of ``events``, in order."""
    lines = []
    for event in events:
        line = LINES[type(event)](event)
        if line is not None:
            lines.append(line)
    return lines
