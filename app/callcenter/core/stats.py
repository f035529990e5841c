"""The figures behind ``stats``: counters kept O(1) per command, and the table that shows them.

Pure, like the core: no I/O, no Twisted; times are readings of the core's injected clock.
The table's lines are documented, one by one, in docs/stats.md. Layer: core.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from callcenter.core.model import BUSY, LOGGED_OUT, PAUSED, WRAP_UP

# The counters and sums, in the order of stats_state()'s "figures".
FIGURE_NAMES = (
    "received",
    "answered",
    "answered_in_service_level",
    "missed",
    "finished",
    "rejected",
    "ignored",
    "refused",
    "timed_out",
    "wait_total",
    "wait_longest",
)
FLOAT_FIGURES = ("wait_total", "wait_longest")
# Figures that a state saved before they existed does not hold: 0 there.
LATER_FIGURES = ("refused", "timed_out")


class QueueFigures(object):
    """Calls by outcome since the start, and the sums behind the average and longest wait.

    ``answered`` counts every call that was answered, those still talking included
    (``answered - finished`` of them), so that at every moment
    ``received == answered + missed + refused + timed_out + waiting + ringing``
    (``refused``: the queue was full, ``--max-queue``; ``timed_out``: waited past
    ``--max-wait``).
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
        self.refused = 0
        self.timed_out = 0
        self.wait_total = 0.0
        self.wait_longest = 0.0

    def answered_after(self, wait: float, service_level: float) -> None:
        """One more call answered after waiting ``wait`` seconds (as the simulator's ``Tally.answered_after``)."""
        self.answered += 1
        self.wait_total += wait
        if wait > self.wait_longest:
            self.wait_longest = wait
        if wait <= service_level:
            self.answered_in_service_level += 1

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in FIGURE_NAMES}

    @classmethod
    def from_dict(cls, saved: Dict[str, Any]) -> "QueueFigures":
        """The figures of ``to_dict``; KeyError, TypeError or ValueError when it is not one."""
        figures = cls()
        for name in FIGURE_NAMES:
            value = saved.get(name, 0) if name in LATER_FIGURES else saved[name]
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
    ringing: int,
    limits: bool = False,
) -> List[str]:
    """The lines of ``stats``: seven lines of totals (nine with queue ``limits``: the calls
    refused and timed out too), then a table of the operators."""
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
    if limits:
        lines[3:3] = ["Calls refused: %d (queue full)" % figures.refused, "Calls timed out: %d" % figures.timed_out]
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


def queue_line(
    name: str,
    figures: QueueFigures,
    now: float,
    service_level: float,
    waiting: int,
    oldest_waiting: Optional[float],
    ringing: int,
) -> str:
    """One queue's figures on one line, after the totals (with several queues)."""
    if figures.answered:
        average = duration(figures.wait_total / figures.answered)
        level = "%.1f%%" % (100.0 * figures.answered_in_service_level / figures.answered)
    else:
        average = level = "-"
    return (
        "Queue %s: %d received, %d answered, %d missed, %d refused, %d timed out, %d waiting (longest %s), "
        "%d ringing, average wait %s, service level %s"
        % (
            name,
            figures.received,
            figures.answered,
            figures.missed,
            figures.refused,
            figures.timed_out,
            waiting,
            "-" if oldest_waiting is None else duration(now - oldest_waiting),
            ringing,
            average,
            level,
        )
    )


def presence_times(operator: Any, now: float) -> "Optional[Tuple[Dict[str, float], float, float]]":
    """An operator's time paused by reason ("" for none), in wrap-up and logged in, the
    present stretch included; None when it was never paused, logged out or in wrap-up."""

    paused = dict(operator.paused_time)
    wrap_up, logged_out = operator.wrap_up_time, operator.logged_out_time
    spent = now - operator.since
    if operator.state == PAUSED:
        reason = operator.reason or ""
        paused[reason] = paused.get(reason, 0.0) + spent
    elif operator.state == WRAP_UP:
        wrap_up += spent
    elif operator.state == LOGGED_OUT:
        logged_out += spent
    if not paused and not wrap_up and not logged_out and operator.state not in (PAUSED, WRAP_UP, LOGGED_OUT):
        return None
    return paused, wrap_up, now - operator.joined - logged_out


def presence_lines(operators: Sequence[Any], now: float) -> List[str]:
    """After the table, one line per operator that has been paused, logged out or in
    wrap-up: its time paused (in all, then by reason), in wrap-up and logged in. None
    when presence was never used (the assignment's stats)."""
    lines = []
    for operator in operators:
        times = presence_times(operator, now)
        if times is None:
            continue
        paused, wrap_up, logged_in = times
        reasons = ", ".join("%s %s" % (reason or "no reason", duration(paused[reason])) for reason in sorted(paused))
        lines.append(
            "Operator %s: paused %s%s, in wrap-up %s, logged in %s"
            % (
                operator.id,
                duration(sum(paused.values())),
                " (%s)" % reasons if reasons else "",
                duration(wrap_up),
                duration(logged_in),
            )
        )
    return lines
