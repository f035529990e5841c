"""Durable state for the server (``--state-dir``): an append-only journal and snapshots.

The core stays pure: :class:`DurableCallCenter` wraps a :class:`CallCenter`, writes a
record for every command that changed state (ring timeouts included), and restores by
loading the snapshot and replaying the journal through the same ``CallCenter``.
docs/durability.md has the whole story; in short, the directory holds

``snapshot``      the state at the last compaction, and the generation N of the journal after it
``journal.N``     the records since that snapshot, appended and made durable in groups
``lock``          held (``flock``) while a server uses the directory

Every record and the snapshot are framed as ``length (4 bytes) + CRC-32 (4 bytes) + payload``
so that a torn or damaged one is detected and never replayed.

Group commit: the records of the commands handled in one reactor turn are written with one
``write`` and made durable with one ``fdatasync`` on the next turn (``call_later(0)``), and
only then do the replies and events of that turn go out (:meth:`DurableCallCenter.hold`).
"""

import errno
import fcntl
import json
import os
import struct
import time
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.logger import Logger

from callcenter.core import (
    AVAILABLE,
    BUSY,
    DEFAULT_RING_TIMEOUT,
    RINGING,
    CallCenter,
    CallCenterError,
    Lines,
    parse_priority,
)
from callcenter.options import DEFAULT_JOURNAL_LIMIT

log = Logger()

JOURNAL_MAGIC = b"callcenter journal 1\n"
SNAPSHOT_MAGIC = b"callcenter snapshot 1\n"
SNAPSHOT = "snapshot"
SNAPSHOT_TMP = "snapshot.tmp"
JOURNAL_PREFIX = "journal."
LOCK = "lock"
SNAPSHOT_FORMAT = 1
HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload
MAX_RECORD = 1 << 16  # a record is under 200 bytes; a larger length is damage
TIMEOUT = "timeout"  # the journal's name for a ring timeout; its argument is the operator id
# Routing: the journal's name for the queue's wait timer (--max-wait) in a timeout record; a
# space, so that no operator id is it. An operator's wrap-up timer goes by its id, as rings do.
WAIT_TIMER = " wait"
# (operator id, state, call id or None) for each operator, in order.
OperatorStates = List[Tuple[str, str, Optional[str]]]

sync_data = getattr(os, "fdatasync", os.fsync)  # fdatasync on Linux: the data, not the mtime


class StateError(Exception):
    """The state directory cannot be used: one message for the user; the server does not start."""


class DamagedError(Exception):
    """A record that is neither valid nor a torn last write: ``offset`` and why."""

    def __init__(self, offset: int, why: str) -> None:
        Exception.__init__(self, why)
        self.offset = offset
        self.why = why


def frame(payload: bytes) -> bytes:
    """One record: its length, its CRC-32, the payload."""
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_record(seconds: float, command: str, argument: str) -> bytes:
    """A journal record: when (the reactor's seconds), the command and its id."""
    return frame(("%r %s %s" % (seconds, command, argument)).encode("utf-8"))


def decode_record(payload: bytes, offset: int) -> Tuple[float, str, str]:
    try:
        # Routing: the argument may hold words (a pause reason, priority=N) after the id.
        seconds, command, argument = payload.decode("utf-8").split(" ", 2)
        return float(seconds), command, argument
    except ValueError:  # UnicodeDecodeError is one
        raise DamagedError(offset, "a record with a valid checksum but no command in it") from None


