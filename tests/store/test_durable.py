"""Durable state (--state-dir): codecs, group commit, torn and damaged records, compaction and
restore, with task.Clock and temporary directories."""

import errno
import json
import os

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from callcenter.core import state
from callcenter.core.center import CallCenter
from callcenter.store.durable import RETRY_INTERVAL
from callcenter.store.journal import (
    JOURNAL_MAGIC,
    SNAPSHOT,
    SNAPSHOT_MAGIC,
    StateError,
    decode_record,
    decode_snapshot,
    encode_record,
    encode_snapshot,
    frame,
    read_frames,
)
from support import Disk, DurableServer, journal_path, replies, request


def saved_state(server):
    """The core's state as data, but for the timers: a restore rings its ringing calls afresh."""
    data = state.center_to_data(server.state.center)
    del data["timers"]
    return data


# Codecs.


def test_a_record_carries_its_time_command_and_id_and_decodes_to_them():
    record = encode_record(1764316800.123456, "call", "é-1")
    frames, torn = read_frames(record, 0)
    assert torn is None and len(frames) == 1
    offset, payload = frames[0]
    assert offset == 0
    assert decode_record(payload, offset) == (1764316800.123456, "call", "é-1")


def test_a_snapshot_round_trips_the_state_of_the_core():
    center = CallCenter(["A", "B"], ring_timeout=0)
    center.execute("call", "1")
    data = state.center_to_data(center)
    document = decode_snapshot(encode_snapshot(7, 12.5, data))
    assert document["generation"] == 7 and document["time"] == 12.5
    assert document["center"] == data


def test_a_snapshot_of_format_1_decodes_to_its_parts():
    operators = [("A", "busy", "1"), ("B", "ringing", "2"), ("C", "available", None)]
    document = {"format": 1, "generation": 7, "time": 12.5, "operators": operators, "queue": ["3", "4"], "stats": None}
    data = SNAPSHOT_MAGIC + frame(json.dumps(document).encode("utf-8"))
    assert decode_snapshot(data) == document


@pytest.mark.parametrize(
    "tail",
    [
        encode_record(1.0, "call", "9")[:5],  # the header cut short
        encode_record(1.0, "call", "9")[:-3],  # the payload cut short
        b"\0" * 40,  # the file grew, its data never reached the disk
        encode_record(1.0, "call", "9")[:-1] + b"X",  # the last record, its bytes wrong
    ],
)
def test_a_torn_last_record_is_reported_not_returned(tail):
    good = encode_record(1.0, "call", "1") + encode_record(2.0, "call", "2")
    frames, torn = read_frames(good + tail, 0)
    assert [decode_record(payload, offset)[2] for offset, payload in frames] == ["1", "2"]
    assert torn == len(good)


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda first: first[:-1] + b"X", "a record whose checksum does not match"),
        (lambda first: b"\xff\xff\xff\xff" + first[4:], "a record length of 4294967295 bytes"),
        (lambda first: frame(b"not a record"), "a record with a valid checksum but no command in it"),
    ],
)
def test_a_bad_record_followed_by_others_is_damage_with_its_offset(damage, why):
    from callcenter.store.journal import DamagedError

    start = encode_record(1.0, "call", "0")
    data = start + damage(encode_record(1.0, "call", "1")) + encode_record(2.0, "call", "2")
    with pytest.raises(DamagedError) as caught:
        for offset, payload in read_frames(data, 0)[0]:
            decode_record(payload, offset)
    assert caught.value.offset == len(start) and caught.value.why == why


# Group commit.


def test_requests_of_one_turn_are_committed_with_one_write_before_any_reply(tmp_path):
    server = DurableServer(tmp_path)
    first, first_transport = server.connect()
    second, second_transport = server.connect()
    syncs, size = server.syncs, os.path.getsize(journal_path(tmp_path))
    first.dataReceived(request("call 1") + request("call 2") + request("status"))
    second.dataReceived(request("call 3") + request("answer Z"))
    # Handled, but nothing is acknowledged before the journal is on disk.
    assert first_transport.value() == b"" and second_transport.value() == b""
    assert server.syncs == syncs
    server.clock.advance(0)  # the next reactor turn: one write, one fdatasync, the replies
    assert server.syncs == syncs + 1
    grown = os.path.getsize(journal_path(tmp_path)) - size
    assert grown == sum(len(encode_record(server.clock.seconds(), "call", n)) for n in "123")
    assert replies(first_transport) == [
        {"response": "Call 1 received\nCall 1 ringing for operator A"},
        {"response": "Call 2 received\nCall 2 ringing for operator B"},
        {"response": "Operator A ringing with call 1\nOperator B ringing with call 2"},
    ]
    assert replies(second_transport) == [
        {"response": "Call 3 received\nCall 3 waiting in queue"},
        {"error": "no operator Z"},
    ]


