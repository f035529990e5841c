"""Asterisk's queue_log (``--queue-log FILE``, ``callcenter simulate --queue-log FILE``).

Layer: store. :class:`QueueLogLines` (pure) turns the core's events into queue_log lines as
Asterisk 20 writes them (``main/logger.c``: ``<epoch>|<callid>|<queue>|<agent>|<EVENT>|<data>``,
the data fields of ``apps/app_queue.c``); :class:`QueueLogFile` appends them to a file, reopens
it on SIGHUP (logrotate), and, when the disk refuses them, keeps up to ``MAX_PENDING`` bytes and
writes them once it takes writes again, saying so in the log. docs/ami.md has the lines.

Which events make which lines (the agent field is the operator id: Asterisk's
``log_membername_as_agent``):

- ``ENTERQUEUE`` (``|<caller id>|<position>``) when a call joins (waits, or rings at once);
- ``CONNECT`` (``<hold>|<operator leg's Uniqueid>|<ring>``), ``RINGNOANSWER`` (rejected or
  ignored, ``<ms>``), ``RINGCANCELED`` (``<ms>``), ``ABANDON`` and ``EXITWITHTIMEOUT``
  (``<position>|<original position>|<wait>``), ``COMPLETECALLER`` (the caller hung up) or
  ``COMPLETEAGENT`` (the operator did: ``finish``), both ``<hold>|<talk>|<original position>``;
- ``PAUSE`` (``<reason>``) and ``UNPAUSE`` for every queue of the operator, callid ``NONE``;
  ``ADDMEMBER`` and ``REMOVEMEMBER`` when an operator that joined with ``login`` logs in or out;
  ``PENALTY`` (``<level>``) for each queue whose level changed, the agent field the member's
  interface (``Agent/<id>``), as app_queue.c writes it;
- ``QUEUESTART`` (``NONE|NONE|NONE``) when the server starts.

A refused call (its queue full) joins no queue: Asterisk writes no line for it.
"""

import errno
import os
from typing import Any, Callable, List, Optional, Sequence

from zope.interface import implementer

from callcenter.core.asterisk import CallBook, CallRecord, Membership, interface, member_uniqueid
from callcenter.core.events import CALLER
from callcenter.interfaces import IEventSubscriber

MAX_PENDING = 16 << 20  # bytes of lines kept while the disk refuses them


def field(text: str) -> str:
    """A value that cannot split a line or its fields: ``|`` and line ends become ``_``."""
    return text.replace("|", "_").replace("\n", "_").replace("\r", "_")


