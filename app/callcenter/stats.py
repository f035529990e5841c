"""The figures behind ``stats``: counters kept O(1) per command, and the table that shows them.

Pure, like the core: no I/O, no Twisted; times are readings of the core's injected clock.
The table's lines are documented, one by one, in docs/stats.md. Layer: core.
"""

from typing import Any, Dict, List, Optional, Sequence

from callcenter.states import BUSY, RINGING

# The counters and sums, in the order of stats_state()'s "figures".
FIGURE_NAMES = (
    "received",
    "answered",
    "answered_in_service_level",
    "missed",
    "finished",
    "rejected",
    "ignored",
    "wait_total",
    "wait_longest",
)
FLOAT_FIGURES = ("wait_total", "wait_longest")


class QueueFigures(object):
    """Calls by outcome since the start, and the sums behind the average and longest wait.

    ``answered`` counts every call that was answered, those still talking included
    (``answered - finished`` of them), so that at every moment
    ``received == answered + missed + waiting + ringing``.
    """

    __slots__ = FIGURE_NAMES

    def __init__(self) -> None:
        self.received = 0
        self.answered = 0
        self.answered_in_service_level = 0
        self.missed = 0
        self.finished = 0
        self.rejected = 0
        self.ignored = 0
        self.wait_total = 0.0
        self.wait_longest = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in FIGURE_NAMES}

    @classmethod
    def from_dict(cls, saved: Dict[str, Any]) -> "QueueFigures":
        """The figures of ``to_dict``; KeyError, TypeError or ValueError when it is not one."""
        figures = cls()
        for name in FIGURE_NAMES:
            value = saved[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError("%s must be a number, not %r" % (name, value))
            if name not in FLOAT_FIGURES and not isinstance(value, int):
                raise ValueError("%s must be a whole number, not %r" % (name, value))
            setattr(figures, name, float(value) if name in FLOAT_FIGURES else value)
        return figures


def duration(seconds: float) -> str:
    """``H:MM:SS``, rounded to the second (negative times, from a clock set back, count as 0)."""
    whole = int(seconds + 0.5) if seconds > 0 else 0
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return "%d:%02d:%02d" % (hours, minutes, secs)


def threshold(seconds: float) -> str:
    return "%g s" % seconds


OPERATOR_COLUMNS = ("Operator", "State", "For", "Answered", "Rejected", "Ignored", "Talk time")


def stats_table(
    figures: QueueFigures,
    operators: Sequence[Any],
    now: float,
    service_level: float,
    waiting: int,
    oldest_waiting: Optional[float],
) -> List[str]:
    """The lines of ``stats``: seven lines of totals, then a table of the operators."""
    ringing = sum(1 for operator in operators if operator.state == RINGING)
    talking = figures.answered - figures.finished
    if figures.answered:
        average = duration(figures.wait_total / figures.answered)
        longest = duration(figures.wait_longest)
        share = 100.0 * figures.answered_in_service_level / figures.answered
        level = "%.1f%% (%d of %d answered within %s)" % (
            share,
            figures.answered_in_service_level,
            figures.answered,
            threshold(service_level),
        )
    else:
        average = longest = "-"
        level = "- (no call answered yet; threshold %s)" % threshold(service_level)
    lines = [
        "Calls received: %d" % figures.received,
        "Calls answered: %d (%d talking now, %d finished)" % (figures.answered, talking, figures.finished),
        "Calls missed: %d" % figures.missed,
        "Calls waiting: %d (longest waiting %s)"
        % (waiting, "-" if oldest_waiting is None else duration(now - oldest_waiting)),
        "Calls ringing: %d" % ringing,
        "Wait before answer: average %s, longest %s" % (average, longest),
        "Service level: %s" % level,
    ]
    rows = [OPERATOR_COLUMNS]
    for operator in operators:
        talk_time = operator.talk_time
        if operator.state == BUSY:
            talk_time += now - operator.since  # the call in progress so far
        rows.append(
            (
                operator.id,
                operator.state,
                duration(now - operator.since),
                str(operator.answered),
                str(operator.rejected),
                str(operator.ignored),
                duration(talk_time),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(OPERATOR_COLUMNS))]
    # Headings, ids and states to the left, figures to the right, two spaces between columns.
    lines.append("  ".join(heading.ljust(width) for heading, width in zip(rows[0], widths)).rstrip())
    for row in rows[1:]:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells.extend(cell.rjust(width) for cell, width in zip(row[2:], widths[2:]))
        lines.append("  ".join(cells))
    return lines