def test_while_a_sync_is_in_flight_requests_are_handled_and_wait_for_the_next_commit(tmp_path):
    server = DurableServer(tmp_path)
    in_flight = []

    def sync_in_thread(function, fd):
        done = Deferred()
        in_flight.append((done, function, fd))
        return done

    def finish_sync():
        done, function, fd = in_flight.pop(0)
        function(fd)
        done.callback(None)

    server.state.sync_in_thread = sync_in_thread
    first, first_transport = server.connect()
    second, second_transport = server.connect()
    syncs = server.syncs
    first.dataReceived(request("call 1"))
    server.clock.advance(0)  # written; its fdatasync runs in a thread
    assert len(in_flight) == 1 and first_transport.value() == b""
    second.dataReceived(request("call 2") + request("status"))
    server.clock.advance(0)  # handled, but no second commit while one is in flight
    assert len(in_flight) == 1 and second_transport.value() == b""
    finish_sync()
    assert replies(first_transport) == [{"response": "Call 1 received\nCall 1 ringing for operator A"}]
    assert second_transport.value() == b"" and len(in_flight) == 1  # call 2's commit is in flight now
    first.dataReceived(request("status"))  # changes nothing, but must not pass call 2's reply
    assert first_transport.value() == b""
    finish_sync()
    assert replies(second_transport) == [
        {"response": "Call 2 received\nCall 2 ringing for operator B"},
        {"response": "Operator A ringing with call 1\nOperator B ringing with call 2"},
    ]
    assert replies(first_transport) == [{"response": "Operator A ringing with call 1\nOperator B ringing with call 2"}]
    assert server.syncs == syncs + 2 and not in_flight


def test_a_request_that_changes_nothing_is_answered_at_once_without_a_sync(tmp_path):
    server = DurableServer(tmp_path)
    connection, transport = server.connect()
    syncs = server.syncs
    connection.dataReceived(request("status") + request("hangup 9"))
    assert replies(transport) == [
        {"response": "Operator A available\nOperator B available"},
        {"error": "no call 9 in progress"},
    ]
    assert server.syncs == syncs and not server.clock.getDelayedCalls()


def test_a_ring_timeout_is_journaled_and_its_event_waits_for_the_commit(tmp_path):
    server = DurableServer(tmp_path, ring_timeout=10)
    _, transport = server.connect()
    assert server.run("call 1") == [{"response": "Call 1 received\nCall 1 ringing for operator A"}]
    syncs, seen_at_sync = server.syncs, []
    sync = server.state.journal.sync
    server.state.journal.sync = lambda fd: (seen_at_sync.append(transport.value()), sync(fd))
    server.clock.advance(10)  # the timer fires; the commit follows on the next turn
    assert server.syncs == syncs + 1
    assert seen_at_sync == [b""]  # nothing was out when the record reached the disk
    assert replies(transport) == [{"event": "Call 1 ignored by operator A\nCall 1 ringing for operator B"}]
    server.crash()
    restored = DurableServer(tmp_path, ring_timeout=10)
    assert restored.status() == ["Operator A available", "Operator B ringing with call 1"]


# Restore.


def setup_state(directory):
    """Busy, ringing and queued calls, and one hung up while queued."""
    server = DurableServer(directory, operators=("A", "B", "C"), ring_timeout=10)
    server.run("call 1", "call 2", "answer A", "call 3", "call 4", "call 5", "call 6", "hangup 5", "reject C")
    return server


STATE = [
    "Operator A busy with call 1",
    "Operator B ringing with call 2",
    "Operator C ringing with call 3",
    "Queued call 4",
    "Queued call 6",
]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_restore_brings_back_every_call_in_order_and_logs_one_line(tmp_path, twisted_log, how):
    server = setup_state(tmp_path)
    # reject C offered call 3 again to A, busy, so to B, busy, and round to C itself.
    assert server.status() == STATE
    getattr(server, how)()
    restored = DurableServer(tmp_path, operators=("A", "B", "C"), ring_timeout=10)
    assert restored.status() == STATE
    (line,) = [line for line in twisted_log if line.startswith("restored")]
    assert line.startswith("restored 5 calls: 2 queued, 2 ringing, 1 answered from %s in " % tmp_path)
    assert line.endswith(" ms")


