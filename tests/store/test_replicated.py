"""The replicated call center (store/replicated.py) on a real three-member etcd on loopback,
in this process: election, fencing, the standby's hot copy, takeover, snapshots."""

import pytest
from twisted.internet import defer, reactor

from callcenter.core.center import CallCenterError
from callcenter.core.rendering import render
from callcenter.interfaces import ChangeNotStored
from callcenter.store.etcd import EtcdClient, EtcdUnknownOutcomeError, prefix_end
from callcenter.store.replicated import LEADER, STANDBY, ReplicatedCallCenter
from support import spin_until, wait

TTL = 2  # seconds: etcd's least lease


@pytest.fixture
def servers(etcd_cluster):
    made = []

    def start(name, prefix="/t/", operators=("A", "B"), client_class=EtcdClient, **options):
        client = client_class(reactor, etcd_cluster.endpoints.split(","), timeout=0.7)
        options.setdefault("lease_ttl", TTL)
        options.setdefault("ring_timeout", 10)
        center = ReplicatedCallCenter(
            client, prefix, name, list(operators), reactor.callLater, reactor.seconds, **options
        )
        made.append(center)
        wait(center.start())
        return center

    yield start
    for center in made:
        if not center.stopped:
            wait(center.close())


def leading(center):
    spin_until(lambda: center.role == LEADER, what="%s leading" % center.name)
    return center


def committed(center):
    """Until what the center has executed is in etcd (its replies would go out)."""
    waiting = center.when_durable()
    if waiting is not None:
        wait(waiting)


def test_the_first_server_leads_and_a_standby_follows_its_commits(servers):
    first = leading(servers("one"))
    second = servers("two")
    spin_until(lambda: second.leader_name == "one", what="the standby knowing the leader")
    assert second.role == STANDBY
    assert render(first.execute("call", "1")) == ["Call 1 received", "Call 1 ringing for operator A"]
    first.execute("call", "2")
    first.execute("answer", "A")
    committed(first)
    spin_until(lambda: second.applied_seq == first.applied_seq, what="the standby catching up")
    assert second.query("status") == first.query("status")
    assert second.query("stats") == first.query("stats")
    with pytest.raises(CallCenterError, match=r"^not the leader: the leader is one; changes go to it$"):
        second.execute("call", "3")
    assert second.role_line() == "standby: the leader is one"
    assert first.role_line() == "leader"


def test_replies_wait_for_the_commit_and_one_transaction_carries_a_turn(servers):
    first = leading(servers("one"))
    before = first.commits
    for number in range(50):
        first.execute("call", str(number))
    waiting = first.when_durable()
    assert waiting is not None and not waiting.called
    wait(waiting)
    assert first.commits == before + 1


def test_a_standby_takes_over_with_every_call_and_rings_again(servers):
    first = leading(servers("one"))
    second = servers("two")
    first.execute("call", "1")  # rings at A
    first.execute("call", "2")  # rings at B
    first.execute("answer", "B")
    first.execute("call", "3")  # waits
    committed(first)
    status = first.query("status")
    wait(first.close())  # hands over: its lease revoked
    leading(second)
    assert second.query("status") == status
    assert second.timers[("timeout", "A")].delayed is not None  # rings a full ring timeout again
    assert render(second.execute("hangup", "1")) == ["Call 1 missed", "Call 3 ringing for operator A"]


def test_a_standby_takes_over_with_the_levels_changed_and_the_calls_an_operator_finished(servers):
    first = leading(servers("one", operators=("A", "B", "C")))
    second = servers("two", operators=("A", "B", "C"))
    first.execute("level", "A 2")
    first.execute("call", "1")  # rings at B, of the lowest level
    first.execute("answer", "B")
    first.execute("finish", "B")
    committed(first)
    levels = dict(first.center.queues[0].members)
    wait(first.close())
    leading(second)
    assert dict(second.center.queues[0].members) == levels == {"A": 2, "B": 0, "C": 0}
    assert (second.center.figures.answered, second.center.figures.finished) == (1, 1)
    assert render(second.execute("call", "2")) == ["Call 2 received", "Call 2 ringing for operator B"]


