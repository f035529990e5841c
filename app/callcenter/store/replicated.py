"""The replicated call center (``--etcd``): one server leads, the others keep a hot copy; the state is in etcd.

Layer: store, the replicated store's call-center half; etcd is spoken by :mod:`callcenter.store.etcd`,
the center turned into data and back by :mod:`callcenter.core.state`, records framed as
:mod:`callcenter.store.journal` frames them. A sibling of the durable call center
(``--state-dir``, :mod:`callcenter.store.durable`): the same records, the same group commit
and the same seams (``interfaces.IDurableOutput``, ``ChangeNotStored``), with etcd for the disk.
docs/ha.md has the whole story.

Keys under the prefix (``--etcd-prefix``, one call center each)::

    leader                    who leads: {"name", "id"}, bound to its lease
    journal/<seq, 20 digits>  the records of one group commit, framed as in a journal file
    snapshot                  the last snapshot: {"generation", "seq" (the last journal key it holds), "chunks", ...}
    snapshots/<gen>/<chunk>   its JSON, in chunks under etcd's request limit

Election: every server holds a lease (``lease_ttl`` seconds, kept alive every third of it)
and campaigns by creating the leader key with it when there is none. Fencing: every group
commit is one transaction that puts its journal key only if the leader key is still the one
this server created (its create revision) and the journal key does not exist yet, so a leader
that was paused, cut off or lost its lease writes nothing; and since the same transaction can
be sent again without harm, a commit whose answer was lost is sent again until etcd answers.
Replies and events go out only once it succeeded (``when_durable``); none is ever sent on a
timeout. A leader whose commits do not get through for ``lease_ttl`` seconds (no quorum)
refuses changes with the degraded-mode line, and accepts them again once a commit gets
through; one that has not had its lease confirmed for twice ``lease_ttl`` steps down: what
waited fails, its clients are closed with one line each (``when_stepping_down``), it goes back to
what etcd was known to hold and is a standby again.

Standbys load the latest snapshot and the journal keys after it at one revision, then watch
the prefix and apply every journal key, in order, to their copy: ``status`` and ``stats``
answer from it, a change gets one error line naming the leader. A standby that wins the
election reads the journal up to the current revision and serves: ringing calls ring again
for a full ring timeout, wrap-ups and waits resume with what was left of them.
"""

import json
import time
import uuid
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from callcenter.core import state
from callcenter.core.center import DEFAULT_RING_TIMEOUT, CallCenter, CallCenterError, Events
from callcenter.core.events import ChangesAccepted, ChangesRefused
from callcenter.core.model import BUSY, RINGING, ChangeRefusedError
from callcenter.interfaces import (
    ChangeNotStored,
    ICallCenter,
    ICallCenterObserver,
    IDiskState,
    IDurableOutput,
    IEventSource,
    ILeadership,
)
from callcenter.store.durable import (
    TIMEOUT,
    WAITED,
    WRAPPED,
    CoreTimer,
    StoredCallCenter,
)
from callcenter.store.etcd import (
    MAX_REQUEST_BYTES,
    EtcdClient,
    EtcdCompactedError,
    EtcdError,
    EtcdRefusedError,
    Watch,
    WatchEvent,
    created_at,
    delete_request,
    prefix_end,
    put_request,
    range_request,
)
from callcenter.store.etcd_config import DEFAULT_LEASE_TTL
from callcenter.store.journal import DamagedError, decode_record, read_frames

log = Logger()

LEADER = "leader"
STANDBY = "standby"
DEFAULT_SNAPSHOT_LIMIT = 8 << 20  # bytes of journal in etcd past which a snapshot is written
# One journal key's records, and one transaction's, well under etcd's 1.5 MiB a request
# (base64 makes them a third larger on the wire).
KEY_BYTES = 256 << 10
TXN_BYTES = (MAX_REQUEST_BYTES * 2 // 3) - (64 << 10)
SNAPSHOT_CHUNK = 512 << 10  # bytes of snapshot JSON a key (one transaction each)
RANGE_PAGE = 500  # journal keys read a request
RETRY_INTERVAL = 0.2  # seconds between attempts while etcd does not answer
SNAPSHOT_FORMAT = 1


class Keys(object):
    """The keys of one call center, under ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.leader = prefix + "leader"
        self.journal_prefix = prefix + "journal/"
        self.pointer = prefix + "snapshot"
        self.snapshots_prefix = prefix + "snapshots/"

    def journal(self, seq: int) -> str:
        return "%s%020d" % (self.journal_prefix, seq)

    def seq_of(self, key: bytes) -> Optional[int]:
        name = key.decode("utf-8", "replace")
        if not name.startswith(self.journal_prefix):
            return None
        digits = name[len(self.journal_prefix) :]
        return int(digits) if digits.isdigit() else None

    def generation_prefix(self, generation: int) -> str:
        return "%s%020d/" % (self.snapshots_prefix, generation)

    def chunk(self, generation: int, index: int) -> str:
        return "%s%06d" % (self.generation_prefix(generation), index)


class StoredState(object):
    """What a read of etcd found: the snapshot's document (None: no snapshot yet), the
    journal's records after it as (seq, payload) in order, and the revision read at."""

    __slots__ = ("document", "journal", "revision")

    def __init__(self, document: Optional[Dict[str, Any]], journal: List[Tuple[int, bytes]], revision: int) -> None:
        self.document = document
        self.journal = journal
        self.revision = revision


class CommittedState(object):
    """What etcd is known to hold, kept here: the last snapshot's document (None: none yet)
    and the journal keys after it. A server that stops leading goes back to it at once,
    even while etcd does not answer (its changes not confirmed are not in it)."""

    __slots__ = ("document", "journal", "size")

    def __init__(self, document: Optional[Dict[str, Any]], journal: List[Tuple[int, bytes]]) -> None:
        self.document = document
        self.journal = journal
        self.size = sum(len(value) for _, value in journal)

    def add(self, seq: int, value: bytes) -> None:
        self.journal.append((seq, value))
        self.size += len(value)

    def rebase(self, document: Dict[str, Any]) -> None:
        """A snapshot of the state after journal key ``document["seq"]``: the keys it holds go."""
        seq = int(document["seq"])
        self.document = document
        self.journal = [(key, value) for key, value in self.journal if key > seq]
        self.size = sum(len(value) for _, value in self.journal)


class StoreDamagedError(Exception):
    """What etcd holds under the prefix cannot be read back: one line saying why."""


def chunks_of(data: bytes, size: int) -> List[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)] or [b""]