def test_restored_ringing_calls_ring_a_full_timeout_from_the_restart(tmp_path):
    server = setup_state(tmp_path)
    server.clock.advance(9)  # one second of their ring time left
    server.crash()
    clock = Clock()
    clock.advance(1000)
    restored = DurableServer(tmp_path, operators=("A", "B", "C"), ring_timeout=10, clock=clock)
    _, transport = restored.connect()
    clock.advance(9.5)
    clock.advance(0)
    assert transport.value() == b""
    clock.advance(0.5)
    clock.advance(0)
    assert replies(transport) == [
        {"event": "Call 2 ignored by operator B\nCall 2 ringing for operator B"},
        {"event": "Call 3 ignored by operator C\nCall 3 ringing for operator C"},
    ]


def test_a_restored_state_keeps_working_and_survives_another_restart(tmp_path):
    setup_state(tmp_path).crash()
    restored = DurableServer(tmp_path, operators=("A", "B", "C"))
    assert restored.run("hangup 1") == [
        {"response": "Call 1 finished and operator A available\nCall 4 ringing for operator A"}
    ]
    restored.crash()
    again = DurableServer(tmp_path, operators=("A", "B", "C"))
    assert again.status() == [
        "Operator A ringing with call 4",
        "Operator B ringing with call 2",
        "Operator C ringing with call 3",
        "Queued call 6",
    ]


def test_an_empty_directory_starts_empty_and_says_so(tmp_path, twisted_log):
    server = DurableServer(tmp_path / "new")
    assert server.status() == ["Operator A available", "Operator B available"]
    assert oct(os.stat(str(tmp_path / "new")).st_mode & 0o777) == "0o750"
    assert any(line.startswith("No saved state in %s" % (tmp_path / "new")) for line in twisted_log)


def test_a_directory_in_use_is_refused(tmp_path):
    DurableServer(tmp_path)
    with pytest.raises(StateError, match="in use by another callcenter server"):
        DurableServer(tmp_path)


def test_a_torn_last_record_is_dropped_and_logged(tmp_path, twisted_log):
    setup_state(tmp_path).crash()
    path = journal_path(tmp_path)
    size = os.path.getsize(path)
    with open(path, "ab") as journal:
        journal.write(encode_record(5.0, "call", "7")[:-2])
    restored = DurableServer(tmp_path, operators=("A", "B", "C"))
    assert restored.status() == STATE
    (line,) = [line for line in twisted_log if "torn record" in line]
    assert line == (
        "Dropped a torn record at the end of %s (offset %d, %d bytes): a write cut short by a crash, "
        "never acknowledged" % (path, size, len(encode_record(5.0, "call", "7")) - 2)
    )
    # The restore wrote a new snapshot and journal: the torn bytes are gone for good.
    restored.crash()
    assert DurableServer(tmp_path, operators=("A", "B", "C")).status() == STATE


def damage_journal(directory, record_number):
    """Flip a byte inside the record_number-th record of the journal; its offset."""
    path = journal_path(directory)
    with open(path, "rb") as journal:
        data = journal.read()
    frames, _ = read_frames(data, len(JOURNAL_MAGIC))
    offset = frames[record_number][0]
    data = data[: offset + 10] + bytes([data[offset + 10] ^ 0x55]) + data[offset + 11 :]
    with open(path, "wb") as journal:
        journal.write(data)
    return path, offset, data


def test_a_damaged_record_refuses_the_start_naming_file_offset_and_what_to_do(tmp_path):
    setup_state(tmp_path).crash()
    path, offset, data = damage_journal(tmp_path, 2)
    before = sorted(os.listdir(str(tmp_path)))
    with pytest.raises(StateError) as caught:
        DurableServer(tmp_path, operators=("A", "B", "C"))
    assert str(caught.value) == (
        "cannot restore the state: %s is damaged at offset %d: a record whose checksum does not match. "
        "Its files were left as they are. Move the directory aside (mv %s %s.damaged) to start empty, "
        "or put back a good copy" % (path, offset, tmp_path, tmp_path)
    )
    # Nothing was changed indeed: the same files, the journal byte for byte.
    assert sorted(os.listdir(str(tmp_path))) == before
    with open(path, "rb") as journal:
        assert journal.read() == data


def test_a_damaged_snapshot_refuses_the_start(tmp_path):
    server = setup_state(tmp_path)
    server.stop()
    path = os.path.join(str(tmp_path), SNAPSHOT)
    with open(path, "r+b") as snapshot:
        snapshot.seek(60)
        snapshot.write(b"#")
    with pytest.raises(StateError, match=r"%s is damaged at offset \d+: an incomplete or damaged snapshot" % path):
        DurableServer(tmp_path, operators=("A", "B", "C"))


