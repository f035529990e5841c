"""A log line for something that may happen thousands of times a second.

Layer: protocols and wiring (no Twisted import: time comes in through ``call_later``).
"""

from typing import Any, Callable, Optional


class CountingLog(object):
    """A log line for something that may happen thousands of times a second: the first
    at once, then at most one a ``period`` with how many happened since the last one.
    ``emit(count)`` writes the line."""

    def __init__(self, call_later: Callable[..., Any], emit: Callable[[int], None], period: float = 1.0) -> None:
        self.call_later = call_later
        self.emit = emit
        self.period = period
        self.pending = 0
        self.timer: Optional[Any] = None

    def __call__(self) -> None:
        self.pending += 1
        if self.timer is None:
            self._next()

    def _next(self) -> None:
        if not self.pending:
            self.timer = None
            return
        count, self.pending = self.pending, 0
        self.emit(count)
        self.timer = self.call_later(self.period, self._next)

    def flush(self) -> None:
        """The count not yet written, now (when the server stops)."""
        if self.pending:
            count, self.pending = self.pending, 0
            self.emit(count)