def commit_groups(records: List[bytes]) -> List[List[bytes]]:
    """The records of one commit as the values of its journal keys, grouped by transaction:
    each key under ``KEY_BYTES``, each transaction under ``TXN_BYTES`` (a record is small)."""
    groups: List[List[bytes]] = [[]]
    value: List[bytes] = []
    value_size = group_size = 0
    for record in records:
        if value and value_size + len(record) > KEY_BYTES:
            groups[-1].append(b"".join(value))
            group_size += value_size
            value, value_size = [], 0
            if group_size + KEY_BYTES > TXN_BYTES:
                groups.append([])
                group_size = 0
        value.append(record)
        value_size += len(record)
    groups[-1].append(b"".join(value))
    return groups


@implementer(ICallCenter, IEventSource, IDurableOutput, ICallCenterObserver, IDiskState, ILeadership)
class ReplicatedCallCenter(StoredCallCenter):
    """A :class:`CallCenter` whose changes are journaled in etcd, led by one server at a time.

    The server's factory uses it as its call center and sends every byte once
    :meth:`when_durable` says so, as with the durable center; it also closes its clients when
    this server stops leading (``when_stepping_down``, ``interfaces.ILeadership``). :meth:`start`
    must have fired first (the state read from etcd)."""

    def __init__(
        self,
        client: EtcdClient,
        prefix: str,
        name: str,
        operator_ids: List[str],
        call_later: Any,
        seconds: Callable[[], float],
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        snapshot_limit: int = DEFAULT_SNAPSHOT_LIMIT,
        lease_ttl: int = DEFAULT_LEASE_TTL,
        **center_options: Any,
    ) -> None:
        StoredCallCenter.__init__(self, operator_ids, call_later, seconds, ring_timeout, center_options)
        self.client = client
        self.keys = Keys(prefix)
        self.prefix = prefix
        self.name = name
        self.id = uuid.uuid4().hex
        self.snapshot_limit = snapshot_limit
        self.lease_ttl = lease_ttl
        self.role = STANDBY
        self.leader_name: Optional[str] = None  # the leader's, as its key says (None: no leader)
        self.leader_revision = 0  # the create revision of our leader key while we lead
        self.lease = 0
        self.lease_confirmed = 0.0  # when the last keepalive that etcd confirmed was sent
        self.applied_seq = 0  # the last journal key in the center
        self.revision = 0  # the etcd revision the center is at
        self.committed = CommittedState(None, [])
        self.journal_bytes = 0  # journal put since the last snapshot
        self._commit_in_flight = False
        self._failing_since: Optional[float] = None
        self.unavailable: Optional[str] = None  # why etcd cannot be reached, as a standby last saw
        self.step_down_listeners: List[Callable[[str], None]] = []
        self.watch: Optional[Watch] = None
        self._tick: Any = None
        self._campaigning = False
        self._loading = False
        self._snapshotting = False
        self._last_compacted = 0
        self.stopped = False
        self.started = False
        self.takeovers = 0

    # What observers read (StoredCallCenter has the rest): the center of the moment.

    def snapshot(self, waiting_limit: int = 100) -> Dict[str, Any]:
        document = self.center.snapshot(waiting_limit)
        refused = self.degraded is not None or (self.role == STANDBY and self.leader_name is None)
        document["degraded"] = self.refusal() if refused else None
        return document

    # ILeadership.

    def role_line(self) -> str:
        if self.role == LEADER:
            return LEADER
        if self.leader_name is None:
            return "standby: no leader"
        return "standby: the leader is %s" % self.leader_name

    def when_stepping_down(self, listener: Callable[[str], None]) -> None:
        self.step_down_listeners.append(listener)

    def refusal(self) -> str:
        """The error line of a change this server does not take now."""
        if self.role == LEADER:
            return "cannot store the change: the store is unavailable (%s); status and stats still work" % (
                self.degraded,
            )
        if self.leader_name is None:
            why = self.unavailable or "an election is under way"
            return "cannot store the change: no leader (%s); status and stats still work" % why
        return "not the leader: the leader is %s; changes go to it" % self.leader_name

    # Commands.

    def execute(self, command: str, argument: Optional[str]) -> Events:
        """Run a command; its record goes into the next commit. A standby, or a leader whose
        commits do not get through, refuses changes before they run; a leader that finds its
        lease unconfirmed for too long (it was paused) steps down first."""
        changes = command in self.center.commands  # else the core says what is wrong with it
        if changes and self.role == LEADER and not self._lease_holds():
            self._step_down(self._lease_lost_reason(), unknown=True)
        if changes and (self.role != LEADER or self.degraded is not None):
            self.changes_refused += 1
            raise ChangeRefusedError(self.refusal())
        return self._execute_recorded(command, argument)

    # The group commit (leader).

    def commit(self) -> None:
        """One transaction (more for a large group) of every record waiting, fenced on the
        leader key; what waited goes out once etcd has it."""
        self._commit_call = None
        if self._commit_in_flight or self.role != LEADER:
            return
        records = self._take_records()
        if not records:
            return
        self._commit_in_flight = True
        done = self._waiters.start_commit()
        groups = commit_groups(records)
        first_seq = self.applied_seq + 1
        snapshot: Optional[Dict[str, Any]] = None
        size = sum(map(len, records))
        if self.journal_bytes + size > self.snapshot_limit and not self._snapshotting:
            # The center now is the state after these records: its snapshot follows them.
            snapshot = self._document(self.generation + 1, first_seq + sum(map(len, groups)) - 1)
        background(self._commit_groups(groups, first_seq, len(records), size, done, snapshot), "Committing")

    @defer.inlineCallbacks
    def _commit_groups(
        self, groups: List[List[bytes]], seq: int, count: int, size: int, done: Any, snapshot: Optional[Dict[str, Any]]
    ) -> Any:
        leader_revision = self.leader_revision
        written: List[Tuple[int, bytes]] = []
        try:
            for values in groups:
                revision = yield self._put_journal(values, seq, leader_revision)
                written.extend((seq + index, value) for index, value in enumerate(values))
                seq += len(values)
        except LostLeadershipError as lost:
            self._commit_in_flight = False
            if self.leader_revision == leader_revision:
                self._step_down(str(lost), unknown=lost.unknown)
            return
        except Exception:
            log.failure("A commit to etcd failed unexpectedly")
            self._commit_in_flight = False
            self._step_down("a commit failed unexpectedly", unknown=True)
            return
        self._commit_in_flight = False
        if self.leader_revision != leader_revision or self.role != LEADER:
            return  # stepped down meanwhile: what waited was failed then
        self.applied_seq = seq - 1
        self.revision = max(self.revision, revision)
        for key, value in written:
            self.committed.add(key, value)
        self.journal_bytes = 0 if snapshot is not None else self.journal_bytes + size  # a snapshot holds them
        self.commits += 1
        self.records_written += count
        self._commit_went_through()
        self._waiters.syncing = None
        done.callback(None)
        if snapshot is not None:
            background(self._write_snapshot(snapshot, leader_revision), "Writing a snapshot")
        if self._records and self._commit_call is None:
            self.commit()
        if not self._commit_in_flight:
            self._wake_idle_waiters()

    @defer.inlineCallbacks
    def _put_journal(self, values: List[bytes], seq: int, leader_revision: int) -> Any:
        """Journal keys ``seq``... with ``values``, fenced; sent again until etcd answers.
        :class:`LostLeadershipError` when the leader key is no longer ours or the lease
        could not be kept meanwhile."""
        keys = self.keys
        compare = [created_at(keys.leader, leader_revision), created_at(keys.journal(seq), 0)]
        success = [put_request(keys.journal(seq + index), value) for index, value in enumerate(values)]
        failure = [range_request(keys.leader), range_request(keys.journal(seq))]
        while True:
            if self.leader_revision != leader_revision:
                raise LostLeadershipError("stepped down", unknown=True)
            if not self._lease_holds():
                raise LostLeadershipError(self._lease_lost_reason(), unknown=True)
            try:
                result = yield self.client.txn(compare, success, failure)
            except EtcdRefusedError as refused:
                raise LostLeadershipError("etcd refused a commit: %s" % refused, unknown=False) from None
            except EtcdError as error:
                self._commit_failing(str(error))
                yield self._pause(RETRY_INTERVAL)
                continue
            if result.succeeded:
                return result.revision
            leader, journal = result.responses
            if journal.kvs and journal.kvs[0].value == values[0]:
                return journal.kvs[0].mod_revision  # a commit sent again whose first sending got through
            if not leader.kvs or leader.kvs[0].create_revision != leader_revision:
                raise LostLeadershipError("another server leads now", unknown=False)
            raise LostLeadershipError("journal key %d is already taken" % seq, unknown=False)

    def _pause(self, seconds: float) -> Any:
        paused: "defer.Deferred[None]" = defer.Deferred()
        self.call_later(seconds, paused.callback, None)
        return paused

    def _commit_failing(self, why: str) -> None:
        now = self.seconds()
        if self._failing_since is None:
            self._failing_since = now
            log.warn("A commit to etcd did not get through ({why}); sending it again", why=why)
        if self.degraded is None and now - self._failing_since >= self.lease_ttl:
            self.degraded = why
            log.error(
                "etcd does not take commits ({why}): refusing changes (status and stats still work) until it does",
                why=why,
            )
            self.bus.publish([ChangesRefused(now, why, "etcd %s" % self.prefix)], None)

    def _commit_went_through(self) -> None:
        self._failing_since = None
        if self.degraded is not None:
            log.info("etcd takes commits again: changes are accepted ({refused} refused)", refused=self.changes_refused)
            self.degraded = None
            self.bus.publish([ChangesAccepted(self.seconds())], None)
            held, self._held = self._held, []
            for timer in sorted(held, key=lambda timer: timer.due):
                if self.timers.get(timer.key) is timer and self.role == LEADER and self.degraded is None:
                    self._timer_fired(timer)

    def _committing(self) -> bool:
        return self._commit_in_flight

    # Snapshots (leader).

    def _document(self, generation: int, seq: int) -> Dict[str, Any]:
        """A snapshot's document: the center now, after journal key ``seq``."""
        return {
            "format": SNAPSHOT_FORMAT,
            "generation": generation,
            "seq": seq,
            "time": self.seconds(),
            "center": state.center_to_data(self.center),
        }

    @defer.inlineCallbacks
    def _write_snapshot(self, document: Dict[str, Any], leader_revision: int) -> Any:
        """The snapshot's chunks, each a fenced transaction, then the pointer to them, the
        journal keys it holds deleted and the previous snapshot's chunks with them, in one
        transaction; then etcd's history compacted up to the previous snapshot (what a
        standby a little behind still reads)."""
        self._snapshotting = True
        data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        generation, seq = document["generation"], document["seq"]
        keys = self.keys
        fence = [created_at(keys.leader, leader_revision)]
        chunks = chunks_of(data, SNAPSHOT_CHUNK)
        try:
            for index, chunk in enumerate(chunks):
                result = yield self._fenced_write(fence, [put_request(keys.chunk(generation, index), chunk)])
                if not result:
                    return
            pointer = {
                "format": SNAPSHOT_FORMAT,
                "generation": generation,
                "seq": seq,
                "chunks": len(chunks),
                "bytes": len(data),
                "crc": zlib.crc32(data),
                "by": self.name,
            }
            result = yield self._fenced_write(
                fence,
                [
                    put_request(keys.pointer, json.dumps(pointer).encode("utf-8")),
                    delete_request(keys.journal_prefix, keys.journal(seq + 1).encode("utf-8")),
                    delete_request(keys.snapshots_prefix, keys.generation_prefix(generation).encode("utf-8")),
                    delete_request(
                        keys.generation_prefix(generation) + "%06d" % len(chunks),
                        prefix_end(keys.generation_prefix(generation)),
                    ),
                ],
            )
            if not result:
                return
            if self.leader_revision == leader_revision:
                self.generation = generation
                self.committed.rebase(document)
                self.snapshots += 1
                log.info(
                    "Snapshot {generation} in etcd: {size} bytes in {chunks} keys, journal up to {seq} deleted",
                    generation=generation,
                    size=len(data),
                    chunks=len(chunks),
                    seq=seq,
                )
            compact_to, self._last_compacted = self._last_compacted, result
            if compact_to:
                try:
                    yield self.client.compact(compact_to)
                except EtcdCompactedError:
                    pass  # another did it
        except EtcdError as error:
            log.warn("Cannot write a snapshot to etcd ({error}); the journal keeps the state", error=error)
        finally:
            self._snapshotting = False

    @defer.inlineCallbacks
    def _fenced_write(self, compare: List[Dict[str, Any]], success: List[Dict[str, Any]]) -> Any:
        """The revision of a transaction that only writes while we lead (0: we no longer do)."""
        result = yield self.client.txn(compare, success)
        return result.revision if result.succeeded else 0

    # Timers: the core's call_later, as the durable center's.

    def _timer_fired(self, timer: CoreTimer) -> None:
        timer.delayed = None
        if self.role != LEADER:
            return
        if self.degraded is not None:
            self._held.append(timer)
            return
        self.timers.pop(timer.key, None)
        self._append(timer.kind, timer.operator_id)
        self._run_timer(timer.kind, timer.operator_id)

    def _disarm(self) -> None:
        self.live = False
        for timer in self.timers.values():
            if timer.delayed is not None:
                timer.delayed.cancel()
                timer.delayed = None
        self._held = []

    # Reading the state (start, a standby that fell behind, a server that stepped down).

    @defer.inlineCallbacks
    def read_state(self, after_seq: int = 0) -> Any:
        """A :class:`StoredState` read at one revision: the snapshot (unless ``after_seq`` is
        given: only the journal keys after it) and the journal keys after it."""
        keys = self.keys
        while True:
            try:
                pointer_range = yield self.client.range(keys.pointer)
                revision = pointer_range.revision
                document = None
                start_seq = after_seq + 1
                if not after_seq and pointer_range.kvs:
                    document = yield self._read_snapshot(pointer_range.kvs[0].value, revision)
                    start_seq = int(document["seq"]) + 1
                journal = yield self._read_journal(start_seq, revision)
            except EtcdCompactedError:
                continue  # compacted between two reads: all again at a newer revision
            return StoredState(document, journal, revision)

    @defer.inlineCallbacks
    def read_after(self, after_seq: int) -> Any:
        """The journal keys after ``after_seq``, without a snapshot: a :class:`StoredState`
        whose document is the snapshot pointer's (its ``generation``), or None when etcd no
        longer holds them all. Those a snapshot deleted since are read from etcd's history,
        at the revision before its pointer moved (compaction stops at the snapshot before)."""
        keys = self.keys
        while True:
            pointer_range = yield self.client.range(keys.pointer)
            revision = pointer_range.revision
            pointer: Dict[str, Any] = {"generation": 0, "seq": 0}
            journal: List[Tuple[int, bytes]] = []
            if pointer_range.kvs:
                pointer = self._pointer(pointer_range.kvs[0].value)
                if int(pointer["seq"]) > after_seq:
                    try:
                        journal = yield self._read_journal(after_seq + 1, pointer_range.kvs[0].mod_revision - 1)
                    except EtcdCompactedError:
                        return None
            try:
                later = yield self._read_journal(after_seq + len(journal) + 1, revision)
            except EtcdCompactedError:
                continue  # compacted between two reads: all again at a newer revision
            journal.extend(later)
            if [seq for seq, _ in journal] != list(range(after_seq + 1, after_seq + 1 + len(journal))):
                return None
            if after_seq + len(journal) < int(pointer["seq"]):
                return None  # the snapshot holds keys etcd no longer has
            return StoredState(pointer, journal, revision)

    @defer.inlineCallbacks
    def _catch_up(self) -> Any:
        """The center brought up to what etcd holds now, from the journal key it holds: each
        key applied as a standby's watch applies it, its events told (so that every server's
        queue_log has every commit, once, from the leader's or from etcd: docs/ha.md). When
        etcd no longer holds the keys after ours, the state is read whole (logged: what came
        in between is in no event here)."""
        stored = yield self.read_after(self.applied_seq)
        if stored is None:
            log.warn(
                "The journal after key {seq} is no longer in etcd's history: the state read from the latest "
                "snapshot; the changes in between make no events here (nor queue_log lines)",
                seq=self.applied_seq,
            )
            self._load((yield self.read_state()))
            return
        for seq, value in stored.journal:
            self._apply(seq, value)
            self.committed.add(seq, value)
        self.generation = max(self.generation, int(stored.document["generation"]))
        self.revision = stored.revision

    def _pointer(self, value: bytes) -> Dict[str, Any]:
        """The snapshot pointer's document (``generation``, ``seq``, ``chunks``, ...)."""
        try:
            pointer = json.loads(value.decode("utf-8"))
            int(pointer["generation"]), int(pointer["chunks"]), int(pointer["seq"])
        except (ValueError, KeyError, TypeError):
            raise StoreDamagedError(
                "the snapshot pointer %s is not what this program writes" % self.keys.pointer
            ) from None
        return dict(pointer)

    @defer.inlineCallbacks
    def _read_snapshot(self, pointer_value: bytes, revision: int) -> Any:
        pointer = self._pointer(pointer_value)
        generation, chunks = int(pointer["generation"]), int(pointer["chunks"])
        prefix = self.keys.generation_prefix(generation)
        parts: List[bytes] = []
        key: Any = prefix
        while len(parts) < chunks:
            answer = yield self.client.range(key, prefix_end(prefix), revision=revision, limit=4)
            parts.extend(kv.value for kv in answer.kvs)
            if not answer.more:
                break
            key = answer.kvs[-1].key + b"\0"
        data = b"".join(parts)
        if len(parts) != chunks or len(data) != pointer.get("bytes") or zlib.crc32(data) != pointer.get("crc"):
            raise StoreDamagedError(
                "snapshot %d in etcd is incomplete or damaged (%d of %d chunks)" % (generation, len(parts), chunks)
            )
        try:
            document = json.loads(data.decode("utf-8"))
            if document["format"] != SNAPSHOT_FORMAT or int(document["seq"]) != int(pointer["seq"]):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise StoreDamagedError("snapshot %d in etcd is not what this program writes" % generation) from None
        return document

    @defer.inlineCallbacks
    def _read_journal(self, start_seq: int, revision: int) -> Any:
        keys = self.keys
        journal: List[Tuple[int, bytes]] = []
        key: Any = keys.journal(start_seq)
        while True:
            answer = yield self.client.range(key, prefix_end(keys.journal_prefix), revision=revision, limit=RANGE_PAGE)
            for kv in answer.kvs:
                seq = keys.seq_of(kv.key)
                if seq is not None:
                    journal.append((seq, kv.value))
            if not answer.more or not answer.kvs:
                return journal
            key = answer.kvs[-1].key + b"\0"

    def _load(self, stored: StoredState) -> None:
        """The center as ``stored`` holds it (not live: a standby's copy)."""
        self._disarm()
        self.timers.clear()
        if stored.document is None:
            self.generation = 0
            self.applied_seq = 0
            self.center = CallCenter(
                self.operator_ids_wanted, self._core_timer, self.ring_timeout, now=self.now, **self.center_options
            )
        else:
            self.generation = int(stored.document["generation"])
            self.applied_seq = int(stored.document["seq"])
            try:
                self.center = state.center_from_data(
                    stored.document["center"], self._core_timer, self.now, self._settings()
                )
            except CallCenterError as error:
                raise StoreDamagedError("snapshot %d in etcd does not load: %s" % (self.generation, error)) from None
        self.journal_bytes = 0
        self.revision = stored.revision
        self.committed = CommittedState(stored.document, list(stored.journal))
        for seq, value in stored.journal:
            if seq != self.applied_seq + 1:
                raise StoreDamagedError(
                    "journal key %d in etcd follows %d: key %d is missing"
                    % (seq, self.applied_seq, self.applied_seq + 1)
                )
            self._apply(seq, value)
        # From now on its events reach our subscribers: a standby's as it applies the
        # leader's journal, the leader's once in etcd (not those of the replay just done).
        self.center.subscribe(self._relay)

    def _apply(self, seq: int, value: bytes) -> None:
        """The records of journal key ``seq``, through the center's public operations.
        :class:`StoreDamagedError` when one does not apply."""
        try:
            frames, torn = read_frames(value, 0)
            if torn is not None:
                raise DamagedError(torn, "a record cut short")
        except DamagedError as damage:
            raise StoreDamagedError("journal key %d in etcd is damaged: %s" % (seq, damage.why)) from None
        try:
            for offset, payload in frames:
                seconds, command, argument = decode_record(payload, offset)
                self.replaying = seconds
                if command in (TIMEOUT, WRAPPED, WAITED):
                    self._run_timer(command, argument)
                else:
                    self.center.execute(command, argument)
        except (CallCenterError, DamagedError) as error:
            raise StoreDamagedError("journal key %d in etcd does not apply: %s" % (seq, error)) from None
        finally:
            self.replaying = None
        self.applied_seq = seq
        self.journal_bytes += len(value)

    # Start, lease and election.

    @defer.inlineCallbacks
    def start(self) -> Any:
        """Read the state (trying again while etcd does not answer), then campaign and watch.
        Fires once the center holds the state in etcd."""
        began = time.monotonic()
        said = 0.0
        while True:
            try:
                stored = yield self.read_state()
                break
            except EtcdError as error:
                if time.monotonic() - said > 10:
                    said = time.monotonic()
                    log.error("Cannot read the state from etcd ({error}); trying again", error=error)
                self.unavailable = str(error)
                yield self._pause(RETRY_INTERVAL * 5)
        self._load(stored)
        self.started = True
        log.info(
            "Read {calls} calls from etcd (prefix {prefix}, snapshot {generation}, journal up to {seq}) in {ms:.0f} ms",
            calls=len(self.center.calls),
            prefix=self.prefix,
            generation=self.generation,
            seq=self.applied_seq,
            ms=1000 * (time.monotonic() - began),
        )
        self._start_watch()
        self._schedule_tick(0)
        return self.center

    def _schedule_tick(self, delay: float) -> None:
        if self.stopped:
            return
        if self._tick is not None and self._tick.active():
            self._tick.cancel()
        self._tick = self.call_later(delay, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        background(self._keep_lease(), "Keeping the lease")
        if self.role == LEADER and not self._lease_holds():
            self._step_down(self._lease_lost_reason(), unknown=True)
        if self.role == STANDBY:
            background(self._campaign(), "Campaigning")
        self._schedule_tick(self.lease_ttl / 3.0)

    def _lease_holds(self) -> bool:
        """Whether etcd confirmed our lease lately enough. Not a guarantee (fencing is): a
        leader cut off from etcd steps down within twice the lease, by when a standby has
        taken over; while etcd elects a leader of its own (a second or two), leases wait."""
        return self.seconds() < self.lease_confirmed + 2 * self.lease_ttl

    def _lease_lost_reason(self) -> str:
        return "etcd did not confirm the lease for %g s" % (2 * self.lease_ttl)

    @defer.inlineCallbacks
    def _keep_lease(self) -> Any:
        """A lease granted if there is none, else kept alive; when etcd no longer has it,
        a leader steps down at once."""
        sent = self.seconds()
        try:
            if not self.lease:
                lease, ttl = yield self.client.lease_grant(self.lease_ttl)
                self.lease, self.lease_confirmed = lease, sent
                return
            lease = self.lease
            ttl = yield self.client.lease_keepalive(lease)
        except EtcdError as error:
            self.unavailable = str(error)
            return
        if lease != self.lease:
            return
        if ttl > 0:
            self.lease_confirmed = max(self.lease_confirmed, sent)
            return
        self.lease = 0
        if self.role == LEADER:
            self._step_down("etcd let the lease expire", unknown=True)

    @defer.inlineCallbacks
    def _campaign(self) -> Any:
        """Create the leader key with our lease if there is none; learn the leader's name."""
        if self._campaigning or self._loading or not self.lease or not self._lease_holds() or self.stopped:
            return
        self._campaigning = True
        keys = self.keys
        value = json.dumps({"name": self.name, "id": self.id}).encode("utf-8")
        try:
            result = yield self.client.txn(
                [created_at(keys.leader, 0)],
                [put_request(keys.leader, value, self.lease)],
                [range_request(keys.leader)],
            )
        except EtcdError as error:
            # An unknown outcome: the key, if it was made, is bound to our lease; a later
            # campaign sees it as another's (its id is ours: see _leader_seen).
            self.unavailable = str(error)
            self._campaigning = False
            return
        self.unavailable = None
        try:
            if result.succeeded:
                yield self._won(result.revision)
                return
            (leader,) = result.responses
            if not leader.kvs:
                return
            kv = leader.kvs[0]
            if self._leader_seen(kv.value) == self.id:
                if kv.lease == self.lease:
                    yield self._won(kv.create_revision)  # an earlier campaign whose answer was lost
                else:
                    # Ours from before stepping down (its lease not revoked yet): given up, so
                    # that the election goes on without waiting for that lease to expire.
                    self.leader_name = None
                    yield self.client.txn([created_at(keys.leader, kv.create_revision)], [delete_request(keys.leader)])
        except EtcdError as error:
            self.unavailable = str(error)
        finally:
            self._campaigning = False

    def _leader_seen(self, value: bytes) -> Optional[str]:
        """Note the leader's name from its key's value; its id."""
        try:
            document = json.loads(value.decode("utf-8"))
            name, leader_id = str(document["name"]), str(document.get("id"))
        except (ValueError, KeyError, TypeError, AttributeError):
            name, leader_id = "(an unreadable leader key)", None
        if leader_id != self.id:
            if self.leader_name != name:
                log.info("The leader is {name}", name=name)
            self.leader_name = name
        return leader_id

    @defer.inlineCallbacks
    def _won(self, revision: int) -> Any:
        """The leader key is ours: read what the last leader committed, then serve."""
        began = time.monotonic()
        self.leader_revision = revision
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        try:
            yield self._catch_up()
        except (EtcdError, StoreDamagedError) as error:
            log.error(
                "Cannot read the state from etcd after winning the election ({error}); stepping down", error=error
            )
            self.leader_revision = 0
            # Given up, if it is still ours (never another's), so that the election goes on.
            yield self.client.txn(
                [created_at(self.keys.leader, revision)], [delete_request(self.keys.leader)]
            ).addErrback(lambda _: None)
            # A key that did not apply may have applied in part: then the whole state again.
            background(self._reload(continuing=isinstance(error, EtcdError)), "Reading the state again")
            return
        if self.leader_revision != revision:
            return
        self.role = LEADER
        self.leader_name = self.name
        self.takeovers += 1
        self._go_live()
        counts = self._ringing_and_busy()
        log.info(
            "Leading (prefix {prefix}): {calls} calls, {queued} queued, {ringing} ringing, {answered} answered, "
            "journal up to {seq}, read in {ms:.0f} ms",
            prefix=self.prefix,
            calls=len(self.center.calls),
            queued=len(self.center.queue),
            ringing=counts[RINGING],
            answered=counts[BUSY],
            seq=self.applied_seq,
            ms=1000 * (time.monotonic() - began),
        )
        if self.generation == 0:
            # The first leader: a snapshot of the center its options made, for standbys.
            yield self._write_snapshot(self._document(1, self.applied_seq), revision)

    def _step_down(self, why: str, unknown: bool) -> None:
        """No longer the leader: what waited for a commit fails (its effect unknown when a
        commit was in flight), the clients are closed with one line each, and the center
        is read again from etcd as a standby's."""
        if self.role != LEADER:
            return
        log.error("Stepping down: {why}", why=why)
        self.role = STANDBY
        self.leader_revision = 0
        self.leader_name = None
        self.degraded = None
        self._failing_since = None
        self._disarm()
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        refused = len(self._records)
        self._records = []
        self.changes_refused += refused
        if unknown:
            message = (
                "cannot confirm that the change was stored: this server stopped leading (%s); its effect is unknown"
                % why
            )
        else:
            message = "cannot store the change: this server stopped leading (%s)" % why
        for waiting in self._waiters.drop():
            waiting.errback(ChangeNotStored(message))
            waiting.addErrback(lambda failure: failure.trap(ChangeNotStored))
        self._wake_idle_waiters()
        lease, self.lease = self.lease, 0
        if lease:
            self.client.lease_revoke(lease).addErrback(lambda _: None)  # a standby may take over at once
        # What etcd is known to hold, at once (the changes not confirmed go), until read again.
        try:
            self._load(StoredState(self.committed.document, self.committed.journal, self.revision))
        except StoreDamagedError as error:  # a bug: what was applied once applies again
            log.error("Cannot go back to the state confirmed by etcd: {error}", error=error)
        for listener in self.step_down_listeners:
            listener("This server stopped leading (%s): connect to the leader" % why)
        background(self._reload(), "Reading the state again")
        self._schedule_tick(self.lease_ttl / 3.0)  # a new lease, and the campaign, soon

    @defer.inlineCallbacks
    def _reload(self, continuing: bool = True) -> Any:
        """The center brought up to etcd again (trying while it does not answer), then watched:
        ``continuing`` from the journal key it holds (:meth:`_catch_up`), else (a key that did
        not apply, perhaps in part) read whole."""
        if self._loading:
            return
        self._loading = True
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        try:
            while not self.stopped and self.role == STANDBY:
                try:
                    if continuing:
                        yield self._catch_up()
                    else:
                        self._load((yield self.read_state()))
                    break
                except StoreDamagedError as error:
                    self.unavailable = str(error)
                    continuing = False
                    yield self._pause(RETRY_INTERVAL * 5)
                except EtcdError as error:
                    self.unavailable = str(error)
                    yield self._pause(RETRY_INTERVAL * 5)
        finally:
            self._loading = False
        if not self.stopped and self.role == STANDBY:
            self._start_watch()

    # A standby's watch.

    def _start_watch(self) -> None:
        if self.stopped or self.role != STANDBY:
            return
        watch = self.watch = self.client.watch(self.prefix, prefix_end(self.prefix), self.revision + 1, self._changes)
        watch.ended.addBoth(self._watch_ended, watch)

    def _watch_ended(self, result: Any, watch: Watch) -> None:
        if watch is not self.watch or self.stopped:
            return
        self.watch = None
        error = result.value if isinstance(result, Failure) else None
        if isinstance(error, EtcdCompactedError):
            log.warn("This standby fell behind etcd's history: reading the state again")
            background(self._reload(), "Reading the state again")
            return
        if error is not None:
            self.unavailable = str(error)
        self.call_later(RETRY_INTERVAL, self._start_watch)

    def _changes(self, revision: int, events: List[WatchEvent]) -> None:
        """A standby applies journal keys in order and follows the leader key."""
        if self.role != STANDBY or self._loading:
            return
        keys = self.keys
        for event in events:
            key = event.kv.key
            self.revision = max(self.revision, event.kv.mod_revision)
            if key == keys.leader.encode("utf-8"):
                if event.type == "DELETE":
                    self.leader_name = None
                    log.info("The leader key is gone: campaigning")
                    self._schedule_tick(0)
                else:
                    self._leader_seen(event.kv.value)
                continue
            seq = keys.seq_of(key)
            if seq is None or event.type == "DELETE" or seq <= self.applied_seq:
                continue
            if seq != self.applied_seq + 1:
                log.warn(
                    "Journal key {seq} came after {applied}: reading the state again", seq=seq, applied=self.applied_seq
                )
                background(self._reload(), "Reading the state again")
                return
            try:
                self._apply(seq, event.kv.value)
                self.committed.add(seq, event.kv.value)
                if self.committed.size > self.snapshot_limit:  # a snapshot of our own, in memory
                    self.committed.rebase(self._document(self.generation, self.applied_seq))
            except StoreDamagedError as error:
                log.error("{error}: reading the state again", error=error)
                background(self._reload(continuing=False), "Reading the state again")
                return

    # Shutdown.

    @defer.inlineCallbacks
    def close(self) -> Any:
        """Stop: a leader hands over (its lease revoked, so that a standby takes over at once)."""
        self.stopped = True
        if self._tick is not None and self._tick.active():
            self._tick.cancel()
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        self._disarm()
        lease, self.lease = self.lease, 0
        self.role = STANDBY
        self.leader_revision = 0
        if lease:
            try:
                yield self.client.lease_revoke(lease)
            except EtcdError as error:
                log.warn("Cannot revoke the lease in etcd ({error}): a standby takes over once it expires", error=error)
        yield self.client.close()


def background(deferred: Any, what: str) -> None:
    """A Deferred nobody waits for: a failure (a bug) is logged, not left to the collector."""
    deferred.addErrback(lambda failure: log.failure(what, failure))


class LostLeadershipError(Exception):
    """A commit found that this server no longer leads (``unknown``: whether it got through
    is not known)."""

    def __init__(self, why: str, unknown: bool) -> None:
        Exception.__init__(self, why)
        self.unknown = unknown