def test_a_journal_without_its_snapshot_refuses_the_start(tmp_path):
    setup_state(tmp_path).crash()
    os.unlink(os.path.join(str(tmp_path), SNAPSHOT))
    with pytest.raises(StateError, match="a journal without the snapshot it follows"):
        DurableServer(tmp_path, operators=("A", "B", "C"))


def test_a_record_that_does_not_apply_refuses_the_start(tmp_path):
    server = DurableServer(tmp_path)
    server.run("call 1")
    server.crash()
    with open(journal_path(tmp_path), "ab") as journal:
        journal.write(encode_record(1.0, "answer", "B"))
    with pytest.raises(StateError, match="a record \\(answer B\\) that does not apply: operator B is available"):
        DurableServer(tmp_path)


# Compaction.


def test_past_the_journal_limit_a_snapshot_is_written_and_a_new_journal_started(tmp_path):
    server = DurableServer(tmp_path, operators=("A", "B", "C"), journal_limit=300)
    first = journal_path(tmp_path)
    server.run(*["call %d" % n for n in range(20)])  # about 600 bytes of records
    second = journal_path(tmp_path)
    assert second != first and os.path.getsize(second) == len(JOURNAL_MAGIC)
    server.run("hangup 0", "call 20")
    server.crash()
    restored = DurableServer(tmp_path, operators=("A", "B", "C"))
    assert restored.status() == [
        "Operator A ringing with call 3",
        "Operator B ringing with call 1",
        "Operator C ringing with call 2",
    ] + ["Queued call %d" % n for n in range(4, 21)]


def test_an_unfinished_compaction_leaves_the_previous_state(tmp_path):
    server = setup_state(tmp_path)
    server.crash()
    # A crash after the new journal and the temporary snapshot were written, before the rename.
    generation = int(journal_path(tmp_path).rsplit(".", 1)[1])
    open(os.path.join(str(tmp_path), "journal.%d" % (generation + 1)), "wb").close()
    with open(os.path.join(str(tmp_path), "snapshot.tmp"), "wb") as partial:
        partial.write(b"callcenter snapshot 1\n\0\0")
    assert DurableServer(tmp_path, operators=("A", "B", "C")).status() == STATE
    assert "snapshot.tmp" not in os.listdir(str(tmp_path))


# Changed operators.


def test_operators_added_take_queued_calls_and_idle_ones_may_go(tmp_path, twisted_log):
    server = DurableServer(tmp_path, operators=("A", "B", "C"))
    server.run("call 1", "call 2", "call 3", "call 4", "call 5", "hangup 2")
    # B is free now and took call 4; call 5 waits.
    server.run("hangup 3")  # C free: takes call 5
    server.run("hangup 5")  # C idle
    server.crash()
    restored = DurableServer(tmp_path, operators=("A", "B", "D"))
    assert restored.status() == [
        "Operator A ringing with call 1",
        "Operator B ringing with call 4",
        "Operator D available",
    ]
    assert "Operators changed from A,B,C to A,B,D" in twisted_log
    restored.run("call 6", "call 7")
    restored.crash()
    grown = DurableServer(tmp_path, operators=("A", "B", "D", "E"))
    # A new operator takes the head of the queue at once.
    assert grown.status() == [
        "Operator A ringing with call 1",
        "Operator B ringing with call 4",
        "Operator D ringing with call 6",
        "Operator E ringing with call 7",
    ]


def test_an_operator_removed_while_it_holds_a_call_refuses_the_start(tmp_path):
    setup_state(tmp_path).crash()
    with pytest.raises(StateError) as caught:
        DurableServer(tmp_path, operators=("B", "C"))
    assert str(caught.value) == (
        "operator A is busy with call 1 in the saved state in %s but is not in --operators: add it back "
        "(it can be removed once idle), or move %s aside to start empty" % (tmp_path, tmp_path)
    )
    assert DurableServer(tmp_path, operators=("A", "B", "C")).status() == STATE


def test_the_ring_timeout_may_change_even_to_off(tmp_path):
    server = setup_state(tmp_path)
    server.clock.advance(10)  # B and C ignore their calls: journaled timeouts
    server.clock.advance(0)
    expected = server.status()
    server.crash()
    restored = DurableServer(tmp_path, operators=("A", "B", "C"), ring_timeout=0)
    assert restored.status() == expected
    assert not restored.clock.getDelayedCalls()


def test_the_directory_holds_one_snapshot_and_one_journal_after_each_restart(tmp_path):
    server = setup_state(tmp_path)
    for stop in ("crash", "stop", "crash"):
        getattr(server, stop)()
        server = DurableServer(tmp_path, operators=("A", "B", "C"))
        server.run("call x%s" % stop, "hangup x%s" % stop)
        assert sorted(os.listdir(str(tmp_path))) == sorted(["lock", os.path.basename(journal_path(tmp_path)), SNAPSHOT])
    assert server.status() == STATE