def line(at: float, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
    """One queue_log line, with its newline (logger.c: ``%ld|%s|%s|%s|%s|`` then the data)."""
    return "%d|%s|%s|%s|%s|%s\n" % (
        int(at),
        callid,
        field(queue),
        field(agent),
        event,
        "|".join(field(str(value)) for value in data),
    )


def queue_start(at: float) -> str:
    return line(at, "NONE", "NONE", "NONE", "QUEUESTART", "")


class QueueLogLines(object):
    """The queue_log lines of the core's events (``lines(events)``), kept in order."""

    def __init__(
        self,
        membership: Membership,
        received_at: Optional[Callable[[str], Optional[float]]] = None,
        offset: float = 0.0,
    ) -> None:
        """``offset``: seconds added to the events' times (a simulation's virtual day placed
        at its ``--start``); ``received_at``: the arrival of a call in progress before these
        lines began (a restart), for its Uniqueid."""
        self.membership = membership
        self.offset = offset
        self._last: List[str] = []  # the batch's lines that go after the others
        self._ending: List[str] = []  # the batch's calls that ended: forgotten once it is told
        self.book = CallBook(received_at)
        self.handlers = {
            "CallReceived": self._received,
            "CallRefused": self._refused,
            "CallQueued": self._queued,
            "CallRinging": self._ringing,
            "CallAnswered": self._answered,
            "CallRejected": self._no_answer,
            "CallIgnored": self._no_answer,
            "RingCanceled": self._canceled,
            "CallMissed": self._missed,
            "CallTimedOut": self._timed_out,
            "CallFinished": self._finished,
            "OperatorPaused": self._paused,
            "OperatorUnpaused": self._unpaused,
            "OperatorLoggedIn": self._logged_in,
            "OperatorLoggedOut": self._logged_out,
            "OperatorLevelChanged": self._level_changed,
        }

    def lines(self, events: Sequence[Any]) -> List[str]:
        out: List[str] = []
        self._last, self._ending = [], []
        for event in events:
            handler = self.handlers.get(event.name)
            if handler is not None:
                handler(event, out)
        for call_id in self._ending:
            self.book.ended(call_id)
        # A caller who hangs up while ringing: the core tells the miss before the ring's end,
        # app_queue.c writes RINGCANCELED before ABANDON.
        return out + self._last

    def _join(self, event: Any, record: CallRecord, position: int, out: List[str]) -> None:
        if not record.joined:
            record.joined = True
            record.original = position
            out.append(
                line(self.offset + event.at, record.uid, record.queue, "NONE", "ENTERQUEUE", "", event.call, position)
            )

    def _received(self, event: Any, out: List[str]) -> None:
        self.book.received(event.call, event.queue, self.offset + event.at)

    def _refused(self, event: Any, out: List[str]) -> None:
        self.book.ended(event.call)

    def _queued(self, event: Any, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        self.book.queued(record, event.waiting)
        self._join(event, record, event.position, out)

    def _ringing(self, event: Any, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        self._join(event, record, self.book.count(event.queue) + 1, out)
        self.book.left_waiting(record)

    def _answered(self, event: Any, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        self.book.left_waiting(record)
        leg = member_uniqueid(record.uid, event.operator)
        out.append(
            line(
                self.offset + event.at,
                record.uid,
                event.queue,
                event.operator,
                "CONNECT",
                int(event.wait),
                leg,
                int(event.ring),
            )
        )

    def _no_answer(self, event: Any, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        out.append(
            line(
                self.offset + event.at, record.uid, event.queue, event.operator, "RINGNOANSWER", int(event.ring * 1000)
            )
        )

    def _canceled(self, event: Any, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        out.append(
            line(
                self.offset + event.at, record.uid, event.queue, event.operator, "RINGCANCELED", int(event.ring * 1000)
            )
        )

    def _left(self, event: Any, kind: str, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        position = event.position or 1
        original = event.original_position or record.original
        out.append(
            line(self.offset + event.at, record.uid, event.queue, "NONE", kind, position, original, int(event.wait))
        )
        self.book.left_waiting(record)
        self._ending.append(event.call)

    def _missed(self, event: Any, out: List[str]) -> None:
        self._left(event, "ABANDON", self._last if event.position is None else out)

    def _timed_out(self, event: Any, out: List[str]) -> None:
        self._left(event, "EXITWITHTIMEOUT", out)

    def _finished(self, event: Any, out: List[str]) -> None:
        record = self.book.record(event.call, event.queue, self.offset + event.at)
        kind = "COMPLETECALLER" if event.ended_by == CALLER else "COMPLETEAGENT"
        out.append(
            line(
                self.offset + event.at,
                record.uid,
                event.queue,
                event.operator,
                kind,
                int(event.wait),
                int(event.talk),
                record.original,
            )
        )
        self.book.ended(event.call)

    def _paused(self, event: Any, out: List[str]) -> None:
        for queue in self.membership.queues_of(event.operator):
            out.append(line(self.offset + event.at, "NONE", queue, event.operator, "PAUSE", event.reason or ""))

    def _unpaused(self, event: Any, out: List[str]) -> None:
        for queue in self.membership.queues_of(event.operator):
            out.append(line(self.offset + event.at, "NONE", queue, event.operator, "UNPAUSE", ""))

    def _logged_in(self, event: Any, out: List[str]) -> None:
        if self.membership.is_dynamic(event.operator):
            for queue in self.membership.queues_of(event.operator):
                out.append(line(self.offset + event.at, "NONE", queue, event.operator, "ADDMEMBER", ""))

    def _logged_out(self, event: Any, out: List[str]) -> None:
        if self.membership.is_dynamic(event.operator):
            for queue in self.membership.queues_of(event.operator):
                out.append(line(self.offset + event.at, "NONE", queue, event.operator, "REMOVEMEMBER", ""))

    def _level_changed(self, event: Any, out: List[str]) -> None:
        # app_queue.c names the member by its interface here, not by its name.
        out.append(line(self.offset + event.at, "NONE", event.queue, interface(event.operator), "PENALTY", event.level))


@implementer(IEventSubscriber)
class QueueLog(object):
    """A subscriber of the call center's events (``heard(events, command)``): their lines
    appended to ``output`` (a :class:`QueueLogFile`, or anything with ``write(lines)``)."""

    def __init__(self, lines: QueueLogLines, output: Any) -> None:
        self.lines = lines
        self.output = output

    def heard(self, events: Sequence[Any], command: Optional[str]) -> None:
        self.output.write(self.lines.lines(events))


def disk_reason(error: OSError) -> str:
    return "no space left" if error.errno == errno.ENOSPC else (error.strerror or str(error))


class QueueLogFile(object):
    """Lines appended to ``path`` as they come (each batch one ``write``); ``reopen()`` after
    a rotation. When the disk refuses a write, the lines are kept (up to ``MAX_PENDING``
    bytes, the oldest dropped past it) and tried again every ``retry`` seconds;
    ``warn(message)`` tells each change (refused, taken again, lines dropped)."""

    def __init__(
        self,
        path: str,
        call_later: Callable[..., Any],
        warn: Callable[[str], None],
        retry: float = 1.0,
    ) -> None:
        self.path = path
        self.call_later = call_later
        self.warn = warn
        self.retry = retry
        self.pending: List[bytes] = []
        self.pending_size = 0
        self.dropped = 0
        self.refused: Optional[str] = None
        self._timer: Any = None
        self._fd: Optional[int] = None
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def reopen(self) -> None:
        """After logrotate moved the file: the lines go to a new one at ``path``."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        try:
            self._open()
        except OSError as error:
            self._refuse(error)
        else:
            self._flush()

    def write(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        data = "".join(lines).encode("utf-8")
        self.pending.append(data)
        self.pending_size += len(data)
        while self.pending_size > MAX_PENDING and len(self.pending) > 1:
            dropped = self.pending.pop(0)
            self.pending_size -= len(dropped)
            self.dropped += dropped.count(b"\n")
        if self.refused is None:
            self._flush()

    def _flush(self) -> None:
        if self._fd is None or not self.pending:
            return
        data = b"".join(self.pending)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as error:
            rest = data[written:]  # what was written stays written
            self.pending, self.pending_size = [rest], len(rest)
            self._refuse(error)
            return
        self.pending, self.pending_size = [], 0
        if self.refused is not None or self.dropped:
            self.warn(
                "queue_log %s takes writes again%s"
                % (self.path, "; %d lines were dropped meanwhile" % self.dropped if self.dropped else "")
            )
            self.refused, self.dropped = None, 0

    def _refuse(self, error: OSError) -> None:
        reason = disk_reason(error)
        if self.refused is None:
            self.warn(
                "queue_log %s refuses writes (%s): its lines wait in memory, tried again every %g s"
                % (self.path, reason, self.retry)
            )
        self.refused = reason
        if self._timer is None or not self._timer.active():
            self._timer = self.call_later(self.retry, self._try_again)

    def _try_again(self) -> None:
        """The file again, opened anew (a full disk is often fixed by moving the file away)."""
        self._timer = None
        self.reopen()

    def close(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