def read_frames(data: bytes, start: int, limit: int = MAX_RECORD) -> Tuple[List[Tuple[int, bytes]], Optional[int]]:
    """The ``(offset, payload)`` of each record in ``data[start:]``, and the offset of a torn
    last record (None when the data ends cleanly).

    Torn: the last write was cut short by a crash, so the last record ends past the end of
    the data, is all zeros (the file grew but its data never reached the disk), or is the
    very last thing and fails its checksum. Any other bad record raises :class:`DamagedError`."""
    frames: List[Tuple[int, bytes]] = []
    offset, size = start, len(data)
    while offset < size:
        if size - offset < HEADER.size:
            return frames, offset
        length, checksum = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if not 0 < length <= limit:
            if not data[offset:].strip(b"\0"):
                return frames, offset
            raise DamagedError(offset, "a record length of %d bytes" % length)
        if end > size:
            return frames, offset
        payload = data[offset + HEADER.size : end]
        if zlib.crc32(payload) != checksum:
            if end == size or not data[offset:].strip(b"\0"):
                return frames, offset
            raise DamagedError(offset, "a record whose checksum does not match")
        frames.append((offset, payload))
        offset = end
    return frames, None


def encode_snapshot(
    generation: int,
    seconds: float,
    operators: OperatorStates,
    queue: List[str],
    stats: Any = None,
    routing: Any = None,
) -> bytes:
    """The snapshot file. ``stats``: what the core's ``stats_state()`` returned, given back to
    its ``restore_stats()`` after the calls are back and before the journal is replayed;
    ``routing``: its ``routing_state()``, given back to ``restore_routing()`` after that."""
    document = {
        "routing": routing,
        "format": SNAPSHOT_FORMAT,
        "generation": generation,
        "time": seconds,
        "operators": [list(operator) for operator in operators],
        "queue": queue,
        "stats": stats,
    }
    return SNAPSHOT_MAGIC + frame(json.dumps(document, separators=(",", ":")).encode("utf-8"))


def decode_snapshot(data: bytes) -> Dict[str, Any]:
    """The snapshot's document; :class:`DamagedError` when it is not a whole, valid one."""
    if not data.startswith(SNAPSHOT_MAGIC):
        raise DamagedError(0, "not a callcenter snapshot (its first line is not %r)" % SNAPSHOT_MAGIC.decode().strip())
    frames, torn = read_frames(data, len(SNAPSHOT_MAGIC), limit=len(data))
    if torn is not None or len(frames) != 1:
        # A snapshot is renamed into place only once whole and synced: any tear is damage.
        raise DamagedError(len(SNAPSHOT_MAGIC) if torn is None else torn, "an incomplete or damaged snapshot")
    offset, payload = frames[0]
    try:
        document = json.loads(payload.decode("utf-8"))
        generation = document["generation"]
        operators = [(str(op_id), str(state), call) for op_id, state, call in document["operators"]]
        queue = [str(call_id) for call_id in document["queue"]]
        if document["format"] != SNAPSHOT_FORMAT or not isinstance(generation, int):
            raise ValueError
        for _, state, call in operators:
            if (state == AVAILABLE) != (call is None) or state not in (AVAILABLE, RINGING, BUSY):
                raise ValueError
    except (ValueError, KeyError, TypeError):
        raise DamagedError(offset, "a snapshot with a valid checksum but not the expected content") from None
    document["operators"], document["queue"] = operators, queue
    return document


def operator_states(center: CallCenter) -> OperatorStates:
    # Routing: an operator that holds no call (paused, logged out, in wrap-up) is saved
    # available, its presence in the routing state; a ring-all call at its first ringer only.
    states: OperatorStates = []
    held = set()
    for operator in center.operators:
        call = operator.call
        if call is None or call.id in held:
            states.append((operator.id, AVAILABLE, None))
        else:
            held.add(call.id)
            states.append((operator.id, operator.state, call.id))
    return states


