"""The replicated call center (store/replicated.py) on a real three-member etcd on loopback,
in this process: election, fencing, the standby's hot copy, takeover, snapshots."""

import pytest
from twisted.internet import reactor

from callcenter.core.center import CallCenterError
from callcenter.core.rendering import render
from callcenter.interfaces import ChangeNotStored
from callcenter.store.etcd import EtcdClient, prefix_end
from callcenter.store.replicated import LEADER, STANDBY, ReplicatedCallCenter
from support import spin_until, wait

TTL = 2  # seconds: etcd's least lease


@pytest.fixture
def servers(etcd_cluster):
    made = []

    def start(name, prefix="/t/", operators=("A", "B"), **options):
        client = EtcdClient(reactor, etcd_cluster.endpoints.split(","), timeout=0.7)
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
    from callcenter.store.replicated import WhileLeading

    center = leading(servers("one"))
    for interface in (ICallCenter, IEventSource, IDurableOutput, ICallCenterObserver, IDiskState, ILeadership):
        assert verifyObject(interface, center)
    assert verifyObject(IEventSubscriber, DurableRelay(center))  # what it hears of its core
    assert verifyObject(IEventSubscriber, WhileLeading(DurableRelay(center), center))  # the queue_log's


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
