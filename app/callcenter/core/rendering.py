"""The assignment's lines, rendered from events: the one place that words what happened.

Layer: core (pure). Each event renders as at most one line (:func:`line_of`); events that
another line already tells (a :class:`RingCanceled`, a :class:`WrapUpStarted`, a pending
pause taking effect) render as none. The lines are those of the assignment and of
docs/routing.md and docs/queues.md, byte for byte; the shell prints them, the server's
protocol sends them, joined by newlines, as a reply's or an event's text.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from callcenter.core.events import (
    CALLER,
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
    OperatorLevelChanged,
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
    reader,
)


def queue_label(queue: str, default_queue: bool) -> str:
    """How a line names a queue: not at all for the default queue, `` sales`` for another."""
    return "" if default_queue else " " + queue


def paused_line(operator: str, reason: Optional[str]) -> str:
    """``Operator A paused`` or ``Operator A paused: lunch``."""
    if reason:
        return "Operator %s paused: %s" % (operator, reason)
    return "Operator %s paused" % operator


def _finished(event: Any) -> str:
    """``Call 1 finished and operator A available`` (the caller hung up), ``Call 1 finished by
    operator A, now available`` (the operator did)."""
    if event._ended_by == CALLER:
        return "Call %s finished and operator %s %s" % (event._call, event._operator, event._then)
    return "Call %s finished by operator %s, now %s" % (event._call, event._operator, event._then)


def _none(event: Any) -> None:
    return None


def _paused(event: Any) -> Optional[str]:
    return None if event.after_call is not None else paused_line(event.operator, event.reason)


def _logged_out(event: Any) -> Optional[str]:
    return None if event.after_call is not None else "Operator %s logged out" % event.operator


# The line of each kind of event (None: it has none): a format and the fields it takes, or a
# function for the lines that depend on their values.
FORMATS: "Dict[type, Tuple[str, Callable[[Any], Any]]]" = {
    CallReceived: ("Call %s received", reader("call")),
    CallRinging: ("Call %s ringing for operator %s", reader("call", "operator")),
    CallAnswered: ("Call %s answered by operator %s", reader("call", "operator")),
    CallRejected: ("Call %s rejected by operator %s", reader("call", "operator")),
    CallIgnored: ("Call %s ignored by operator %s", reader("call", "operator")),
    CallMissed: ("Call %s missed", reader("call")),
    OperatorUnpaused: ("Operator %s available", reader("operator")),
    OperatorLoggedIn: ("Operator %s available", reader("operator")),
    OperatorWillPause: ("Operator %s will pause after call %s", reader("operator", "call")),
    OperatorWillLogOut: ("Operator %s will log out after call %s", reader("operator", "call")),
    PauseCalledOff: ("Operator %s busy with call %s", reader("operator", "call")),
    LogoutCalledOff: ("Operator %s busy with call %s", reader("operator", "call")),
    WrapUpEnded: ("Operator %s available", reader("operator")),
    ChangesRefused: (
        "The call center cannot store changes: %s in %s; status and stats still work",
        reader("reason", "directory"),
    ),
}
FUNCTIONS: "Dict[type, Callable[[Any], Optional[str]]]" = {
    CallRefused: lambda event: (
        "Call %s refused: queue%s full" % (event._call, queue_label(event._queue, event._default_queue))
    ),
    CallQueued: lambda event: (
        "Call %s waiting in queue%s" % (event._call, queue_label(event._queue, event._default_queue))
    ),
    CallTimedOut: lambda event: (
        "Call %s timed out in queue%s" % (event._call, queue_label(event._queue, event._default_queue))
    ),
    CallFinished: _finished,
    OperatorLevelChanged: lambda event: (
        "Operator %s at level %d%s"
        % (event.operator, event.level, "" if event.default_queue else " in queue " + event.queue)
    ),
    RingCanceled: _none,
    OperatorPaused: _paused,
    OperatorLoggedOut: _logged_out,
    WrapUpStarted: _none,
    ChangesAccepted: lambda event: "The call center stores changes again",
}


def _formatted(entry: "Tuple[str, Callable[[Any], Any]]") -> "Callable[[Any], str]":
    text, fields = entry
    return lambda event: text % fields(event)


# Every kind's line as a function of the event.
LINES: "Dict[type, Callable[[Any], Optional[str]]]" = dict(FUNCTIONS)
LINES.update((kind, _formatted(entry)) for kind, entry in FORMATS.items())
# What render looks up, one entry a kind: (format, its fields) or (None, the function).
ENTRIES: "Dict[type, Tuple[Optional[str], Callable[[Any], Any]]]" = {
    kind: (None, line) for kind, line in FUNCTIONS.items()
}
ENTRIES.update(FORMATS)


def line_of(event: Any) -> Optional[str]:
    """The line ``event`` prints, or None when another line already tells it."""
    return LINES[type(event)](event)


def render(events: Iterable[Any]) -> List[str]:
    """The lines of ``events``, in order (the formatted ones without a call of ours: this runs
    for every reply)."""
    lines = []
    entries = ENTRIES
    for event in events:
        text, fields = entries[type(event)]
        if text is not None:
            lines.append(text % fields(event))
        else:
            line = fields(event)
            if line is not None:
                lines.append(line)
    return lines


def text_of(events: Sequence[Any]) -> str:
    """The lines of ``events`` joined by newlines: a reply's or an event's text (one event's
    without a list)."""
    if len(events) == 1:
        event = events[0]
        text, fields = ENTRIES[type(event)]
        if text is not None:
            return text % fields(event)
        return fields(event) or ""
    return "\n".join(render(events))