def test_a_large_state_restores_from_its_snapshot(tmp_path):
    server = DurableServer(tmp_path)
    server.run(*["call %d" % n for n in range(20000)])  # a snapshot far larger than any record
    server.stop()
    assert os.path.getsize(os.path.join(str(tmp_path), SNAPSHOT)) > 100000
    restored = DurableServer(tmp_path)
    assert restored.status() == server.status()


def test_after_a_clean_stop_no_ring_timer_changes_the_state(tmp_path):
    server = setup_state(tmp_path)
    server.stop()
    assert not server.clock.getDelayedCalls()
    server.clock.advance(60)
    assert server.status() == STATE


def test_replies_held_for_the_journal_keep_the_clients_line_ending(tmp_path):
    server = DurableServer(tmp_path)
    connection, transport = server.connect()
    connection.dataReceived(b'{"command": "call", "id": "1"}\r\n')
    server.clock.advance(0)
    assert transport.value() == b'{"response": "Call 1 received\\nCall 1 ringing for operator A"}\r\n'


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_the_stats_come_back_with_the_calls(tmp_path, how):
    server = setup_state(tmp_path)
    server.clock.advance(3)
    server.run("answer B", "hangup 1")
    server.clock.advance(2)
    before = saved_state(server)
    getattr(server, how)()
    clock = Clock()
    clock.advance(server.clock.seconds())
    restored = DurableServer(tmp_path, operators=("A", "B", "C"), clock=clock)
    assert saved_state(restored) == before
    assert restored.run("stats") == server.run("stats")


# Degraded mode: the disk refuses a write or a sync. Rolled back, refused, retried.

ENOSPC_LINE = "cannot store the change: no space left in %s; status and stats still work"
BEGIN_EVENT = "The call center cannot store changes: %s in %s; status and stats still work"
END_EVENT = "The call center stores changes again"
ACKNOWLEDGED = ["Operator A ringing with call 1", "Operator B available"]


class ThreadSync(object):
    """``sync_in_thread`` whose syncs the test runs when it wants: the commit stays in flight."""

    def __init__(self):
        self.pending = []

    def __call__(self, sync, fd):
        waiting = Deferred()
        self.pending.append((sync, fd, waiting))
        return waiting

    def finish(self):
        sync, fd, waiting = self.pending.pop(0)
        try:
            sync(fd)
        except OSError as error:
            waiting.errback(error)
        else:
            waiting.callback(None)


def outcome(deferred):
    """What a Deferred of when_durable() came to: "stored", the ChangeNotStored message, or None."""
    seen = []
    deferred.addCallbacks(lambda _: seen.append("stored"), lambda failure: seen.append(failure.getErrorMessage()))
    return seen


def events(transport):
    return [reply["event"] for reply in replies(transport) if "event" in reply]


def acknowledged_then_refused(tmp_path, step, code):
    """Call 1 acknowledged; calls 2 and 3 read while the disk refuses at ``step``: the commit's
    ``write``, its ``sync`` (in the reactor), or its sync in the thread (with call 3 waiting for
    the next commit meanwhile). The server, a watching client and the two outcomes."""
    server = DurableServer(tmp_path)
    assert server.run("call 1")[0]["response"].startswith("Call 1 received")
    _, watcher = server.connect()
    state, disk = server.state, server.disk
    server.refused_journal = state.journal.path
    if step == "thread":
        state.sync_in_thread = thread = ThreadSync()
    state.execute("call", "2")
    second = outcome(state.when_durable())
    if step == "write":
        disk.refuse(code, writes_left=0)
    elif step == "sync":
        disk.refuse(code, syncs_left=0)
    server.clock.advance(0)  # the commit
    if step == "thread":
        state.execute("call", "3")  # read while the sync is in flight: waits for the next commit
        third = outcome(state.when_durable())
        disk.refuse(code, syncs_left=0)
        thread.finish()
    else:
        third = outcome(state.when_durable() or Deferred())
    return server, watcher, second, third


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC])
@pytest.mark.parametrize("step", ["write", "sync", "thread"])
def test_a_refused_commit_is_rolled_back_refused_and_never_acknowledged(tmp_path, twisted_log, step, code):
    server, watcher, second, third = acknowledged_then_refused(tmp_path, step, code)
    state = server.state
    reason = {errno.EIO: "an I/O error", errno.ENOSPC: "no space left"}[code]
    refusal = "cannot store the change: %s in %s; status and stats still work" % (reason, state.directory)
    assert second == [refusal]
    assert third == ([refusal] if step == "thread" else [])  # nothing else waited
    # The state is the durable one, told once to every client, logged once without a traceback.
    assert state.status() == ACKNOWLEDGED and len(state.center.calls) == 1
    assert events(watcher) == [BEGIN_EVENT % (reason, state.directory)]
    (line,) = [line for line in twisted_log if line.startswith("Cannot write to")]
    assert "rolled back" in line and "Traceback" not in "\n".join(twisted_log)
    # The journal holds only what was acknowledged: a kill -9 now restores exactly that.
    frames, torn, _ = state.files.read_journal(os.path.basename(server.refused_journal))
    assert torn is None and [decode_record(payload, 0)[1:] for _, payload in frames] == [("call", "1")]
    server.crash()
    assert DurableServer(tmp_path).status() == ACKNOWLEDGED