def test_a_leader_whose_lease_is_gone_is_fenced_and_steps_down(servers, etcd_cluster):
    first = leading(servers("one"))
    second = servers("two")
    lines = []
    first.when_stepping_down(lines.append)
    first.execute("call", "1")
    committed(first)
    # The leader is paused past its lease, as SIGSTOP would: it keeps no lease, and the
    # other server wins; it does not know yet.
    first._tick.cancel()
    admin = EtcdClient(reactor, etcd_cluster.endpoints.split(","))
    wait(admin.lease_revoke(first.lease))
    leading(second)
    first.lease_confirmed = reactor.seconds()  # as if it believed it still held it
    first.execute("call", "2")
    waiting = first.when_durable()
    with pytest.raises(
        ChangeNotStored, match="cannot store the change: this server stopped leading \\(another server leads now\\)"
    ):
        wait(waiting)
    assert first.role == STANDBY
    assert lines == ["This server stopped leading (another server leads now): connect to the leader"]
    assert "call 2" not in "\n".join(second.query("status"))
    spin_until(lambda: first.leader_name == "two", what="the old leader following the new one")
    wait(admin.close())


def test_snapshots_in_chunks_delete_the_old_journal_and_a_late_standby_starts_from_them(servers, etcd_cluster):
    first = leading(servers("one", operators=[str(number) for number in range(200)], snapshot_limit=20000))
    for number in range(1500):
        first.execute("call", "c%d" % number)
        if number % 100 == 99:
            committed(first)
    committed(first)
    spin_until(lambda: first.snapshots >= 2 and not first._snapshotting, what="two snapshots")
    admin = EtcdClient(reactor, etcd_cluster.endpoints.split(","))
    journal = wait(admin.range("/t/journal/", prefix_end("/t/journal/"), keys_only=True))
    chunks = wait(admin.range("/t/snapshots/", prefix_end("/t/snapshots/"), keys_only=True))
    assert journal.count <= 15 - 1  # only what came after the last snapshot
    assert chunks.count >= 1 and {kv.key.split(b"/")[3] for kv in chunks.kvs} == {b"%020d" % first.generation}
    late = servers("late", operators=[str(number) for number in range(200)])
    assert late.generation == first.generation
    assert late.query("status") == first.query("status")
    wait(admin.close())


def test_servers_of_other_prefixes_do_not_meet(servers):
    one = leading(servers("one", prefix="/a/"))
    other = leading(servers("other", prefix="/b/"))
    one.execute("call", "1")
    committed(one)
    assert "call 1" not in "\n".join(other.query("status"))


def test_the_replicated_center_provides_the_seams_of_the_durable_one_and_leadership(servers):
    from zope.interface.verify import verifyObject

    from callcenter.interfaces import (
        ICallCenter,
        ICallCenterObserver,
        IDiskState,
        IDurableOutput,
        IEventSource,
        IEventSubscriber,
        ILeadership,
    )
    from callcenter.store.durable import DurableRelay

    center = leading(servers("one"))
    for interface in (ICallCenter, IEventSource, IDurableOutput, ICallCenterObserver, IDiskState, ILeadership):
        assert verifyObject(interface, center)
    assert verifyObject(IEventSubscriber, DurableRelay(center))  # what it hears of its core


def test_a_standbys_subscribers_hear_the_leaders_events_as_it_applies_them(servers):
    first = leading(servers("one"))
    second = servers("two")
    heard = []

    class Subscriber(object):
        def heard(self, events, command):
            heard.append((command, render(events)))

    second.subscribe(Subscriber())
    first.execute("call", "1")
    first.execute("answer", "A")
    committed(first)
    spin_until(lambda: len(heard) == 2, what="the standby's subscriber hearing both")
    assert heard == [
        ("call", ["Call 1 received", "Call 1 ringing for operator A"]),
        ("answer", ["Call 1 answered by operator A"]),
    ]


def test_a_leaders_subscribers_hear_a_change_once_etcd_has_it(servers):
    first = leading(servers("one"))
    heard = []

    class Subscriber(object):
        def heard(self, events, command):
            heard.append(command)

    first.subscribe(Subscriber())
    first.execute("call", "1")
    assert heard == []  # not yet in etcd
    committed(first)
    assert heard == ["call"]


