"""The event bus: every subscriber hears every event, in order, each once.

Layer: core (pure: it reports a failing subscriber through a callable it is given). The core
publishes the events of each command and timer once the change has taken effect; the
durable call center publishes them on a bus of its own once they are on disk. A subscriber
(``interfaces.IEventSubscriber``) gets ``heard(events, command)``: the events of one
command (``command``: its name, ``call``, ``answer``, ...) or of something no command
caused (None: a timer, the disk), in the order they happened. A subscriber that needs only
the latter (what a command caused, its caller has already: a protocol's reply, the shell's
lines) subscribes with ``commands=False``; with no other subscriber, a command tells nobody.

Events published while subscribers are being told (a subscriber that runs a command, as
the simulator's operators answer a ring at once) wait until every subscriber has heard the
ones before them: each subscriber hears everything in the same order. A subscriber that
raises is reported once (``report``) and goes on being told; the others and the command
are not affected.
"""

import logging
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple

# (what failed, the exception): how a bus tells of a subscriber that raised.
Report = Callable[[Any, BaseException], None]


def log_failure(subscriber: Any, error: BaseException) -> None:
    """The default report: the standard library's logging (the server gives Twisted's)."""
    logging.getLogger("callcenter").error(
        "An event subscriber failed (%r); it is told of later events still", subscriber, exc_info=error
    )


class EventBus(object):
    """Subscribers, in the order they subscribed, and the events on their way to them."""

    __slots__ = (
        "_failed",
        "_pending",
        "_publishing",
        "hears_commands",
        "of_commands",
        "report",
        "subscribers",
        "timers_only",
    )

    def __init__(self, report: Optional[Report] = None) -> None:
        self.subscribers: List[Any] = []
        self.timers_only: List[Any] = []  # those of subscribers that hear no command's events
        self.of_commands: List[Any] = []  # the others: those that hear the events of commands too
        self.hears_commands = False  # whether a subscriber hears the events of commands
        self.report: Report = report or log_failure
        self._publishing = False
        self._pending: "Deque[Tuple[Sequence[Any], Optional[str]]]" = deque()
        self._failed: List[Any] = []  # the subscribers reported already

    def subscribe(self, subscriber: Any, commands: bool = True) -> None:
        """``subscriber`` hears every event published from now on (once, however often it
        subscribes); with ``commands`` False, only those no command caused."""
        self.unsubscribe(subscriber)
        self.subscribers.append(subscriber)
        (self.of_commands if commands else self.timers_only).append(subscriber)
        self.hears_commands = bool(self.of_commands)

    def unsubscribe(self, subscriber: Any) -> None:
        self.subscribers = [known for known in self.subscribers if known is not subscriber]
        self.of_commands = [known for known in self.of_commands if known is not subscriber]
        self.timers_only = [known for known in self.timers_only if known is not subscriber]
        self.hears_commands = bool(self.of_commands)

    def publish(self, events: Sequence[Any], command: Optional[str]) -> None:
        """Tell every subscriber ``events`` (of ``command``, or None)."""
        if self._publishing:
            self._pending.append((events, command))
            return
        self._publishing = True
        pending = self._pending
        try:
            while True:
                subscribers = self.subscribers if command is None else self.of_commands
                if len(subscribers) == 1:  # told without a loop (a loop allocates an iterator)
                    try:
                        subscribers[0].heard(events, command)
                    except Exception as error:
                        self._failure(subscribers[0], error)
                else:
                    for subscriber in subscribers:
                        try:
                            subscriber.heard(events, command)
                        except Exception as error:
                            self._failure(subscriber, error)
                if not pending:
                    break
                events, command = pending.popleft()
        finally:
            self._publishing = False

    def _failure(self, subscriber: Any, error: BaseException) -> None:
        if any(failed is subscriber for failed in self._failed):
            return
        self._failed.append(subscriber)
        try:
            self.report(subscriber, error)
        except Exception:  # a report that fails must not stop the command either
            pass