def test_while_degraded_changes_are_refused_with_one_line_and_queries_answer(tmp_path):
    server, _, _, _ = acknowledged_then_refused(tmp_path, "sync", errno.ENOSPC)
    durable = server.state
    refusal = ENOSPC_LINE % durable.directory
    before = saved_state(server)
    assert server.run("call 4", "answer A", "hangup 1", "pause B", "status") == [
        {"error": refusal},
        {"error": refusal},
        {"error": refusal},
        {"error": refusal},
        {"response": "\n".join(ACKNOWLEDGED)},
    ]
    assert server.run("stats")[0]["response"].startswith("Calls received: 1")
    assert server.run("answer Z") == [{"error": refusal}]  # nothing is even looked at
    assert saved_state(server) == before and durable.changes_refused == 1 + 5  # call 2 rolled back, five refused


def test_a_failed_fsync_then_a_good_one_writes_a_fresh_segment_never_resyncs(tmp_path, twisted_log):
    server, watcher, _, _ = acknowledged_then_refused(tmp_path, "sync", errno.EIO)
    state, disk = server.state, server.disk
    old_journal = server.refused_journal
    assert events(watcher) == [BEGIN_EVENT % ("an I/O error", state.directory)]
    server.clock.advance(1)  # the retry: the disk still refuses
    assert state.degraded == "an I/O error" and events(watcher) == []
    disk.heal()
    synced_before = len(disk.synced_paths)
    server.clock.advance(1)  # the next retry: a fresh snapshot and journal segment
    assert state.degraded is None and events(watcher) == [END_EVENT]
    assert old_journal not in disk.synced_paths[synced_before:] and not os.path.exists(old_journal)
    assert [line for line in twisted_log if line.startswith("Writing to")]
    # The refused change, sent again, goes into the fresh segment and is acknowledged.
    assert server.run("call 2") == [{"response": "Call 2 received\nCall 2 ringing for operator B"}]
    assert state.journal.path != old_journal and disk.synced_paths[-1] == state.journal.path
    server.crash()
    restored = DurableServer(tmp_path)
    assert restored.status() == ["Operator A ringing with call 1", "Operator B ringing with call 2"]


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC])
@pytest.mark.parametrize("step", ["journal-open", "snapshot"])
def test_a_refused_compaction_keeps_what_was_acknowledged_and_recovers(tmp_path, step, code):
    # Past the journal limit a commit is followed by a compaction: the fresh segment's first
    # write (its header), then the snapshot's.
    server = DurableServer(tmp_path, journal_limit=1)
    _, watcher = server.connect()
    server.disk.refuse(code, writes_left=1 if step == "journal-open" else 2)
    acknowledged, told = server.run("call 1")  # the reply, then the event of the mode
    assert acknowledged == {"response": "Call 1 received\nCall 1 ringing for operator A"}
    assert told["event"].startswith("The call center cannot store changes")
    state = server.state
    assert state.degraded is not None and state.status() == ACKNOWLEDGED
    assert len(events(watcher)) == 1
    assert server.run("call 2")[0]["error"].startswith("cannot store the change")
    server.disk.heal()
    server.clock.advance(1)
    assert state.degraded is None and events(watcher) == [END_EVENT]
    assert server.run("call 2")[0]["response"].startswith("Call 2 received")
    server.crash()
    assert DurableServer(tmp_path).status() == ["Operator A ringing with call 1", "Operator B ringing with call 2"]


def test_it_leaves_the_mode_within_one_retry_of_the_disk_taking_writes(tmp_path):
    server, _, _, _ = acknowledged_then_refused(tmp_path, "write", errno.ENOSPC)
    for _ in range(5):
        server.clock.advance(1)
        assert server.state.degraded == "no space left"
    server.disk.heal()
    server.clock.advance(0.999)
    assert server.state.degraded is not None
    server.clock.advance(0.001)
    assert server.state.degraded is None


