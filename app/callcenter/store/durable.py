"""The durable call center (``--state-dir``): every command that changed state is journaled.

Layer: durability, its call-center half; the files are :mod:`callcenter.store.journal`'s. The core
stays pure: :class:`DurableCallCenter` wraps a :class:`CallCenter`, writes a record for every
command that changed state (the core's timers included: a ring timeout, the end of a
wrap-up, waits that ended, each as its own record replayed through the core's public
operation for it), and restores by loading the snapshot and replaying the journal through
the same public operations. docs/durability.md has the whole story.

Group commit: the records of the commands handled in one reactor turn are written with one
``write`` and made durable with one ``fdatasync`` on the next turn (``call_later(0)``), and
only then do the replies and events of that turn go out: :meth:`DurableCallCenter.when_durable`
hands the protocol the Deferred of that commit (``interfaces.IDurableOutput``), and the
durable center tells its own subscribers the core's events once that commit is done
(``interfaces.IEventSource``): never the events of a change rolled back.

Degraded mode: when the disk refuses a write or a sync, what was not durable is rolled back
(the center is rebuilt from the snapshot and the journal's durable bytes, as a restore does)
and refused, queries go on answering from that state, changes are refused, timers are held,
and a fresh snapshot and journal segment are tried every second until the disk takes them.
"""

import errno
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from callcenter.core import state
from callcenter.core.bus import EventBus
from callcenter.core.center import (
    DEFAULT_RING_TIMEOUT,
    RING_TIMER,
    WAIT_TIMER,
    WRAP_UP_TIMER,
    CallCenter,
    CallCenterError,
    Events,
    Lines,
)
from callcenter.core.events import ChangesAccepted, ChangesRefused
from callcenter.core.model import BUSY, RINGING, ChangeRefusedError
from callcenter.interfaces import (
    ChangeNotStored,
    ICallCenter,
    ICallCenterObserver,
    IDiskState,
    IDurableOutput,
    IEventSource,
    IEventSubscriber,
)
from callcenter.store.journal import (
    DEFAULT_JOURNAL_LIMIT,
    SNAPSHOT,
    DamagedError,
    Journal,
    StateDirectory,
    StateError,
    Write,
    decode_record,
    encode_record,
    encode_snapshot,
    sync_data,
)

log = Logger()

# The journal's names for the core's timers when they fire (the ring timeout's "timeout",
# "wrapped", "waited"): each record's argument is the operator id ("" for the wait timer).
TIMEOUT = RING_TIMER
WRAPPED = WRAP_UP_TIMER
WAITED = WAIT_TIMER
RETRY_INTERVAL = 1.0  # seconds between attempts to write again while degraded
# What a refusal says of the disk, by errno; others say the system's own words.
DISK_REASONS = {
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the disk is read-only",
    errno.EIO: "an I/O error",
    errno.EACCES: "no permission to write",
    errno.EPERM: "no permission to write",
}


def disk_reason(error: OSError) -> str:
    """Why the disk refused, in a few words (the errno's)."""
    if error.errno in DISK_REASONS:
        return DISK_REASONS[error.errno]
    return (error.strerror or str(error)).lower()


class CoreTimer(object):
    """A timer the core holds (a ring, a wrap-up or the queue's wait): journaled when it fires.

    While the journal is replayed it only waits (the journal's record of its firing replays
    it); once the server runs it is armed with the reactor: a full ring timeout for a
    restored call, what was left (from ``due``) of a wrap-up or a wait."""

    __slots__ = ("delayed", "due", "key", "kind", "operator_id", "owner")

    def __init__(self, owner: "StoredCallCenter", kind: str, operator_id: str, due: float) -> None:
        self.owner = owner
        self.kind = kind  # the core's name for it, the journal's for its firing
        self.operator_id = operator_id
        self.key = (kind, operator_id)
        self.due = due  # when it fires
        self.delayed: Any = None

    def getTime(self) -> float:  # IDelayedCall's name: when it fires
        return self.due

    def cancel(self) -> None:
        if self.delayed is not None:
            self.delayed.cancel()
            self.delayed = None
        if self.owner.timers.get(self.key) is self:
            del self.owner.timers[self.key]