def load(center: CallCenter, operators: OperatorStates, queue: List[str]) -> None:
    """Bring a new ``center`` to the given state with its own commands.

    Operators are filled in order: each gets its call (``call``, then ``answer`` when busy)
    or, when it was available, a placeholder call that keeps the next call from it. The
    queue is then called in order, and the placeholders hung up: a free operator takes
    the head of the queue, which only happens to an operator that was not in ``operators``
    (a queue implies no operator was free). Operators not in ``center`` must be free."""
    saved = {operator_id: (state, call) for operator_id, state, call in operators}
    used = {call for _, _, call in operators if call is not None}
    used.update(queue)
    placeholders: List[str] = []
    for operator in center.operators:
        state, call = saved.get(operator.id, (AVAILABLE, None))
        if call is None:
            call = "restore-%d" % len(placeholders)
            while call in used:
                call += "+"
            placeholders.append(call)
        center.call(call)
        if state == BUSY:
            center.answer(operator.id)
    for call in queue:
        center.call(call)
    for call in placeholders:
        center.hangup(call)


class RingTimer(object):
    """The ring timer the core holds for a ringing operator: journaled when it fires.

    While the journal is replayed it only waits for its ``timeout`` record; once the
    server runs it is armed with the reactor (a full ring timeout for a restored call)."""

    __slots__ = ("args", "delayed", "due", "func", "operator_id", "owner")

    def __init__(self, owner: "DurableCallCenter", operator_id: str, func: Callable[..., Any], args: Any) -> None:
        self.due = 0.0  # when it would fire (routing: wrap-up and wait timers resume from it)
        self.owner = owner
        self.operator_id = operator_id
        self.func = func
        self.args = args
        self.delayed: Any = None

    def cancel(self) -> None:
        if self.delayed is not None:
            self.delayed.cancel()
            self.delayed = None
        if self.owner.timers.get(self.operator_id) is self:
            del self.owner.timers[self.operator_id]