def test_a_timer_that_fires_while_degraded_is_held_then_fires_journaled_in_due_order(tmp_path):
    server = DurableServer(tmp_path, operators=("A", "B", "C"), ring_timeout=10, wrap_up=5)
    server.run("call 1", "call 2")
    server.clock.advance(1)
    server.run("answer A")  # wrap-up of A due 5 s after call 1 finishes
    server.clock.advance(1)
    server.run("hangup 1")  # at t=2: A in wrap-up until t=7; call 2 rings B until t=10
    _, watcher = server.connect()
    server.disk.refuse(errno.ENOSPC, writes_left=0)
    server.run("call 3")  # refused at its commit: degraded from t=2
    assert events(watcher) == [BEGIN_EVENT % ("no space left", server.state.directory)]
    before = server.state.status()
    server.clock.advance(9)  # t=11: the wrap-up end (t=7) and B's ring timeout (t=10) fired, held
    assert server.state.status() == before and events(watcher) == []
    server.disk.heal()
    server.clock.advance(1)  # the retry at t=12 leaves the mode; the held timers fire in due order
    server.clock.advance(0)  # their commit
    assert events(watcher) == [
        END_EVENT,
        "Operator A available",
        "Call 2 ignored by operator B\nCall 2 ringing for operator C",
    ]
    after = server.state.status()
    server.crash()  # both were journaled: a restart has them
    assert DurableServer(tmp_path, operators=("A", "B", "C"), ring_timeout=10, wrap_up=5).status() == after


def test_a_refused_change_in_a_kill_while_degraded_is_not_replayed(tmp_path):
    server = DurableServer(tmp_path)
    server.run("call 1")
    size = os.path.getsize(journal_path(tmp_path))
    server.disk.refuse(errno.ENOSPC, writes_left=0, partial=True)
    server.run("call 2", "call 3", "call 4")  # half their bytes reach the file: call 2 whole
    assert server.state.degraded == "no space left"
    assert os.path.getsize(journal_path(tmp_path)) == size  # cut back to the durable bytes
    server.crash()  # kill -9 while degraded
    assert DurableServer(tmp_path).status() == ACKNOWLEDGED


@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "no space left"), (errno.EROFS, "the disk is read-only")])
def test_a_start_on_a_disk_that_refuses_writes_restores_and_starts_degraded(tmp_path, twisted_log, code, reason):
    server = DurableServer(tmp_path)
    server.run("call 1")
    server.crash()  # a journal to replay: the start writes a fresh snapshot
    disk = Disk()
    disk.refuse(code, writes_left=0)
    restarted = DurableServer(tmp_path, disk=disk)
    state = restarted.state
    assert state.degraded == reason and state.status() == ACKNOWLEDGED
    assert restarted.run("call 2") == [
        {"error": "cannot store the change: %s in %s; status and stats still work" % (reason, state.directory)}
    ]
    assert [line for line in twisted_log if "started refusing changes" in line]
    disk.heal()
    restarted.clock.advance(1)
    assert state.degraded is None
    assert restarted.run("call 2")[0]["response"].startswith("Call 2 received")


def test_a_state_that_cannot_be_read_refuses_the_start_saying_what_to_do(tmp_path):
    DurableServer(tmp_path).stop()
    os.unlink(str(tmp_path / SNAPSHOT))
    os.mkdir(str(tmp_path / SNAPSHOT))  # reading it fails, as an unreadable disk does
    with pytest.raises(StateError) as refused:
        DurableServer(tmp_path)
    assert str(refused.value).startswith("cannot read the state in %s: " % tmp_path)
    assert "check the disk and the directory's permissions, or move it aside to start empty" in str(refused.value)


def test_metrics_show_the_mode_and_the_changes_refused(tmp_path):
    from callcenter.web.metrics import CallCenterMetrics

    server, _, _, _ = acknowledged_then_refused(tmp_path, "sync", errno.ENOSPC)
    metrics = CallCenterMetrics(server.state, server.factory, disk=server.state)
    server.run("call 9")
    assert metrics.registry.get_sample_value("callcenter_degraded") == 1
    assert metrics.registry.get_sample_value("callcenter_changes_refused_for_disk_total") == 2
    assert server.state.snapshot()["degraded"] == ENOSPC_LINE % server.state.directory
    server.disk.heal()
    server.clock.advance(1)
    assert metrics.registry.get_sample_value("callcenter_degraded") == 0
    assert server.state.snapshot()["degraded"] is None