class CommitWaiters(object):
    """What replies and events wait for: the Deferred of the records not yet written
    (``next``) and that of the write in flight (``syncing``), each fired once its records
    are on disk, in that order."""

    __slots__ = ("next", "next_count", "syncing")

    def __init__(self) -> None:
        self.next: "Optional[defer.Deferred[None]]" = None
        self.next_count = 0  # messages waiting on ``next``, for the shutdown's log line
        self.syncing: "Optional[defer.Deferred[None]]" = None

    def for_next_commit(self) -> "defer.Deferred[None]":
        if self.next is None:
            self.next = defer.Deferred()
        self.next_count += 1
        return self.next

    def start_commit(self) -> "defer.Deferred[None]":
        """The records waiting are being written: what waited for them waits for that write."""
        self.syncing, self.next, self.next_count = self.next or defer.Deferred(), None, 0
        return self.syncing

    def take_next(self) -> "Tuple[Optional[defer.Deferred[None]], int]":
        """The Deferred of the records waiting (None if nothing waits on them), and its count."""
        waiting, count = self.next, self.next_count
        self.next, self.next_count = None, 0
        return waiting, count

    def drop(self) -> "List[defer.Deferred[None]]":
        """The disk refused: what waits never goes out. The Deferreds that waited, in order."""
        dropped = [waiting for waiting in (self.syncing, self.next) if waiting is not None]
        self.next, self.next_count, self.syncing = None, 0, None
        return dropped