class LosingReplies(EtcdClient):
    """A leader's client whose transactions, once ``losing`` is set, reach etcd and are done
    there, but whose replies are lost: ``"never"``, none ever comes (the leader was killed
    right after); ``"timeout"``, each fails as a timeout does (its outcome unknown)."""

    losing = None

    def txn(self, compare, success, failure=None, idempotent=False):
        sent = EtcdClient.txn(self, compare, success, failure, idempotent)
        if self.losing is None:
            return sent
        lost = defer.Deferred()
        if self.losing == "timeout":
            sent.addBoth(lambda _: lost.errback(EtcdUnknownOutcomeError("no answer from etcd (a test lost it)")))
        return lost


class Deaf(EtcdClient):
    """A standby's client whose watch, once ``deaf`` is set, tells nothing (it lags)."""

    deaf = False

    def watch(self, key, range_end, start_revision, on_events):
        return EtcdClient.watch(
            self, key, range_end, start_revision, lambda *told: None if self.deaf else on_events(*told)
        )


class Lines(object):
    """A queue_log's lines, kept in a list (``QueueLogFile``'s ``write``)."""

    def __init__(self):
        self.lines = []

    def write(self, lines):
        self.lines.extend(lines)

    def of(self, event):
        """The call ids of the lines of ``event`` (``epoch|uniqueid|queue|agent|EVENT|...``)."""
        return [line.split("|")[1].split(".", 1)[1] for line in self.lines if line.split("|")[4] == event]


def queue_log(center):
    from callcenter.core.asterisk import Membership
    from callcenter.net.amiqueue import default_configs
    from callcenter.store.queuelog import QueueLog, QueueLogLines

    lines = Lines()
    membership = Membership(default_configs(center.operator_ids(), "linear", 0, 0.0))
    center.subscribe(QueueLog(QueueLogLines(membership), lines))
    return lines


def stored_in_etcd(etcd_cluster, seq):
    admin = EtcdClient(reactor, etcd_cluster.endpoints.split(","))
    try:
        return wait(admin.range("/t/journal/%020d" % seq)).count == 1
    finally:
        wait(admin.close())


@pytest.mark.parametrize("lagging", [False, True], ids=["from-the-watch", "at-the-takeover"])
def test_a_commit_stored_but_never_confirmed_gets_its_lines_at_the_next_leader_once(servers, etcd_cluster, lagging):
    first = leading(servers("one", client_class=LosingReplies))
    second = servers("two", client_class=Deaf)
    first_log, second_log = queue_log(first), queue_log(second)
    first.execute("call", "1")
    committed(first)
    spin_until(lambda: second.applied_seq == first.applied_seq, what="the standby applying call 1")
    # Call 2 is stored in etcd; the leader is killed before the reply: it never confirms it.
    # Lagging, the standby applies it only as it catches up at the takeover.
    second.client.deaf = lagging
    first.client.losing = "never"
    executed = int(reactor.seconds())
    first.execute("call", "2")
    spin_until(lambda: stored_in_etcd(etcd_cluster, first.applied_seq + 1), what="call 2 in etcd")
    stored = int(reactor.seconds())
    # The takeover in a later second than the call: its line must have the call's.
    spin_until(lambda: int(reactor.seconds()) > stored, what="the next second")
    first._tick.cancel()  # killed: no keepalive, no campaign
    admin = EtcdClient(reactor, etcd_cluster.endpoints.split(","))
    wait(admin.lease_revoke(first.lease))  # its lease lapses
    wait(admin.close())
    second.client.deaf = False
    leading(second)
    second.execute("call", "3")
    committed(second)
    assert first_log.of("ENTERQUEUE") == ["1"]  # never confirmed there
    assert second_log.of("ENTERQUEUE") == ["1", "2", "3"]  # each once
    assert [line.split("|")[4] for line in second_log.lines] == ["ENTERQUEUE"] * 3
    assert "Operator B ringing with call 2" in second.query("status")
    (line_of_2,) = [line for line in second_log.lines if line.split("|")[1].endswith(".2")]
    assert executed <= int(line_of_2.split("|")[0]) <= stored  # the call's time, not the takeover's
    assert line_of_2.split("|")[1] == "%s.2" % line_of_2.split("|")[0]  # its Uniqueid, as everywhere


