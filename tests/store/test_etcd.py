"""The etcd client (store/etcd.py) against fake members (twisted.web on loopback): what it
sends, what it makes of each answer, and every way a request can fail."""

import json
import socket

import pytest
from twisted.internet import reactor

from callcenter.store.etcd import (
    EtcdClient,
    EtcdCompactedError,
    EtcdError,
    EtcdRefusedError,
    EtcdUnavailableError,
    EtcdUnknownOutcomeError,
    api_prefix,
    created_at,
    prefix_end,
    put_request,
    range_request,
)
from callcenter.store.etcd_config import EtcdCredentials, check_endpoints
from support import Answer, FakeEtcd, b64, header, kv, spin, stopped, wait

TIMEOUT = 0.3  # the client's timeout in these tests: what a hanging member costs


@pytest.fixture
def fakes():
    made = []

    def make(count=1, version="3.4.23"):
        for _ in range(count):
            made.append(FakeEtcd(version).start())
        return made[-count:]

    yield make
    wait(stopped(*made))


def client_of(*members, **options):
    options.setdefault("timeout", TIMEOUT)
    endpoints = [member if isinstance(member, str) else member.endpoint for member in members]
    return EtcdClient(reactor, endpoints, **options)


def closed(client):
    wait(client.close())


def refused_endpoint():
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % probe.getsockname()[1]


def test_the_api_prefix_follows_the_server_version():
    assert api_prefix("3.3.11") == "/v3beta"
    assert api_prefix("3.4.23") == "/v3"
    assert api_prefix("3.5.17") == "/v3"
    assert api_prefix("3.2.0") == "/v3alpha"
    with pytest.raises(EtcdError, match="unknown version"):
        api_prefix("banana")


@pytest.mark.parametrize(("version", "path"), [("3.3.11", "/v3beta/kv/range"), ("3.5.0", "/v3/kv/range")])
def test_the_first_request_asks_the_version_then_uses_its_prefix(fakes, version, path):
    (member,) = fakes(version=version)
    member.answers[path] = [Answer({"header": header(7), "kvs": [kv("k", b"v", 7)], "count": "1"})]
    client = client_of(member)
    answer = wait(client.range("k"))
    wait(client.range("k"))
    assert member.paths() == ["/version", path, path]
    assert [(one.key, one.value, one.mod_revision) for one in answer.kvs] == [(b"k", b"v", 7)]
    assert answer.revision == 7
    closed(client)