def test_the_wait_timer_that_fires_while_degraded_is_held_until_the_mode_ends(tmp_path):
    server = DurableServer(tmp_path, operators=("A",), ring_timeout=0, max_wait=5)
    server.run("call 1", "call 2")  # 2 waits; it leaves the queue at t=5
    _, watcher = server.connect()
    server.disk.refuse(errno.EIO, syncs_left=0)
    server.run("call 3")
    server.clock.advance(6)  # the wait timer fired at t=5: held
    assert server.state.status() == ["Operator A ringing with call 1", "Queued call 2"]
    server.disk.heal()
    server.clock.advance(1)
    server.clock.advance(0)
    told = events(watcher)
    assert told[0] == BEGIN_EVENT % ("an I/O error", server.state.directory) and told[1] == END_EVENT
    assert len(told) == 3 and "Call 2" in told[2]  # the wait's end, after the mode's
    assert server.state.status() == ["Operator A ringing with call 1"]
    server.crash()
    assert DurableServer(tmp_path, operators=("A",), ring_timeout=0, max_wait=5).status() == [
        "Operator A ringing with call 1"
    ]


def test_a_client_whose_commit_is_refused_gets_an_error_line_a_reply_then_the_event(tmp_path, twisted_log):
    server = DurableServer(tmp_path)
    assert server.run("call 1")[0]["response"].startswith("Call 1 received")
    connection, transport = server.connect()
    server.disk.refuse(errno.ENOSPC, writes_left=0)
    connection.dataReceived(request("call 2") + request("hangup 1"))
    server.clock.advance(0)  # the commit, refused
    refusal = ENOSPC_LINE % server.state.directory
    assert replies(transport) == [
        {"error": refusal},
        {"error": refusal},
        {"event": BEGIN_EVENT % ("no space left", server.state.directory)},
    ]
    assert server.run("status") == [{"response": "\n".join(ACKNOWLEDGED)}]
    assert not [line for line in twisted_log if "Unhandled" in line or "Traceback" in line]


# The durable center's subscribers (interfaces.IEventSource).


class Heard(object):
    def __init__(self, disk=None):
        self.disk = disk
        self.batches = []
        self.syncs = []  # the syncs done when each batch was heard

    def heard(self, events, command):
        self.batches.append(([type(event).__name__ for event in events], command))
        if self.disk is not None:
            self.syncs.append(self.disk.syncs)


def test_subscribers_hear_a_commands_and_a_timers_events_once_they_are_on_disk(tmp_path):
    server = DurableServer(tmp_path, ring_timeout=10)
    heard = Heard(server.disk)
    server.state.subscribe(heard)
    connection, transport = server.connect()
    connection.dataReceived(request("call 1"))
    assert heard.batches == []  # its record is not on disk yet
    syncs = server.syncs
    server.clock.advance(0)  # the commit
    assert heard.batches == [(["CallReceived", "CallRinging"], "call")] and heard.syncs == [syncs + 1]
    server.clock.advance(10)  # the ring times out: its record is made durable, then its events go out
    assert heard.batches[1:] == [(["CallIgnored", "CallRinging"], None)] and heard.syncs[1:] == [syncs + 2]
    assert [message["event"] for message in replies(transport) if "event" in message] == [
        "Call 1 ignored by operator A\nCall 1 ringing for operator B"
    ]


def test_subscribers_never_hear_a_change_the_disk_refused_but_hear_the_disk_refuse(tmp_path):
    server = DurableServer(tmp_path)
    heard = Heard()
    server.state.subscribe(heard)
    server.disk.refuse(errno.ENOSPC, writes_left=0)
    connection, _ = server.connect()
    connection.dataReceived(request("call 1"))
    server.clock.advance(0)  # the commit is refused: call 1 is rolled back
    assert heard.batches == [(["ChangesRefused"], None)]
    server.disk.heal()
    server.clock.advance(RETRY_INTERVAL)
    assert heard.batches[1:] == [(["ChangesAccepted"], None)]
    assert server.status() == ["Operator A available", "Operator B available"]


def test_a_rollback_keeps_the_subscribers(tmp_path):
    server = DurableServer(tmp_path)
    heard = Heard()
    server.state.subscribe(heard)
    core = server.state.center
    server.disk.refuse(errno.ENOSPC, writes_left=0)
    server.run("call 1")
    server.disk.heal()
    server.clock.advance(RETRY_INTERVAL)
    assert server.state.center is not core  # rebuilt from the disk
    del heard.batches[:]
    server.run("call 2")
    assert heard.batches == [(["CallReceived", "CallRinging"], "call")]
