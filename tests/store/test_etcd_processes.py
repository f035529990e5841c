"""The etcd client against a real three-member etcd on loopback (Debian's etcd-server,
scripts/install-etcd): the gateway as the client speaks it, and a member lost."""

import pytest
from twisted.internet import reactor

from callcenter.store.etcd import (
    EtcdClient,
    EtcdUnknownOutcomeError,
    created_at,
    prefix_end,
    put_request,
    range_request,
)
from support import wait


def test_transactions_watches_and_leases_on_a_real_cluster(etcd_cluster):
    client = EtcdClient(reactor, etcd_cluster.endpoints.split(","))
    created = wait(
        client.txn([created_at("/t/leader", 0)], [put_request("/t/leader", b"me")], [range_request("/t/leader")])
    )
    again = wait(
        client.txn([created_at("/t/leader", 0)], [put_request("/t/leader", b"you")], [range_request("/t/leader")])
    )
    assert created.succeeded and not again.succeeded
    assert [kv.value for kv in again.responses[0].kvs] == [b"me"]
    heard = []
    watch = client.watch("/t/", prefix_end("/t/"), created.revision + 1, lambda revision, events: heard.extend(events))
    wait(watch.created)
    lease, ttl = wait(client.lease_grant(5))
    assert ttl == 5
    wait(client.put("/t/held", b"x", lease=lease))
    assert wait(client.lease_keepalive(lease)) == 5
    wait(client.lease_revoke(lease))
    assert wait(client.lease_keepalive(lease)) == 0
    assert wait(client.range("/t/held")).kvs == []
    watch.cancel()
    wait(watch.ended)
    assert [(event.type, event.kv.key) for event in heard] == [("PUT", b"/t/held"), ("DELETE", b"/t/held")]
    wait(client.close())


def client_of_a_follower(etcd_cluster):
    """(a client whose first member is a follower of etcd's Raft group, that follower's index),
    /t/k put through it. A follower: killing the leader makes writes wait for an election (etcd
    then answers "request timed out": an unknown outcome)."""
    follower = next(index for index in range(3) if index != etcd_cluster.leader_index())
    endpoints = etcd_cluster.endpoints.split(",")
    client = EtcdClient(reactor, endpoints[follower:] + endpoints[:follower])
    wait(client.put("/t/k", b"1"))
    return client, follower


def test_a_member_killed_is_passed_over(etcd_cluster):
    client, follower = client_of_a_follower(etcd_cluster)
    wait(client.close())  # no connection kept: the next one to the killed member is refused
    etcd_cluster.kill(follower)
    for value in (b"2", b"3"):
        wait(client.put("/t/k", value))  # refused, so never sent: sent to the next member
    assert wait(client.range("/t/k")).kvs[0].value == b"3"
    wait(client.close())


def test_a_write_on_a_kept_connection_to_a_killed_member_is_unknown_and_a_read_moves_on(etcd_cluster):
    client, follower = client_of_a_follower(etcd_cluster)
    etcd_cluster.kill(follower)
    with pytest.raises(EtcdUnknownOutcomeError):
        wait(client.put("/t/k", b"2"))  # the member may have taken it before it died
    assert wait(client.range("/t/k")).kvs[0].value in (b"1", b"2")
    wait(client.close())
