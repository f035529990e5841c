"""The state directory on disk: record framing, the journal file, the snapshot codec, the lock.

Layer: durability, its file half. It knows records and snapshots, not the call center that
writes them (that is :mod:`callcenter.store.durable`). The directory holds

``snapshot``      the state at the last compaction, and the generation N of the journal after it
``journal.N``     the records since that snapshot, appended and made durable in groups
``lock``          held (``flock``) while a server uses the directory

Every record and the snapshot are framed as ``length (4 bytes) + CRC-32 (4 bytes) + payload``
so that a torn or damaged one is detected and never replayed. docs/durability.md has the
whole story.
"""

import errno
import fcntl
import json
import os
import struct
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

from callcenter.core.model import AVAILABLE, BUSY, RINGING

JOURNAL_MAGIC = b"callcenter journal 1\n"
SNAPSHOT_MAGIC = b"callcenter snapshot 1\n"
SNAPSHOT = "snapshot"
SNAPSHOT_TMP = "snapshot.tmp"
JOURNAL_PREFIX = "journal."
LOCK = "lock"
SNAPSHOT_FORMAT = 2  # 1: the core state in parts (see decode_snapshot)
HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload
MAX_RECORD = 1 << 16  # a record is under 200 bytes; a larger length is damage
DEFAULT_JOURNAL_LIMIT = 64 << 20  # bytes of journal past which a snapshot is written

sync_data = getattr(os, "fdatasync", os.fsync)  # fdatasync on Linux: the data, not the mtime
# The write seam: ``os.write``'s signature, so that tests can make the disk refuse.
Write = Callable[[int, bytes], int]


def write_all(write: Write, fd: int, data: bytes) -> None:
    """All of ``data`` with ``write`` (a loop only if the kernel takes part of it)."""
    view = memoryview(data)
    while view:
        written = write(fd, view)  # type: ignore[arg-type]  # os.write takes any buffer
        view = view[written:]


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
        # The argument may hold words after the id (a pause reason, priority=N).
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


def encode_snapshot(generation: int, seconds: float, center: Dict[str, Any]) -> bytes:
    """The snapshot file: ``center`` is the core's state as data (``core.state.center_to_data``),
    ``generation`` that of the journal that follows, ``seconds`` when it was written."""
    document = {"format": SNAPSHOT_FORMAT, "generation": generation, "time": seconds, "center": center}
    return SNAPSHOT_MAGIC + frame(json.dumps(document, separators=(",", ":")).encode("utf-8"))


def decode_snapshot(data: bytes) -> Dict[str, Any]:
    """The snapshot's document; :class:`DamagedError` when it is not a whole, valid one.

    Format 2 holds ``"center"``; format 1 (the snapshots of older servers) holds the core's
    state in parts instead: ``"operators"`` (id, state, call id or None), ``"queue"`` (the
    waiting calls' ids), ``"stats"`` and ``"routing"`` (see ``core.state.data_from_v1``)."""
    if not data.startswith(SNAPSHOT_MAGIC):
        raise DamagedError(0, "not a callcenter snapshot (its first line is not %r)" % SNAPSHOT_MAGIC.decode().strip())
    frames, torn = read_frames(data, len(SNAPSHOT_MAGIC), limit=len(data))
    if torn is not None or len(frames) != 1:
        # A snapshot is renamed into place only once whole and synced: any tear is damage.
        raise DamagedError(len(SNAPSHOT_MAGIC) if torn is None else torn, "an incomplete or damaged snapshot")
    offset, payload = frames[0]
    try:
        document = json.loads(payload.decode("utf-8"))
        if document["format"] not in (1, SNAPSHOT_FORMAT) or not isinstance(document["generation"], int):
            raise ValueError
        if document["format"] == SNAPSHOT_FORMAT:
            if not isinstance(document["center"], dict):
                raise ValueError
            return document
        operators = [(str(op_id), str(state), call) for op_id, state, call in document["operators"]]
        queue = [str(call_id) for call_id in document["queue"]]
        for _, state, call in operators:
            if (state == AVAILABLE) != (call is None) or state not in (AVAILABLE, RINGING, BUSY):
                raise ValueError
    except (ValueError, KeyError, TypeError):
        raise DamagedError(offset, "a snapshot with a valid checksum but not the expected content") from None
    document["operators"], document["queue"] = operators, queue
    return document