class StoredCallCenter(object):
    """What the durable and the replicated call centers share: the core inside (``center``),
    its events told to their subscribers once their records are stored, what observers read,
    the core's timers kept so that their firing is recorded."""

    def __init__(
        self,
        operator_ids: List[str],
        call_later: Any,
        seconds: Callable[[], float],
        ring_timeout: float,
        center_options: Dict[str, Any],
    ) -> None:
        self.operator_ids_wanted = list(operator_ids)
        self.call_later = call_later
        self.seconds = seconds
        self.ring_timeout = ring_timeout
        self.center_options = center_options
        self.center: CallCenter = None  # type: ignore[assignment]  # set once the state is read
        self.generation = 0  # of the snapshot the journal follows
        self.timers: Dict[Tuple[str, str], CoreTimer] = {}
        self.live = False  # timers are armed with the reactor (once the state is read)
        self.replaying: Optional[float] = None  # the time of the record being replayed
        self._records: List[bytes] = []  # waiting for the next commit
        self._waiters = CommitWaiters()
        self._commit_call: Any = None
        self._idle_waiters: List[Any] = []
        self._held: List[CoreTimer] = []  # timers that fired while degraded, in firing order
        # Degraded mode: why changes are refused, None while the store takes them.
        self.degraded: Optional[str] = None
        self.changes_refused = 0
        self.bus = EventBus(center_options.get("report"))
        self._relay = DurableRelay(self)
        # While a command runs: the events the core tells, to wait for the command's record.
        self.unrecorded: Optional[List[Tuple[Events, Optional[str]]]] = None
        # Counters for the log, the metrics and the benchmark.
        self.commits = 0
        self.records_written = 0
        self.snapshots = 0

    def _timer_fired(self, timer: "CoreTimer") -> None:
        raise NotImplementedError

    def _committing(self) -> bool:
        """Whether a commit is in flight."""
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def _append(self, command: str, argument: str) -> None:
        """The record of a command or a timer, into the next commit (on the next turn, or once
        the commit in flight is done); none while replaying."""
        if self.replaying is not None:
            return
        self._records.append(encode_record(self.seconds(), command, argument))
        if self._commit_call is None and not self._committing():
            self._commit_call = self.call_later(0, self.commit)

    def _take_records(self) -> List[bytes]:
        """The records for the commit starting; when there are none, what waited for the next
        commit goes out at once."""
        records, self._records = self._records, []
        if not records:
            waiting, _ = self._waiters.take_next()
            if waiting is not None:
                waiting.callback(None)
        return records

    def _ringing_and_busy(self) -> Dict[str, int]:
        """How many operators ring (RINGING) and talk (BUSY), for the log."""
        counts = {RINGING: 0, BUSY: 0}
        for operator in self.center.operators:
            if operator.state in counts:
                counts[operator.state] += 1
        return counts

    def idle(self) -> Any:
        """A Deferred that fires once no commit is in flight."""
        if not self._committing():
            return defer.succeed(None)
        waiter: "defer.Deferred[None]" = defer.Deferred()
        self._idle_waiters.append(waiter)
        return waiter

    def _go_live(self) -> None:
        """Arm the timers with the reactor, as a restore does: a ringing call rings a full
        ring timeout from now, a wrap-up or the wait resumes with what was left of it."""
        self.live = True
        for timer in list(self.timers.values()):
            if timer.kind != TIMEOUT:
                timer.delayed = self.call_later(max(timer.due - self.seconds(), 0.0), self._timer_fired, timer)
            elif self.ring_timeout:
                timer.due = self.seconds() + self.ring_timeout
                timer.delayed = self.call_later(self.ring_timeout, self._timer_fired, timer)
            else:
                del self.timers[timer.key]

    def _execute_recorded(self, command: str, argument: Optional[str]) -> Events:
        """Run a command the store takes; its record goes into the next commit, and the events
        the core told while it ran are told once that record is stored."""
        self.unrecorded = []
        try:
            events = self.center.execute(command, argument)
        finally:
            heard, self.unrecorded = self.unrecorded, None
        self._append(command, argument or "")
        for told, cause in heard:
            self.tell_when_durable(told, cause)
        return events

    def now(self) -> float:
        """The time of the event being handled: the record's own while replaying. The clock
        to give the core's statistics so that a replay reproduces them."""
        return self.seconds() if self.replaying is None else self.replaying

    def subscribe(self, subscriber: Any, commands: bool = True) -> None:
        """``subscriber`` hears every event once it is durable (on disk; in etcd, or as a standby
        applies the leader's journal), from now on (with ``commands`` False, only those no
        command caused)."""
        self.bus.subscribe(subscriber, commands)

    def unsubscribe(self, subscriber: Any) -> None:
        self.bus.unsubscribe(subscriber)

    def tell_when_durable(self, events: Events, command: Optional[str]) -> None:
        """Tell the subscribers ``events`` once the records before them are stored (at once
        when none waits); never when the store refuses them."""
        waiting = self.when_durable()
        if waiting is None:
            self.bus.publish(events, command)
        else:
            waiting.addCallback(self._told, events, command)

    def _told(self, result: Any, events: Events, command: Optional[str]) -> Any:
        self.bus.publish(events, command)
        return result  # the commit's Deferred is shared: its result goes on unchanged

    def status(self) -> Lines:
        return self.center.status()

    def operator_ids(self) -> List[str]:
        return self.center.operator_ids()

    def queue_names(self) -> List[str]:
        return self.center.queue_names()

    def query(self, command: str, argument: Optional[str] = None) -> Lines:
        """A query (``status``, ``stats``): answered from the state this server holds, even while
        it refuses changes (degraded; a standby's copy)."""
        return self.center.query(command, argument)

    @property
    def figures(self) -> Any:
        return self.center.figures

    @property
    def operators(self) -> Any:
        return self.center.operators

    @property
    def queue(self) -> Any:
        return self.center.queue

    @property
    def queues(self) -> Any:
        return self.center.queues

    def when_durable(self) -> "Optional[defer.Deferred[None]]":
        """None when nothing waits for the store: what is sent now goes out at once. Else the
        Deferred of the commit that makes the records made so far durable (the next one, or
        the one in flight when no record came since)."""
        if self._records:
            return self._waiters.for_next_commit()
        return self._waiters.syncing

    def _wake_idle_waiters(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _core_timer(self, delay: float, func: Callable[..., Any], kind: str, operator_id: str) -> CoreTimer:
        timer = CoreTimer(self, kind, operator_id, self.now() + delay)
        self.timers[timer.key] = timer
        if self.live:
            timer.delayed = self.call_later(delay, self._timer_fired, timer)
        return timer

    def _run_timer(self, kind: str, operator_id: str) -> None:
        """The core's public operation for a timer that fired (or its replayed record)."""
        if kind == TIMEOUT:
            self.center.ring_timed_out(operator_id)
        elif kind == WRAPPED:
            self.center.wrap_up_ended(operator_id)
        else:
            self.center.waits_ended()

    def _settings(self) -> Dict[str, Any]:
        """The options the core runs with now (state.SETTINGS): those of a restored center."""
        settings = {name: value for name, value in self.center_options.items() if name in state.SETTINGS}
        settings["ring_timeout"] = self.ring_timeout
        return settings


@implementer(IEventSubscriber)
class DurableRelay(object):
    """What the durable (or replicated) center hears of its core: each command's and timer's
    events, told to its subscribers once their records are stored (at once on a standby,
    whose changes are the leader's, already in etcd)."""

    __slots__ = ("owner",)

    def __init__(self, owner: StoredCallCenter) -> None:
        self.owner = owner

    def heard(self, events: Events, command: Optional[str]) -> None:
        owner = self.owner
        if command is not None and not owner.bus.hears_commands:
            return  # nobody to tell
        if owner.unrecorded is not None:  # a command's, heard before its record is made
            owner.unrecorded.append((events, command))
        else:
            owner.tell_when_durable(events, command)


@implementer(ICallCenter, IEventSource, IDurableOutput, ICallCenterObserver, IDiskState)
class DurableCallCenter(StoredCallCenter):
    """A :class:`CallCenter` whose state-changing commands are journaled in ``directory``.

    The server's factory uses it as its call center (``interfaces.ICallCenter``) and sends
    every byte out once :meth:`when_durable` says so (``interfaces.IDurableOutput``).
    :meth:`restore` must run first; ``center`` is then the core inside. What watches the
    core (``--metrics``, ``--web``) watches this object (``interfaces.ICallCenterObserver``)
    and subscribes to it (``interfaces.IEventSource``): it hears the events once they are
    durable, and a rollback, which replaces the core, changes nothing for it."""

    def __init__(
        self,
        directory: str,
        operator_ids: List[str],
        call_later: Any,
        seconds: Callable[[], float],
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        journal_limit: int = DEFAULT_JOURNAL_LIMIT,
        sync: Callable[[int], None] = sync_data,
        write: Write = os.write,
        **center_options: Any,
    ) -> None:
        """``center_options``: CallCenter's other keyword arguments (service_level, ...); its
        clock is :meth:`now`. ``sync`` and ``write``: ``os.fdatasync`` and ``os.write`` (tests
        give ones that fail)."""
        StoredCallCenter.__init__(self, operator_ids, call_later, seconds, ring_timeout, center_options)
        self.files = StateDirectory(directory, sync, write)
        self.directory = self.files.path
        self.journal_limit = journal_limit
        self.sync = sync
        self.journal: Optional[Journal] = None
        # (function, fd) -> Deferred: runs the fdatasync off the reactor (deferToThread).
        self.sync_in_thread: Optional[Callable[..., Any]] = None
        self._retry_call: Any = None
        # Called when, after a refusal, the state on disk cannot even be read back: the
        # server cannot know its state and stops (exit 1).
        self.on_lost_state: Optional[Callable[[str], None]] = None

    # What the server's factory uses and observers read (StoredCallCenter has the rest).

    def snapshot(self, waiting_limit: int = 100) -> Dict[str, Any]:
        document = self.center.snapshot(waiting_limit)
        document["degraded"] = None if self.degraded is None else self.refusal()
        return document

    def refusal(self) -> str:
        """The error line of a change refused while degraded."""
        return "cannot store the change: %s in %s; status and stats still work" % (self.degraded, self.directory)

    def execute(self, command: str, argument: Optional[str]) -> Events:
        """Run a command; its record goes into the next commit. While degraded, a command
        that would change state is refused before it runs."""
        if self.degraded is not None and command in self.center.commands:
            self.changes_refused += 1
            raise ChangeRefusedError(self.refusal())
        return self._execute_recorded(command, argument)

    def commit(self) -> None:
        """The group commit (on the turn after the records were made): one write of every
        waiting record, one fdatasync (in a thread when ``sync_in_thread`` is set, so the
        reactor goes on handling requests meanwhile; they wait for the next commit), then
        what waited for the records goes out, in order."""
        self._commit_call = None
        if self._waiters.syncing is not None or self.degraded is not None:
            return  # the commit in flight starts the next one when it is done
        records = self._take_records()
        if not records:
            return
        journal = self.journal
        assert journal is not None
        self._waiters.start_commit()
        try:
            journal.append(b"".join(records))
            if self.sync_in_thread is None:
                journal.sync_appended()
        except OSError as error:
            self._fail(error, len(records))
            return
        if self.sync_in_thread is None:
            self._synced(len(records))
        else:
            size = journal.size
            synced = self.sync_in_thread(journal.sync, journal.fd)
            synced.addCallbacks(lambda _: self._thread_synced(journal, size, len(records)), self._sync_failed)
            synced.addErrback(lambda failure: log.failure("After a sync in a thread", failure))  # a bug

    def _thread_synced(self, journal: Journal, size: int, count: int) -> None:
        if journal is not self.journal:
            return  # the server stopped or rolled back meanwhile
        journal.synced(size)
        self._synced(count)

    def _synced(self, count: int) -> None:
        done, self._waiters.syncing = self._waiters.syncing, None
        self.commits += 1
        self.records_written += count
        if done is not None:
            done.callback(None)  # the replies and events of those records go out, in order
        assert self.journal is not None
        if self.journal.size > self.journal_limit:
            self.flush()
            if self.degraded is None:
                try:
                    self.compact()
                except OSError as error:  # what the snapshot holds was all acknowledged: nothing to refuse
                    self._fail(error, 0)
        elif self._records and self._commit_call is None:
            self.commit()  # what came meanwhile: its write now, its sync in the thread
        if self._waiters.syncing is None:
            self._wake_idle_waiters()

    def _sync_failed(self, failure: Any) -> None:
        failure.trap(OSError)
        if self.journal is not None and self.degraded is None:
            self._fail(failure.value, 0)

    def _committing(self) -> bool:
        return self._waiters.syncing is not None

    def flush(self) -> int:
        """Commit what waits now, in this turn, with no commit in flight (see :meth:`idle`);
        the count of messages it let go out."""
        assert self._waiters.syncing is None
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        records = self._records
        if records and self.degraded is None:
            assert self.journal is not None
            try:
                self.journal.write(b"".join(records))
            except OSError as error:
                self._fail(error, len(records))
                return 0
            self.commits += 1
            self.records_written += len(records)
        self._records = []
        waiting, count = self._waiters.take_next()
        if waiting is not None:
            waiting.callback(None)
        return count

    # Degraded mode.

    def _fail(self, error: OSError, records: int) -> None:
        """The disk refused a write or a sync (of ``records`` records in flight, besides
        those waiting for the next commit). Nothing that was not durable is acknowledged:
        the journal is cut back to its durable bytes, the center rebuilt from the durable
        state, and what waited for those records fails with :class:`ChangeNotStored`.

        Never re-synced (fsyncgate: after a failed fsync the kernel may have dropped the
        pages, so a later fsync that succeeds proves nothing): the journal is left for good,
        and recovery writes a fresh snapshot and journal segment (:meth:`compact`)."""
        refused = records + len(self._records)
        self._records = []
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        dropped = self._waiters.drop()
        self.degraded = disk_reason(error)
        self.changes_refused += refused
        journal = self.journal
        if journal is not None:
            try:
                journal.truncate_to_durable()
            except OSError as truncate_error:
                log.warn(
                    "Cannot cut {file} back to its {size} durable bytes ({error}): if the server is killed "
                    "before the disk takes writes again, a restart may replay refused changes",
                    file=journal.path,
                    size=journal.durable_size,
                    error=truncate_error,
                )
        try:
            self._rebuild()
        except (OSError, StateError) as read_error:
            message = "cannot read back the state in %s after a refused write: %s" % (self.directory, read_error)
            self._lose_state(message)
            return
        log.error(
            "Cannot write to {dir}: {error}; {refused} changes not stored were rolled back; refusing changes "
            "(status and stats still work) and trying again every {interval:g} s",
            dir=self.directory,
            error=error,
            refused=refused,
            interval=RETRY_INTERVAL,
        )
        refusal = self.refusal()
        for waiting in dropped:
            waiting.errback(ChangeNotStored(refusal))
            waiting.addErrback(lambda failure: failure.trap(ChangeNotStored))  # heard by all who waited
        self._wake_idle_waiters()
        self.bus.publish([ChangesRefused(self.seconds(), self.degraded, self.directory)], None)
        self._retry_call = self.call_later(RETRY_INTERVAL, self._retry)

    def _lose_state(self, message: str) -> None:
        self.degraded = self.degraded or "an unreadable state"
        log.critical("{message}; stopping: a restart restores what was acknowledged", message=message)
        stop, self.on_lost_state = self.on_lost_state, None  # once
        if stop is not None:
            stop(message)

    def _rebuild(self) -> None:
        """The center as the disk has it: the snapshot and the journal's durable bytes,
        replayed as a restore does, with the timers armed as a restore arms them."""
        limit = None
        if self.journal is not None:
            limit = (os.path.basename(self.journal.path), self.journal.durable_size)
            self.journal.close()
            self.journal = None
        for timer in self.timers.values():
            if timer.delayed is not None:
                timer.delayed.cancel()
        self.timers.clear()
        self._held = []
        self.live = False
        self._restore(limit)
        self._go_live()

    def _retry(self) -> None:
        """While degraded, every second: a fresh snapshot and journal segment; once the disk
        takes them, changes are accepted again and the held timers fire, in due order."""
        self._retry_call = None
        try:
            self.compact()
        except OSError as error:
            self.degraded = disk_reason(error)
            self._retry_call = self.call_later(RETRY_INTERVAL, self._retry)
            return
        log.info(
            "Writing to {dir} again: changes are accepted ({refused} refused since the start)",
            dir=self.directory,
            refused=self.changes_refused,
        )
        self.degraded = None
        self.bus.publish([ChangesAccepted(self.seconds())], None)
        held, self._held = self._held, []
        for timer in sorted(held, key=lambda timer: timer.due):
            if self.timers.get(timer.key) is timer and self.degraded is None:
                self._timer_fired(timer)

    # Timers (StoredCallCenter._core_timer is the core's call_later): when one fires, its
    # record is journaled first, then the core's public operation for it runs, as a replay
    # of that record does.

    def _timer_fired(self, timer: CoreTimer) -> None:
        timer.delayed = None
        if self.degraded is not None:
            self._held.append(timer)  # neither applied nor journaled until the disk takes it
            return
        self.timers.pop(timer.key, None)
        self._append(timer.kind, timer.operator_id)
        self._run_timer(timer.kind, timer.operator_id)

    # Snapshots and compaction.

    def compact(self) -> int:
        """Write a snapshot and start a new journal: the new journal first (so the snapshot
        never names a missing one), then the snapshot (temporary file, fsync, rename, fsync
        of the directory), then the old journal goes. Returns the calls in the snapshot."""
        generation = self.generation + 1
        journal = self.files.open_journal(generation, fresh=True)
        data = encode_snapshot(generation, self.seconds(), state.center_to_data(self.center))
        try:
            self.files.write_snapshot(data)
        except OSError:
            journal.close()
            raise
        if self.journal is not None:
            self.journal.close()
        self.journal, self.generation, old = journal, generation, self.generation
        self.files.remove(self.files.journal_name(old))  # not yet there on the first start
        self.snapshots += 1
        return len(self.center.calls)

    # Restore.

    def restore(self) -> CallCenter:
        """Load the snapshot, replay the journal, adapt to changed operators, and start the
        ring timers of ringing calls afresh. :class:`StateError` when that cannot be done."""
        began = time.monotonic()
        try:
            self.files.lock()
            restored, fresh_journal = self._restore()
        except OSError as error:
            self.close()
            raise StateError(
                "cannot read the state in %s: %s. The server starts once it can read that directory: "
                "check the disk and the directory's permissions, or move it aside to start empty"
                % (self.directory, error)
            ) from None
        except StateError:
            self.close()
            raise
        try:
            if fresh_journal:
                self.compact()  # a new journal that starts from the restored state
            else:
                self.journal = self.files.open_journal(self.generation)
        except OSError as error:
            # A full or read-only disk: serve the state read, refuse changes until it takes writes.
            self.degraded = disk_reason(error)
            self._retry_call = self.call_later(RETRY_INTERVAL, self._retry)
        self._go_live()
        if restored:
            counts = self._ringing_and_busy()
            log.info(
                "restored {calls} calls: {queued} queued, {ringing} ringing, {answered} answered "
                "from {directory} in {ms:.0f} ms",
                calls=len(self.center.calls),
                queued=len(self.center.queue),
                ringing=counts[RINGING],
                answered=counts[BUSY],
                directory=self.directory,
                ms=1000 * (time.monotonic() - began),
            )
        else:
            log.info("No saved state in {directory}: starting empty; the state is kept there", directory=self.directory)
        if self.degraded is not None:
            log.error(
                "Cannot write to {dir}: {reason}; started refusing changes (status and stats still work) "
                "and trying again every {interval:g} s",
                dir=self.directory,
                reason=self.degraded,
                interval=RETRY_INTERVAL,
            )
        return self.center

    def _go_live(self) -> None:
        StoredCallCenter._go_live(self)
        self.center.subscribe(self._relay)

    def _center_from(self, data: Dict[str, Any]) -> CallCenter:
        """A center in the state of ``data``, run with the options of now; its timers are ours."""
        return state.center_from_data(data, self._core_timer, self.now, self._settings())

    def _operators_kept(self) -> List[str]:
        """The operators the options name, then those that joined with login."""
        wanted = self.operator_ids_wanted
        return wanted + [operator_id for operator_id in self.center.dynamic if operator_id not in wanted]

    def _restore(self, limit: Optional[Tuple[str, int]] = None) -> Tuple[bool, bool]:
        """Bring ``center`` to the state on disk; (whether there was one, whether it needs a
        fresh journal). ``limit``: (journal, bytes) known durable of that journal, after a
        refused write (what follows them was refused)."""
        files = self.files
        journals = files.journals()
        if not files.has_snapshot():
            if journals:
                raise files.damaged(
                    journals[0], 0, "a journal without the snapshot it follows (%s is missing)" % SNAPSHOT
                )
            self.generation = 0
            self.center = CallCenter(
                self.operator_ids_wanted, self._core_timer, self.ring_timeout, now=self.now, **self.center_options
            )
            return False, True
        document = files.read_snapshot()
        self.generation = document["generation"]
        try:
            if "center" in document:
                data = document["center"]
            else:  # format 1
                settings = self._settings()
                parts = document["operators"], document["queue"], document.get("stats"), document.get("routing")
                data = state.data_from_v1(*parts, settings=settings, now=self.now())
            self.center = self._center_from(data)
        except CallCenterError as error:
            raise files.damaged(SNAPSHOT, 0, "a snapshot that does not load: %s" % error) from None
        name = files.journal_name(self.generation)
        if name not in journals:
            raise files.damaged(name, 0, "the journal that follows the snapshot is missing")
        for stale in journals:
            if stale != name:
                files.remove(stale)
                log.info("Removed {file}, a journal older than the snapshot", file=files.file(stale))
        replayed, torn = self._replay(name, limit[1] if limit is not None and limit[0] == name else None)
        changed = (
            self.center.operator_ids() != self._operators_kept()
            or self.center.queue_configs != self.center_options.get("queues")
        )
        if changed:
            self._change_operators()
        return True, bool(replayed or torn or changed)

    def _replay(self, name: str, limit: Optional[int] = None) -> Tuple[int, bool]:
        """Replay ``name`` (its first ``limit`` bytes, when given) through the center's public
        operations; (records replayed, whether the last was torn)."""
        frames, torn, size = self.files.read_journal(name, limit)
        center = self.center
        try:
            with state.making_many_objects():  # a long journal makes as many calls as the queue holds
                for offset, payload in frames:
                    seconds, command, argument = decode_record(payload, offset)
                    self.replaying = seconds
                    try:
                        if command in (TIMEOUT, WRAPPED, WAITED):
                            self._run_timer(command, argument)
                        else:
                            center.execute(command, argument)
                    except CallCenterError as error:
                        if command == TIMEOUT:
                            why = "a ring timeout of operator %s, not ringing" % argument
                        elif command == WRAPPED:
                            why = "the end of a wrap-up of operator %s, not in wrap-up" % argument
                        else:
                            why = "a record (%s %s) that does not apply: %s" % (command, argument, error)
                        raise DamagedError(offset, why) from None
        except DamagedError as damage:
            raise self.files.damaged(name, damage.offset, damage.why) from None
        finally:
            self.replaying = None
        if torn is not None:
            log.warn(
                "Dropped a torn record at the end of {file} (offset {offset}, {size} bytes): a write cut short "
                "by a crash, never acknowledged",
                file=self.files.file(name),
                offset=torn,
                size=size - torn,
            )
        return len(frames), torn is not None

    def _change_operators(self) -> None:
        """The options name other operators or queues than the saved state: idle operators
        may come and go, and queues that hold no call (the default one takes its calls along);
        a call that would be lost refuses the start."""
        operator_ids = self._operators_kept()  # members that joined with login stay
        wanted_queues = self.center_options.get("queues")
        data = state.center_to_data(self.center)
        old_ids = self.center.operator_ids()
        old_queues = self.center.queue_configs
        try:
            data = state.reconfigured(data, operator_ids, wanted_queues, self.now())
        except state.ConflictError as conflict:
            raise StateError(self._conflict_message(conflict)) from None
        self.timers.clear()
        try:
            self.center = self._center_from(data)
        except CallCenterError as error:
            raise StateError(
                "the saved state in %s does not fit the options: %s; change them back, or move %s aside to "
                "start empty" % (self.directory, error, self.directory)
            ) from None
        if old_ids != operator_ids:
            log.info(
                "Operators changed from {old} to {new}", old=",".join(old_ids), new=",".join(self.operator_ids_wanted)
            )
        if old_queues != wanted_queues:
            log.info("Queues changed to {names}", names=",".join(self.center.queue_names()))

    def _conflict_message(self, conflict: "state.ConflictError") -> str:
        directory = self.directory
        if conflict.kind == state.OPERATOR_GONE:
            queues_named = " (nor in --queues)" if self.center_options.get("queues") else ""
            what = "operator %s is %s with call %s" % (conflict.operator, conflict.state, conflict.call)
            problem = "is not in --operators%s" % queues_named
            remedy = "add it back (it can be removed once idle)"
        elif conflict.kind == state.QUEUE_GONE:
            what = "call %s is in queue %s" % (conflict.call, conflict.queue)
            problem = "--queues has no such queue"
            remedy = "add it back (it can be removed once empty)"
        else:
            what = "operator %s is %s with call %s of queue %s" % (
                conflict.operator,
                conflict.state,
                conflict.call,
                conflict.queue,
            )
            problem = "does not serve %s in --queues" % conflict.queue
            remedy = "add it back (it can be removed once idle)"
        return "%s in the saved state in %s but %s: %s, or move %s aside to start empty" % (
            what,
            directory,
            problem,
            remedy,
            directory,
        )

    # Shutdown.

    def close(self) -> None:
        """Release the journal and the directory (after the last commit and snapshot). Ring
        timers stop too: nothing may change after the snapshot, which restarts them."""
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = None
        for timer in self.timers.values():
            if timer.delayed is not None:
                timer.delayed.cancel()
                timer.delayed = None
        self.live = False
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self.files.unlock()