def test_a_leader_that_steps_down_writes_the_lines_of_its_commit_that_went_through_and_none_else(servers, etcd_cluster):
    first = leading(servers("one", client_class=LosingReplies))
    second = servers("two")
    first_log, second_log = queue_log(first), queue_log(second)
    first.execute("call", "1")
    committed(first)
    # Call 2 is stored, its reply lost (timeouts, sent again, lost again); call 3 waits for
    # the next commit: it never reaches etcd.
    first.client.losing = "timeout"
    outcomes = []
    first.execute("call", "2")
    first.when_durable().addBoth(outcomes.append)
    spin_until(lambda: stored_in_etcd(etcd_cluster, first.applied_seq + 1), what="call 2 in etcd")
    first.execute("call", "3")
    first.when_durable().addBoth(outcomes.append)
    admin = EtcdClient(reactor, etcd_cluster.endpoints.split(","))
    wait(admin.lease_revoke(first.lease))  # its lease gone: it steps down at its next keepalive
    wait(admin.close())
    spin_until(lambda: first.role == STANDBY, what="the leader stepping down")
    first.client.losing = None
    # Neither acknowledged: their replies would be the unknown outcome's error line.
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert outcome.check(ChangeNotStored) and "its effect is unknown" in str(outcome.value)
    leading(second)
    second.execute("call", "4")
    committed(second)
    spin_until(lambda: first.applied_seq == second.applied_seq, what="the old leader following the new one")
    assert first_log.of("ENTERQUEUE") == ["1", "2", "4"]  # call 2 from etcd, once; call 3 never
    assert second_log.of("ENTERQUEUE") == ["1", "2", "4"]
    assert "call 3" not in "\n".join(second.query("status"))
    assert first.query("status") == second.query("status")


def leader_and_deaf_standby(servers):
    """A leader that snapshots every 3,000 bytes, and a standby that applied its call 0 and
    from then on hears nothing from etcd: (leader, standby, the standby's queue_log)."""
    first = leading(servers("one", snapshot_limit=3000))
    second = servers("two", client_class=Deaf)
    second_log = queue_log(second)
    first.execute("call", "0")
    committed(first)
    spin_until(lambda: second.applied_seq == first.applied_seq, what="the standby applying call 0")
    second.client.deaf = True
    spin_until(lambda: not first._snapshotting, what="the first leader's first snapshot")
    return first, second, second_log


def calls_until_snapshots(leader, count, most):
    """Calls 1, 2, ... on ``leader``, each committed, until it has taken ``count`` more
    snapshots (each deleting the journal's keys before it); the next call's number."""
    snapshots, calls = leader.snapshots, 1
    while leader.snapshots < snapshots + count or leader._snapshotting:
        assert calls < most, "no snapshot after %d calls" % most
        leader.execute("call", str(calls))
        committed(leader)
        calls += 1
    return calls


def test_a_standby_lagging_behind_a_snapshot_catches_up_from_etcds_history_with_every_line(servers, etcd_cluster):
    first, second, second_log = leader_and_deaf_standby(servers)
    calls = calls_until_snapshots(first, 1, most=500)  # the keys the standby lacks deleted
    first.execute("call", str(calls))  # and one after it
    committed(first)
    assert not stored_in_etcd(etcd_cluster, second.applied_seq + 1)
    status = first.query("status")
    wait(first.close())  # hands over
    second.client.deaf = False
    leading(second)
    assert second.query("status") == status
    assert second.generation == first.generation
    assert second_log.of("ENTERQUEUE") == [str(number) for number in range(calls + 1)]


def test_a_standby_lagging_behind_two_snapshots_starts_from_the_latest_and_says_what_it_lacks(
    servers, etcd_cluster, twisted_log
):
    first, second, second_log = leader_and_deaf_standby(servers)
    lacking = second.applied_seq
    calls_until_snapshots(first, 2, most=1000)  # etcd's history compacted past the keys it lacks
    status = first.query("status")
    wait(first.close())
    second.client.deaf = False
    leading(second)
    assert second.query("status") == status
    assert second_log.of("ENTERQUEUE") == ["0"]  # nothing twice, nothing made up
    assert any("The journal after key %d is no longer in etcd's history" % lacking in line for line in twisted_log)