class Journal(object):
    """The open journal file: appends in one ``write``, made durable with one ``fdatasync``."""

    def __init__(self, path: str, sync: Callable[[int], None]) -> None:
        self.path = path
        self.sync = sync
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
        self.size = os.fstat(self.fd).st_size
        if self.size == 0:
            self.write(JOURNAL_MAGIC)

    def append(self, data: bytes) -> None:
        """Into the page cache: one ``write`` (a loop only if the kernel takes part of it)."""
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)

    def write(self, data: bytes) -> None:
        """Appended and on disk."""
        self.append(data)
        self.sync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class DurableCallCenter(object):
    """A :class:`CallCenter` whose state-changing commands are journaled in ``directory``.

    The server's factory uses it as its center (``execute``, ``status``, ``on_event``) and
    routes every byte out through :meth:`hold`. :meth:`restore` must run first."""

    def __init__(
        self,
        directory: str,
        operator_ids: List[str],
        call_later: Any,
        seconds: Callable[[], float],
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        journal_limit: int = DEFAULT_JOURNAL_LIMIT,
        sync: Callable[[int], None] = sync_data,
        **center_options: Any,
    ) -> None:
        """``center_options``: CallCenter's other keyword arguments (service_level, ...); its
        clock is :meth:`now`."""
        self.directory = os.path.abspath(directory)
        self.operator_ids = list(operator_ids)
        self.call_later = call_later
        self.seconds = seconds
        self.ring_timeout = ring_timeout
        self.journal_limit = journal_limit
        self.sync = sync
        self.center_options = center_options
        self.timers: Dict[str, RingTimer] = {}
        self.live = False  # timers are armed with the reactor (after restore)
        self.replaying: Optional[float] = None  # the time of the record being replayed
        self.generation = 0
        self.journal: Optional[Journal] = None
        self.center: CallCenter = None  # type: ignore[assignment]  # set by restore()
        self._lock_fd: Optional[int] = None
        self._records: List[bytes] = []  # waiting for the next commit
        self._held: List[Tuple[Any, bytes]] = []  # (connection, bytes) waiting for it too
        self._commit_call: Any = None
        # What waits for the fdatasync in flight (None: none is); who waits for it to end.
        self._syncing: Optional[List[Tuple[Any, bytes]]] = None
        self._idle_waiters: List[Any] = []
        # (function, fd) -> Deferred: runs the fdatasync off the reactor (deferToThread).
        self.sync_in_thread: Optional[Callable[..., Any]] = None
        self.failed = False
        self.on_failure: Optional[Callable[[], None]] = None
        # Counters for the log and the benchmark.
        self.records_written = 0
        self.commits = 0
        self.snapshots = 0

    # What the server's factory uses.

    def now(self) -> float:
        """The time of the event being handled: the record's own while replaying. The clock
        to give the core's statistics (issue 13) so that a replay reproduces them."""
        return self.seconds() if self.replaying is None else self.replaying

    @property
    def on_event(self) -> Any:
        return self.center.on_event

    @on_event.setter
    def on_event(self, callback: Any) -> None:
        self.center.on_event = callback

    def status(self) -> Lines:
        return self.center.status()

    def execute(self, command: str, argument: Optional[str]) -> Lines:
        """Run a command; when it changed state, its record goes into the next commit."""
        lines = self.center.execute(command, argument)
        if command in self.center.commands:  # the queries (status, stats) change nothing
            self._append(command, argument or "")
        return lines

    def __getattr__(self, name: str) -> Any:
        """The rest of the call center (figures, operators, queue: what --metrics reads)."""
        if name == "center":
            raise AttributeError(name)
        return getattr(self.center, name)

    def hold(self, connection: Any, data: bytes) -> bool:
        """Keep ``data`` for ``connection`` until the records before it are on disk: True
        when held. Nothing waiting, nothing held: it goes out at once, in order."""
        if not self._records and not self._held and self._syncing is None:
            return False
        self._held.append((connection, data))
        return True

    def commit(self) -> None:
        """The group commit (on the turn after the records were made): one write of every
        waiting record, one fdatasync (in a thread when ``sync_in_thread`` is set, so the
        reactor goes on handling requests meanwhile; they wait for the next commit), then
        what the records held back goes out, in order."""
        self._commit_call = None
        if self._syncing is not None or self.failed:
            return  # the commit in flight starts the next one when it is done
        records, held = self._records, self._held
        self._records, self._held = [], []
        if not records:
            self._release(held)
            return
        assert self.journal is not None
        self._syncing = held
        try:
            self.journal.append(b"".join(records))
            if self.sync_in_thread is None:
                self.journal.sync(self.journal.fd)
        except OSError as error:
            self._fail("cannot write the journal %s: %s" % (self.journal.path, error))
            return
        if self.sync_in_thread is None:
            self._synced(len(records))
        else:
            synced = self.sync_in_thread(self.journal.sync, self.journal.fd)
            synced.addCallbacks(lambda _: self._synced(len(records)), self._sync_failed)

    def _synced(self, count: int) -> None:
        held, self._syncing = self._syncing, None
        self.commits += 1
        self.records_written += count
        self._release(held or [])
        assert self.journal is not None
        if self.journal.size > self.journal_limit:
            self.flush()
            try:
                self.compact()
            except OSError as error:  # the journal goes on; the next commit tries again
                log.error("Cannot write a snapshot to {dir}: {error}", dir=self.directory, error=error)
        elif (self._records or self._held) and self._commit_call is None:
            self.commit()  # what came meanwhile: its write now, its sync in the thread
        if self._syncing is None:
            self._wake_idle_waiters()

    def _wake_idle_waiters(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _sync_failed(self, failure: Any) -> None:
        assert self.journal is not None
        self._fail("cannot write the journal %s: %s" % (self.journal.path, failure.getErrorMessage()))

    def _release(self, held: List[Tuple[Any, bytes]]) -> None:
        for connection, data in held:
            connection.deliver(data)

    def idle(self) -> Any:
        """A Deferred that fires once no commit is in flight."""
        from twisted.internet import defer

        if self._syncing is None:
            return defer.succeed(None)
        waiter: "defer.Deferred[None]" = defer.Deferred()
        self._idle_waiters.append(waiter)
        return waiter

    def flush(self) -> int:
        """Commit what waits now, in this turn, with no commit in flight (see :meth:`idle`);
        the count of messages it let go out."""
        assert self._syncing is None
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        waiting = len(self._held)
        records, self._records = self._records, []
        if records and not self.failed:
            assert self.journal is not None
            try:
                self.journal.write(b"".join(records))
            except OSError as error:
                self._fail("cannot write the journal %s: %s" % (self.journal.path, error))
                return 0
            self.commits += 1
            self.records_written += len(records)
        held, self._held = self._held, []
        if not self.failed:
            self._release(held)
        return waiting

    def _append(self, command: str, argument: str) -> None:
        if self.replaying is not None:
            return
        self._records.append(encode_record(self.seconds(), command, argument))
        if self._commit_call is None and self._syncing is None:
            self._commit_call = self.call_later(0, self.commit)

    def _fail(self, message: str) -> None:
        """The disk refused: no reply may go out now. Stop; a restart restores what was
        acknowledged."""
        self.failed = True
        self._held, self._syncing = [], None
        self._wake_idle_waiters()
        log.critical("{message}; stopping without answering the requests waiting for it", message=message)
        if self.on_failure is not None:
            self.on_failure()

    # Ring timers: the core's call_later.

    def _ring_timer(self, delay: float, func: Callable[..., Any], *args: Any) -> RingTimer:
        # The core schedules call_later(ring_timeout, _ignored, operator, call); routing adds
        # call_later(wrap_up, _wrapped_up, operator) and call_later(delay, _waits_ended).
        timer = RingTimer(self, args[0].id if args else WAIT_TIMER, func, args)
        timer.due = self.now() + delay
        self.timers[timer.operator_id] = timer
        if self.live:
            timer.delayed = self.call_later(delay, self._ring_timed_out, timer)
        return timer

    def _ring_timed_out(self, timer: RingTimer) -> None:
        timer.delayed = None
        self.timers.pop(timer.operator_id, None)
        self._append(TIMEOUT, timer.operator_id)
        timer.func(*timer.args)

    # Snapshots and compaction.

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def compact(self) -> int:
        """Write a snapshot and start a new journal: the new journal first (so the snapshot
        never names a missing one), then the snapshot (temporary file, fsync, rename, fsync
        of the directory), then the old journal goes. Returns the calls in the snapshot."""
        generation = self.generation + 1
        journal = Journal(self._path(JOURNAL_PREFIX + str(generation)), self.sync)
        queue = list(self.center.queue)
        data = encode_snapshot(
            generation,
            self.seconds(),
            operator_states(self.center),
            queue,
            self.center.stats_state(),
            self.center.routing_state(),
        )
        tmp = self._path(SNAPSHOT_TMP)
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "wb") as snapshot:
            snapshot.write(data)
            snapshot.flush()
            os.fsync(snapshot.fileno())
        os.rename(tmp, self._path(SNAPSHOT))
        self._sync_directory()
        if self.journal is not None:
            self.journal.close()
        previous = self._path(JOURNAL_PREFIX + str(self.generation))
        if os.path.exists(previous):  # not yet there on the first start
            os.unlink(previous)
        self.journal, self.generation = journal, generation
        self.snapshots += 1
        return len(self.center.calls)

    # Restore.

    def restore(self) -> CallCenter:
        """Load the snapshot, replay the journal, adapt to changed operators, and start the
        ring timers of ringing calls afresh. :class:`StateError` when that cannot be done."""
        began = time.monotonic()
        try:
            os.makedirs(self.directory, mode=0o750, exist_ok=True)
            self._lock()
            restored = self._restore()
        except OSError as error:
            self.close()
            raise StateError("cannot use the state directory %s: %s" % (self.directory, error)) from None
        except StateError:
            self.close()
            raise
        self.live = True
        for timer in list(self.timers.values()):
            if not self._is_ring_timer(timer):  # routing: a wrap-up or wait timer resumes
                timer.delayed = self.call_later(max(timer.due - self.seconds(), 0.0), self._ring_timed_out, timer)
            elif self.ring_timeout:
                timer.delayed = self.call_later(self.ring_timeout, self._ring_timed_out, timer)
            else:
                del self.timers[timer.operator_id]
        if restored:
            counts = {RINGING: 0, BUSY: 0}
            for operator in self.center.operators:
                if operator.state in counts:
                    counts[operator.state] += 1
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
        return self.center

    def _lock(self) -> None:
        self._lock_fd = os.open(self._path(LOCK), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise StateError(
                "the state directory %s is in use by another callcenter server; stop it first, "
                "or give this one another --state-dir" % self.directory
            ) from None

    def _is_ring_timer(self, timer: RingTimer) -> bool:
        operator = self.center._operators_by_id.get(timer.operator_id)
        return operator is not None and operator.state == RINGING

    def _new_center(self, operator_ids: List[str], loading: bool = False) -> CallCenter:
        # Replay needs ring timers even when they are now off: the journal may hold timeouts.
        options = dict(self.center_options)
        if loading:  # routing: load() places calls in order, whatever the strategy and limits
            options.update(strategy="linear", max_queue=0)
        return CallCenter(
            operator_ids,
            self._ring_timer,
            self.ring_timeout or DEFAULT_RING_TIMEOUT,
            now=self.now,
            **options,
        )

    def _load(
        self, operator_ids: List[str], states: OperatorStates, queue: List[str], stats: Any, routing: Any
    ) -> None:
        """A new center in the given state: load() the operators' calls in order, then the
        routing (the configured strategy and its memory, presence, priorities), then the
        queue, which nobody free takes, in offer order with its priorities, then the figures."""
        center = self.center = self._new_center(operator_ids, loading=True)
        load(center, states, [])
        center.use_strategy(self.center_options.get("strategy", "linear"), self.center_options.get("seed"))
        priorities: Dict[str, Any] = {}
        if routing is not None:
            center.restore_routing(routing)
            priorities = routing.get("priorities") or {}
        for call_id in queue:
            center.call(call_id, parse_priority(priorities.get(call_id, 0)))
        center.max_queue = self.center_options.get("max_queue", 0)
        if stats is not None:
            center.restore_stats(stats)

    def _restore(self) -> bool:
        """True when there was a state to restore."""
        if os.path.exists(self._path(SNAPSHOT_TMP)):
            os.unlink(self._path(SNAPSHOT_TMP))  # a compaction that did not finish
        journals = sorted(name for name in os.listdir(self.directory) if name.startswith(JOURNAL_PREFIX))
        if not os.path.exists(self._path(SNAPSHOT)):
            if journals:
                raise self._damaged(
                    journals[0], 0, "a journal without the snapshot it follows (%s is missing)" % SNAPSHOT
                )
            self.center = self._new_center(self.operator_ids)
            self.center.ring_timeout = self.ring_timeout
            self.compact()
            return False
        with open(self._path(SNAPSHOT), "rb") as snapshot:
            data = snapshot.read()
        try:
            document = decode_snapshot(data)
        except DamagedError as damage:
            raise self._damaged(SNAPSHOT, damage.offset, damage.why) from None
        self.generation = document["generation"]
        saved_ids = [operator_id for operator_id, _, _ in document["operators"]]
        try:
            self._load(
                saved_ids, document["operators"], document["queue"], document.get("stats"), document.get("routing")
            )
        except CallCenterError as error:
            raise self._damaged(SNAPSHOT, 0, "a snapshot that does not load: %s" % error) from None
        name = JOURNAL_PREFIX + str(self.generation)
        if name not in journals:
            raise self._damaged(name, 0, "the journal that follows the snapshot is missing")
        for stale in journals:
            if stale != name:
                os.unlink(self._path(stale))
                log.info("Removed {file}, a journal older than the snapshot", file=self._path(stale))
        replayed, torn = self._replay(name)
        # Routing: members that joined with login stay, after the configured ones.
        changed = saved_ids != self.operator_ids + [
            operator_id for operator_id in self.center.dynamic if operator_id not in self.operator_ids
        ]
        if changed:
            self._change_operators()
        self.center.ring_timeout = self.ring_timeout
        if replayed or torn or changed:
            self.compact()  # a new journal that starts from the restored state
        else:
            self.journal = Journal(self._path(name), self.sync)
        return True

    def _replay(self, name: str) -> Tuple[int, bool]:
        """Replay ``name`` through the center; (records replayed, whether the last was torn)."""
        with open(self._path(name), "rb") as journal:
            data = journal.read()
        if not data.startswith(JOURNAL_MAGIC):
            raise self._damaged(name, 0, "not a callcenter journal (a wrong first line)")
        try:
            frames, torn = read_frames(data, len(JOURNAL_MAGIC))
        except DamagedError as damage:
            raise self._damaged(name, damage.offset, damage.why) from None
        center, timers = self.center, self.timers
        try:
            for offset, payload in frames:
                seconds, command, argument = decode_record(payload, offset)
                self.replaying = seconds
                if command == TIMEOUT:
                    timer = timers.pop(argument, None)
                    if timer is None:
                        raise DamagedError(offset, "a ring timeout of operator %s, not ringing" % argument)
                    timer.func(*timer.args)
                else:
                    try:
                        center.execute(command, argument)
                    except CallCenterError as error:
                        why = "a record (%s %s) that does not apply: %s" % (command, argument, error)
                        raise DamagedError(offset, why) from None
        except DamagedError as damage:
            raise self._damaged(name, damage.offset, damage.why) from None
        finally:
            self.replaying = None
        if torn is not None:
            log.warn(
                "Dropped a torn record at the end of {file} (offset {offset}, {size} bytes): a write cut short "
                "by a crash, never acknowledged",
                file=self._path(name),
                offset=torn,
                size=len(data) - torn,
            )
        return len(frames), torn is not None

    def _change_operators(self) -> None:
        """The options name other operators than the saved state: idle ones may come and go;
        one that holds a call must stay."""
        # Routing: members that joined with login are kept too.
        operator_ids = self.operator_ids + [
            operator_id for operator_id in self.center.dynamic if operator_id not in self.operator_ids
        ]
        keep = set(operator_ids)
        states = operator_states(self.center)
        routing = self.center.routing_state()
        for operator_id, state, call in states:
            if call is not None and operator_id not in keep:
                raise StateError(
                    "operator %s is %s with call %s in the saved state in %s but is not in --operators: "
                    "add it back (it can be removed once idle), or move %s aside to start empty"
                    % (operator_id, state, call, self.directory, self.directory)
                )
        queue = list(self.center.queue)
        stats = self.center.stats_state()
        self.timers.clear()
        self._load(operator_ids, states, queue, stats, routing)
        log.info(
            "Operators changed from {old} to {new}",
            old=",".join(operator_id for operator_id, _, _ in states),
            new=",".join(self.operator_ids),
        )

    def _damaged(self, name: str, offset: int, why: str) -> StateError:
        return StateError(
            "cannot restore the state: %s is damaged at offset %d: %s. Its files were left as they are. Move the "
            "directory aside (mv %s %s.damaged) to start empty, or put back a good copy"
            % (self._path(name), offset, why, self.directory, self.directory)
        )

    # Shutdown.

    def close(self) -> None:
        """Release the journal and the directory (after the last commit and snapshot). Ring
        timers stop too: nothing may change after the snapshot, which restarts them."""
        for timer in self.timers.values():
            if timer.delayed is not None:
                timer.delayed.cancel()
                timer.delayed = None
        self.live = False
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