def test_keys_and_values_go_in_base64_and_a_transaction_says_whether_it_succeeded(fakes):
    (member,) = fakes()
    member.answers["/v3/kv/txn"] = [
        Answer({"header": header(9), "succeeded": True, "responses": [{"response_put": {"header": {}}}]}),
        Answer({"header": header(9), "responses": [{"response_range": {"kvs": [kv("leader", b"other", 8)]}}]}),
    ]
    client = client_of(member)
    first = wait(
        client.txn([created_at("leader", 0)], [put_request("leader", b"me", lease=42)], [range_request("leader")])
    )
    second = wait(client.txn([created_at("leader", 0)], [put_request("leader", b"me")], [range_request("leader")]))
    assert first.succeeded and first.revision == 9
    assert not second.succeeded  # the gateway leaves out a false "succeeded"
    assert [one.value for one in second.responses[0].kvs] == [b"other"]
    _, sent, _ = member.requests[1]
    assert sent == {
        "compare": [{"key": b64("leader"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
        "success": [{"request_put": {"key": b64("leader"), "value": b64("me"), "lease": "42"}}],
        "failure": [{"request_range": {"key": b64("leader")}}],
    }
    closed(client)


def test_a_prefix_range_ends_after_the_last_key_with_that_prefix():
    assert prefix_end(b"/cc/") == b"/cc0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end("/cc/journal/") == b"/cc/journal0"


def test_a_write_that_times_out_has_an_unknown_outcome_and_is_not_sent_again(fakes):
    slow, good = fakes(2)
    slow.answers["/v3/kv/txn"] = [Answer(hang=True)]
    good.answers["/v3/kv/txn"] = [Answer({"header": header(), "succeeded": True})]
    client = client_of(slow, good)
    with pytest.raises(
        EtcdUnknownOutcomeError, match=r"no answer from etcd \(http://127.0.0.1:\d+: no answer within 0.3 s\)"
    ):
        wait(client.txn([], [put_request("k", b"v")]))
    assert "/v3/kv/txn" not in good.paths()
    # The next request goes to the member that may answer.
    assert wait(client.txn([], [put_request("k", b"v")])).succeeded
    assert good.paths()[-1] == "/v3/kv/txn"
    closed(client)


def test_a_read_that_times_out_is_asked_of_the_next_member(fakes):
    slow, good = fakes(2)
    slow.answers["/v3/kv/range"] = [Answer(hang=True)]
    good.answers["/v3/kv/range"] = [Answer({"header": header(3), "count": "0"})]
    client = client_of(slow, good)
    assert wait(client.range("k")).revision == 3
    closed(client)


def test_a_member_that_refuses_connections_is_passed_over_even_for_a_write(fakes):
    (good,) = fakes()
    good.answers["/v3/kv/put"] = [Answer({"header": header(4)})]
    client = client_of(refused_endpoint(), good)
    assert wait(client.put("k", b"v")) == 4
    closed(client)


def test_no_member_reachable_is_one_line_naming_each(fakes):
    first, second = refused_endpoint(), refused_endpoint()
    client = client_of(first, second)
    with pytest.raises(EtcdUnavailableError) as raised:
        wait(client.put("k", b"v"))
    message = str(raised.value)
    assert "\n" not in message
    assert message == "etcd unavailable (%s: connection refused; %s: connection refused)" % (first, second)
    closed(client)


def test_an_error_of_etcd_is_a_refusal_with_its_words(fakes):
    (member,) = fakes()
    error = "etcdserver: requested lease not found"
    member.answers["/v3/kv/put"] = [Answer({"error": error, "message": error, "code": 5}, status=404)]
    client = client_of(member)
    with pytest.raises(EtcdRefusedError, match=r"^etcd: etcdserver: requested lease not found$") as raised:
        wait(client.put("k", b"v", lease=7))
    assert raised.value.code == 5
    closed(client)


def test_a_compacted_revision_is_its_own_refusal(fakes):
    (member,) = fakes()
    error = "etcdserver: mvcc: required revision has been compacted"
    member.answers["/v3/kv/range"] = [Answer({"error": error, "message": error, "code": 11}, status=400)]
    client = client_of(member)
    with pytest.raises(EtcdCompactedError):
        wait(client.range("k", revision=2))
    closed(client)


def test_a_5xx_fails_a_write_as_unknown_and_a_read_moves_on(fakes):
    sick, good = fakes(2)
    error = "etcdserver: request timed out"
    for path in ("/v3/kv/txn", "/v3/kv/range"):
        sick.answers[path] = [Answer({"error": error, "message": error, "code": 14}, status=503)]
    good.answers["/v3/kv/range"] = [Answer({"header": header(2)})]
    client = client_of(sick, good)
    with pytest.raises(EtcdUnknownOutcomeError, match="request timed out"):
        wait(client.txn([], [put_request("k", b"v")]))
    client.current = 0
    assert wait(client.range("k")).revision == 2
    closed(client)


def test_an_answer_that_is_not_json(fakes):
    bad, good = fakes(2)
    bad.answers["/v3/kv/txn"] = [Answer(body=b"<html>proxy error</html>")]
    bad.answers["/v3/kv/range"] = [Answer(body=b"{not json")]
    good.answers["/v3/kv/range"] = [Answer({"header": header(2)})]
    client = client_of(bad, good)
    with pytest.raises(EtcdUnknownOutcomeError, match="not JSON"):
        wait(client.txn([], [put_request("k", b"v")]))
    client.current = 0
    assert wait(client.range("k")).revision == 2
    closed(client)


def test_a_plain_404_is_a_refusal(fakes):
    (member,) = fakes()
    client = client_of(member)
    with pytest.raises(EtcdRefusedError, match="HTTP 404: Not Found"):
        wait(client.compact(3))
    closed(client)


def test_keepalive_reads_the_first_object_of_its_stream_and_closes_it(fakes):
    (member,) = fakes()
    member.answers["/v3/lease/keepalive"] = [
        Answer(stream=[{"result": {"header": header(), "ID": "77", "TTL": "5"}}]),
        Answer(stream=[{"result": {"header": header(), "ID": "77"}}]),
    ]
    client = client_of(member)
    assert wait(client.lease_keepalive(77)) == 5
    assert wait(client.lease_keepalive(77)) == 0  # etcd no longer has it
    assert [document for path, document, _ in member.requests if path == "/v3/lease/keepalive"] == [{"ID": "77"}] * 2
    closed(client)


def test_a_keepalive_without_answer_moves_on_then_gives_up(fakes):
    slow, other = fakes(2)
    for member in (slow, other):
        member.answers["/v3/lease/keepalive"] = [Answer(hang=True)]
    client = client_of(slow, other)
    with pytest.raises(EtcdUnavailableError, match=r"no answer within 0\.3 s.*no answer within 0\.3 s"):
        wait(client.lease_keepalive(77))
    closed(client)


def watch_events(revision, *puts):
    return {"result": {"header": header(revision), "events": [{"kv": kv(key, value, revision)} for key, value in puts]}}


def test_a_watch_hears_each_change_in_order_until_cancelled(fakes):
    (member,) = fakes()
    split = json.dumps(watch_events(11, ("/cc/j/2", b"y"))).encode() + b"\n"
    member.answers["/v3/watch"] = [
        Answer(
            stream=[
                {"result": {"header": header(9), "created": True}},
                watch_events(10, ("/cc/j/1", b"x")),
                split[:20],
                split[20:],
                {"result": {"header": header(12), "events": [{"type": "DELETE", "kv": {"key": b64("/cc/j/1")}}]}},
            ]
        )
    ]
    client = client_of(member)
    heard = []
    watch = client.watch("/cc/", prefix_end("/cc/"), 10, lambda revision, events: heard.extend(events))
    wait(watch.created)
    spin(0.1)
    assert [(event.type, event.kv.key, event.kv.value) for event in heard] == [
        ("PUT", b"/cc/j/1", b"x"),
        ("PUT", b"/cc/j/2", b"y"),
        ("DELETE", b"/cc/j/1", b""),
    ]
    _, sent, headers = member.requests[-1]
    assert sent == {"create_request": {"key": b64("/cc/"), "range_end": b64("/cc0"), "start_revision": "10"}}
    assert headers["grpc-metadata-hasleader"] == "true"
    watch.cancel()
    assert wait(watch.ended) is None
    closed(client)


def test_a_watch_cut_mid_stream_ends_with_why(fakes):
    (member,) = fakes()
    member.answers["/v3/watch"] = [
        Answer(stream=[{"result": {"header": header(9), "created": True}}, watch_events(10, ("k", b"x"))], end="cut")
    ]
    client = client_of(member)
    heard = []
    watch = client.watch("k", None, 10, lambda revision, events: heard.extend(events))
    with pytest.raises(EtcdError, match=r"the watch on http://127\.0\.0\.1:\d+ ended: "):
        wait(watch.ended)
    assert [event.kv.value for event in heard] == [b"x"]
    assert watch.last_revision == 10
    closed(client)


def test_a_watch_that_etcd_ends_or_garbles(fakes):
    ends, garbles = fakes(2)
    ends.answers["/v3/watch"] = [Answer(stream=[{"result": {"created": True}}], end="close")]
    garbles.answers["/v3/watch"] = [Answer(stream=[{"result": {"created": True}}, b"{oops\n"])]
    for member, why in ((ends, "etcd ended the stream"), (garbles, "not JSON")):
        client = client_of(member)
        watch = client.watch("k", None, 1, lambda revision, events: None)
        with pytest.raises(EtcdError, match=why):
            wait(watch.ended)
        closed(client)


def test_a_watch_older_than_the_history_is_compacted(fakes):
    (member,) = fakes()
    member.answers["/v3/watch"] = [
        Answer(
            stream=[
                {"result": {"header": header(9), "created": True}},
                {"result": {"canceled": True, "compact_revision": "8"}},
            ]
        )
    ]
    client = client_of(member)
    watch = client.watch("k", None, 2, lambda revision, events: None)
    with pytest.raises(EtcdCompactedError) as raised:
        wait(watch.ended)
    assert raised.value.compact_revision == 8
    closed(client)


def test_a_watch_on_a_member_without_leader_goes_to_the_next(fakes):
    lost, good = fakes(2)
    no_leader = {"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader"}}
    lost.answers["/v3/watch"] = [Answer(no_leader, status=503)]
    good.answers["/v3/watch"] = [Answer(stream=[{"result": {"created": True}}])]
    client = client_of(lost, good)
    watch = client.watch("k", None, 1, lambda revision, events: None)
    wait(watch.created)
    assert watch.endpoint == good.endpoint
    watch.cancel()
    wait(watch.ended)
    closed(client)


def test_with_a_user_a_token_is_got_sent_and_got_again_once_expired(fakes):
    (member,) = fakes()
    tokens = iter(["token-1", "token-2"])
    member.answers["/v3/auth/authenticate"] = lambda path, document, headers: Answer({"token": next(tokens)})
    expired = "etcdserver: invalid auth token"
    member.answers["/v3/kv/range"] = [
        Answer({"header": header(2)}),
        Answer({"error": expired, "message": expired, "code": 16}, status=401),
        Answer({"header": header(3)}),
    ]
    client = client_of(member, credentials=EtcdCredentials(user="cc", password="s3cret"))
    assert wait(client.range("k")).revision == 2
    assert wait(client.range("k")).revision == 3
    sent = [(path, document, headers.get("authorization")) for path, document, headers in member.requests[1:]]
    assert sent == [
        ("/v3/auth/authenticate", {"name": "cc", "password": "s3cret"}, None),
        ("/v3/kv/range", {"key": b64("k")}, "token-1"),
        ("/v3/kv/range", {"key": b64("k")}, "token-1"),
        ("/v3/auth/authenticate", {"name": "cc", "password": "s3cret"}, None),
        ("/v3/kv/range", {"key": b64("k")}, "token-2"),
    ]
    closed(client)


def test_a_wrong_password_is_a_refusal_naming_the_user(fakes):
    (member,) = fakes()
    wrong = "etcdserver: authentication failed, invalid user ID or password"
    member.answers["/v3/auth/authenticate"] = [Answer({"error": wrong, "message": wrong, "code": 3}, status=400)]
    client = client_of(member, credentials=EtcdCredentials(user="cc", password="nope"))
    with pytest.raises(EtcdRefusedError, match="etcd refused the user cc: etcd: etcdserver: authentication failed"):
        wait(client.range("k"))
    closed(client)


def test_endpoints_are_urls():
    assert check_endpoints("http://10.0.0.1:2379, https://e2:2379/") == ["http://10.0.0.1:2379", "https://e2:2379"]
    for wrong in ("", "10.0.0.1:2379", "http://e1", "tcp://e1:2379", "http://e1:2379/v3"):
        with pytest.raises(ValueError):
            check_endpoints(wrong)


def test_tls_to_the_members_checks_them_against_the_ca_given(tmp_path):
    import os

    from support import make_certificates

    paths = make_certificates(str(tmp_path))
    member = FakeEtcd().start(tls=paths)
    member.answers["/v3/kv/range"] = [Answer({"header": header(4)})]
    with open(os.path.join(paths["ca"], "ca.pem"), "rb") as ca:
        trusted = EtcdCredentials(ca=ca.read())
    client = client_of(member, credentials=trusted)
    assert member.endpoint.startswith("https://")
    assert wait(client.range("k")).revision == 4
    closed(client)
    # Another CA: the member is not trusted, and nothing is sent to it.
    (tmp_path / "other").mkdir()
    other = make_certificates(str(tmp_path / "other"))
    with open(os.path.join(other["ca"], "ca.pem"), "rb") as ca:
        untrusted = EtcdCredentials(ca=ca.read())
    client = client_of(member, credentials=untrusted)
    requests = len(member.requests)
    with pytest.raises(EtcdUnavailableError):
        wait(client.range("k"))
    assert len(member.requests) == requests
    closed(client)
    wait(stopped(member))