class Journal(object):
    """The open journal file: appends in one ``write``, made durable with one ``fdatasync``.

    ``durable_size``: the bytes known to be on disk (up to the last ``sync`` that returned);
    after a failed write or sync, the rest is never trusted (see :meth:`truncate_to_durable`).
    ``fresh``: a new segment, emptied if a failed attempt left one of that name."""

    def __init__(self, path: str, sync: Callable[[int], None], write: Write = os.write, fresh: bool = False) -> None:
        self.path = path
        self.sync = sync
        self.os_write = write
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self.fd = os.open(path, flags | (os.O_TRUNC if fresh else 0), 0o640)
        try:
            self.size = self.durable_size = os.fstat(self.fd).st_size
            if self.size == 0:
                self.write(JOURNAL_MAGIC)
        except OSError:
            os.close(self.fd)
            raise

    def append(self, data: bytes) -> None:
        """Into the page cache: one ``write`` (a loop only if the kernel takes part of it)."""
        self.size += len(data)  # counted first: a partial write leaves bytes past durable_size
        write_all(self.os_write, self.fd, data)

    def sync_appended(self) -> None:
        """What was appended, on disk."""
        size = self.size
        self.sync(self.fd)
        self.durable_size = max(self.durable_size, size)

    def synced(self, size: int) -> None:
        """A sync run elsewhere (in a thread) returned for the first ``size`` bytes."""
        self.durable_size = max(self.durable_size, size)

    def write(self, data: bytes) -> None:
        """Appended and on disk."""
        self.append(data)
        self.sync_appended()

    def truncate_to_durable(self) -> None:
        """Cut what a failed write or sync left past the durable bytes, so that a restart
        (even after ``kill -9``) never replays a record that was refused. OSError when the
        disk refuses that too."""
        os.ftruncate(self.fd, self.durable_size)
        self.size = self.durable_size
        self.sync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class StateDirectory(object):
    """The files of one state directory: its lock, its snapshot and its journals."""

    def __init__(self, directory: str, sync: Callable[[int], None] = sync_data, write: Write = os.write) -> None:
        self.path = os.path.abspath(directory)
        self.sync = sync
        self.write = write
        self.lock_fd: Optional[int] = None

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def lock(self) -> None:
        """Create the directory if need be and hold its lock; StateError when another holds it."""
        os.makedirs(self.path, mode=0o750, exist_ok=True)
        cloexec = getattr(os, "O_CLOEXEC", 0)
        try:
            self.lock_fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT | cloexec, 0o640)
        except OSError as error:
            if error.errno not in (errno.EROFS, errno.EACCES, errno.ENOSPC, errno.EDQUOT):
                raise
            # A read-only or full disk: flock works on a descriptor opened for reading, the
            # lock file's when it is there (what another server locks), else the directory's.
            try:
                self.lock_fd = os.open(self.file(LOCK), os.O_RDONLY | cloexec)
            except FileNotFoundError:
                self.lock_fd = os.open(self.path, os.O_RDONLY | cloexec)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise StateError(
                "the state directory %s is in use by another callcenter server; stop it first, "
                "or give this one another --state-dir" % self.path
            ) from None

    def unlock(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def damaged(self, name: str, offset: int, why: str) -> StateError:
        return StateError(
            "cannot restore the state: %s is damaged at offset %d: %s. Its files were left as they are. Move the "
            "directory aside (mv %s %s.damaged) to start empty, or put back a good copy"
            % (self.file(name), offset, why, self.path, self.path)
        )

    def journal_name(self, generation: int) -> str:
        return JOURNAL_PREFIX + str(generation)

    def journals(self) -> List[str]:
        """The journal files there, oldest first; a snapshot that did not finish is removed."""
        self.remove(SNAPSHOT_TMP)  # a compaction that did not finish
        return sorted(name for name in os.listdir(self.path) if name.startswith(JOURNAL_PREFIX))

    def has_snapshot(self) -> bool:
        return os.path.exists(self.file(SNAPSHOT))

    def read_snapshot(self) -> Dict[str, Any]:
        """The snapshot's document; StateError when it is damaged."""
        with open(self.file(SNAPSHOT), "rb") as snapshot:
            data = snapshot.read()
        try:
            return decode_snapshot(data)
        except DamagedError as damage:
            raise self.damaged(SNAPSHOT, damage.offset, damage.why) from None

    def read_journal(
        self, name: str, limit: Optional[int] = None
    ) -> Tuple[List[Tuple[int, bytes]], Optional[int], int]:
        """The records of journal ``name`` (of its first ``limit`` bytes, when given: what is
        known durable), the offset of a torn last one (or None), and the size read;
        StateError when it is damaged."""
        with open(self.file(name), "rb") as journal:
            data = journal.read() if limit is None else journal.read(limit)
        if not data.startswith(JOURNAL_MAGIC):
            raise self.damaged(name, 0, "not a callcenter journal (a wrong first line)")
        try:
            frames, torn = read_frames(data, len(JOURNAL_MAGIC))
        except DamagedError as damage:
            raise self.damaged(name, damage.offset, damage.why) from None
        return frames, torn, len(data)

    def open_journal(self, generation: int, fresh: bool = False) -> Journal:
        return Journal(self.file(self.journal_name(generation)), self.sync, self.write, fresh)

    def write_snapshot(self, data: bytes) -> None:
        """Replace the snapshot whole: a temporary file, fsync, rename, fsync of the directory."""
        tmp = self.file(SNAPSHOT_TMP)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            write_all(self.write, fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.file(SNAPSHOT))
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, name: str) -> None:
        """Remove ``name`` if it is there. A read-only disk keeps it: what is removed here is
        left over (an unfinished snapshot, a journal older than the snapshot), which every
        start ignores and removes again."""
        try:
            os.unlink(self.file(name))
        except FileNotFoundError:
            pass
        except OSError as error:
            if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO):
                raise
