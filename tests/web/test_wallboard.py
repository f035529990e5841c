"""The wallboard's site (callcenter.web.wallboard): its resources through twisted.web's real Site and
HTTP channel over StringTransport (and DummyRequest), time from task.Clock."""

import errno
import json

import pytest
from twisted.internet import tcp
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from callcenter.core.center import CallCenter
from callcenter.core.queues import QueueConfig
from callcenter.interfaces import IEventSubscriber
from callcenter.net.protocol import CallCenterServerFactory
from callcenter.net.wire import encode_request
from callcenter.store.durable import RETRY_INTERVAL, DurableCallCenter
from callcenter.web.wallboard import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    UPDATE_INTERVAL,
    StatusResource,
    Wallboard,
    wallboard_site,
)
from callcenter.wiring.options import ServerOptions
from support import Disk, StuckSocket


class StuckTCPSocket(StuckSocket):
    """What the HTTP channel also sets on its socket."""

    def setsockopt(self, *args):
        pass


START = 1000.0
PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class Response(object):
    def __init__(self, data):
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.code = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            self.headers.setdefault(name.lower(), []).append(value)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def events(self):
        return events(self.body)


def events(data):
    """The Server-Sent Events in a stream's bytes: (event name or None, data or comment text)."""
    found = []
    for block in data.decode("utf-8").split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in block.split("\n"))
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
        elif "retry" in fields:
            found.append(("retry", fields["retry"]))
        else:
            found.append((None, block))
    return found


class Board(object):
    """A call center, its wallboard and site, and one protocol client that drives it."""

    def __init__(
        self,
        operators=("A", "B"),
        token=None,
        max_output_buffer=1 << 20,
        max_clients=10,
        ring_timeout=10,
        queues=None,
        state_dir=None,
    ):
        """``state_dir``: the center is a DurableCallCenter there, on the write seam ``self.disk``."""
        self.clock = Clock()
        self.clock.advance(START)
        durable = None
        if state_dir is None:
            self.center = CallCenter(
                list(operators),
                self.clock.callLater,
                ring_timeout,
                now=self.clock.seconds,
                service_level=20,
                queues=queues,
            )
        else:
            self.disk = Disk()
            self.center = durable = DurableCallCenter(
                str(state_dir),
                list(operators),
                self.clock.callLater,
                self.clock.seconds,
                ring_timeout,
                sync=self.disk.sync,
                write=self.disk.write,
                service_level=20,
            )
            durable.restore()
        self.factory = CallCenterServerFactory(self.center, self.clock.callLater, durable_output=durable)
        self.wallboard = Wallboard(self.center, self.clock.callLater, self.clock.seconds, max_output_buffer, token)
        self.site = wallboard_site(self.wallboard, max_clients)
        self.client = self.factory.buildProtocol(None)
        self.client.makeConnection(StringTransport())

    def command(self, command, call_id=None):
        self.client.dataReceived(encode_request(command, call_id))

    def connect(self, transport=None):
        channel = self.site.buildProtocol(PEER)
        transport = transport or StringTransport(peerAddress=PEER)
        channel.makeConnection(transport)
        return channel, transport

    def request(self, path, method=b"GET", headers=(), body=b"", transport=None):
        """Send one HTTP/1.0 request; the channel and its transport."""
        channel, transport = self.connect(transport)
        head = [b"%s %s HTTP/1.0" % (method, path), b"Host: localhost"]
        head.extend(headers)
        if body:
            head.append(b"Content-Length: %d" % len(body))
        channel.dataReceived(b"\r\n".join(head) + b"\r\n\r\n" + body)
        return channel, transport

    def get(self, path, **kwargs):
        _, transport = self.request(path, **kwargs)
        return Response(transport.value())


# The JSON of /api/status, as docs/wallboard.md documents it.


def test_status_is_the_whole_state_as_documented():
    board = Board(["A", "B"])
    board.command("call", "1")
    board.clock.advance(2)
    board.command("answer", "A")
    board.clock.advance(1)
    board.command("call", "2")  # rings B
    board.command("call", "3")
    board.clock.advance(1)
    board.command("call", "4")
    board.clock.advance(3)
    request = DummyRequest([b""])
    body = StatusResource(board.wallboard).render(request)
    assert request.responseCode == 200
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"application/json"]
    assert json.loads(body.decode("utf-8")) == {
        "now": START + 7,
        "degraded": None,
        "operators": [
            {"id": "A", "state": "busy", "call": "1", "reason": None, "since": START + 2},
            {"id": "B", "state": "ringing", "call": "2", "reason": None, "since": START + 3},
        ],
        "waiting": {
            "count": 2,
            "calls": [
                {"call": "3", "received_at": START + 3, "wait": 4.0},
                {"call": "4", "received_at": START + 4, "wait": 3.0},
            ],
        },
        "figures": {
            "received": 4,
            "answered": 1,
            "talking": 1,
            "finished": 0,
            "missed": 0,
            "missed_percent": 0.0,
            "rejected": 0,
            "ignored": 0,
            "waiting": 2,
            "ringing": 1,
            "longest_waiting": 4.0,
            "average_wait": 2.0,
            "longest_wait": 2.0,
            "service_level": {"threshold": 20.0, "within": 1, "percent": 100.0},
        },
        "queues": [],  # one queue: its calls and figures are the whole call center's
        "lines": [
            {"n": 1, "at": START, "line": "Call 1 received"},
            {"n": 2, "at": START, "line": "Call 1 ringing for operator A"},
            {"n": 3, "at": START + 2, "line": "Call 1 answered by operator A"},
            {"n": 4, "at": START + 3, "line": "Call 2 received"},
            {"n": 5, "at": START + 3, "line": "Call 2 ringing for operator B"},
            {"n": 6, "at": START + 3, "line": "Call 3 received"},
            {"n": 7, "at": START + 3, "line": "Call 3 waiting in queue"},
            {"n": 8, "at": START + 4, "line": "Call 4 received"},
            {"n": 9, "at": START + 4, "line": "Call 4 waiting in queue"},
        ],
    }


def test_status_of_a_new_call_center_has_no_figures_yet_and_queries_print_no_lines():
    board = Board(["A"])
    board.command("status")
    board.command("stats")
    board.command("answer", "Z")  # an error: no line printed, nothing changed
    status = board.get(b"/api/status").json()
    assert status["figures"]["average_wait"] is None
    assert status["figures"]["missed_percent"] is None
    assert status["figures"]["service_level"]["percent"] is None
    assert status["figures"]["longest_waiting"] is None
    assert status["lines"] == []


def test_missed_percent_counts_the_calls_that_ended_their_wait():
    board = Board(["A"])
    for call_id in "1234":
        board.command("call", call_id)
    board.command("answer", "A")
    board.command("hangup", "2")  # missed while waiting
    figures = board.get(b"/api/status").json()["figures"]
    assert (figures["answered"], figures["missed"], figures["missed_percent"]) == (1, 1, 50.0)


def test_status_lists_the_first_hundred_waiting_calls_and_counts_them_all():
    board = Board(["A"])
    for number in range(250):
        board.command("call", str(number))
    board.command("hangup", "1")  # a hole in the queue's deque is skipped
    waiting = board.get(b"/api/status").json()["waiting"]
    assert waiting["count"] == 248
    assert [call["call"] for call in waiting["calls"]] == [str(n) for n in range(2, 102)]


def test_the_last_fifty_lines_are_kept():
    board = Board(["A"])
    for number in range(40):
        board.command("call", str(number))
    lines = board.get(b"/api/status").json()["lines"]
    assert len(lines) == 50
    assert lines[-1] == {"n": 80, "at": START, "line": "Call 39 waiting in queue"}


SALES_AND_SUPPORT = [QueueConfig("sales", [("A", 0)]), QueueConfig("support", [("B", 0)])]


def test_with_several_queues_status_has_each_queues_calls_and_figures():
    board = Board(["A", "B"], queues=SALES_AND_SUPPORT)
    board.command("call", "1")  # sales, the default queue: rings A
    board.command("call", "2 queue=support")  # rings B
    board.clock.advance(1)
    board.command("answer", "B")
    board.command("call", "3")
    board.clock.advance(1)
    board.command("call", "4")
    board.clock.advance(2)
    status = board.get(b"/api/status").json()
    sales, support = status["queues"]
    assert sales["name"] == "sales" and support["name"] == "support"
    assert sales["waiting"] == {
        "count": 2,
        "calls": [
            {"call": "3", "received_at": START + 1, "wait": 3.0},
            {"call": "4", "received_at": START + 2, "wait": 2.0},
        ],
    }
    assert support["waiting"] == {"count": 0, "calls": []}
    assert sales["figures"] == {
        "received": 3,
        "answered": 0,
        "talking": 0,
        "finished": 0,
        "missed": 0,
        "missed_percent": None,
        "rejected": 0,
        "ignored": 0,
        "waiting": 2,
        "ringing": 1,
        "longest_waiting": 3.0,
        "average_wait": None,
        "longest_wait": None,
        "service_level": {"threshold": 20.0, "within": 0, "percent": None},
    }
    assert (support["figures"]["received"], support["figures"]["answered"]) == (1, 1)
    assert (support["figures"]["ringing"], support["figures"]["longest_waiting"]) == (0, None)
    assert support["figures"]["average_wait"] == 1.0
    # The totals are the whole call center's, as with one queue.
    assert (status["figures"]["received"], status["figures"]["waiting"]) == (4, 2)


def test_with_several_queues_a_change_has_each_queues_figures_and_its_calls_only_when_they_changed():
    board = Board(["A", "B"], queues=SALES_AND_SUPPORT)
    _, stream = board.request(b"/api/events")
    stream.clear()
    board.command("call", "1")
    board.command("call", "2")  # waits in sales
    board.clock.advance(0)
    ((_, change),) = events(stream.value())
    sales, support = change["queues"]
    assert (sales["name"], sales["waiting"]["count"], [call["call"] for call in sales["waiting"]["calls"]]) == (
        "sales",
        1,
        ["2"],
    )
    assert (support["name"], support["waiting"]) == ("support", None)  # its calls did not change
    assert support["figures"]["received"] == 0
    stream.clear()
    board.clock.advance(1)
    board.command("call", "3 queue=support")  # rings B: sales' calls stay as they were
    board.clock.advance(UPDATE_INTERVAL)
    ((_, change),) = events(stream.value())
    sales, support = change["queues"]
    assert sales["waiting"] is None and sales["figures"]["longest_waiting"] == pytest.approx(1.0 + UPDATE_INTERVAL)
    assert support["waiting"] is None  # still empty
    assert (support["figures"]["received"], support["figures"]["ringing"]) == (1, 1)


def test_one_queue_has_no_queues_in_its_changes():
    board = Board(["A"])
    _, stream = board.request(b"/api/events")
    stream.clear()
    board.command("call", "1")
    board.clock.advance(0)
    ((_, change),) = events(stream.value())
    assert "queues" not in change and change["degraded"] is None


def test_the_degraded_mode_reaches_the_streams_as_it_begins_and_ends(tmp_path):
    board = Board(["A", "B"], state_dir=tmp_path / "state")
    _, stream = board.request(b"/api/events")
    stream.clear()
    board.disk.refuse(errno.ENOSPC, writes_left=0)
    board.command("call", "1")
    board.clock.advance(0)  # the commit is refused: the call is rolled back
    board.clock.advance(UPDATE_INTERVAL)
    ((_, change),) = events(stream.value())
    refusal = "cannot store the change: no space left in %s; status and stats still work" % (tmp_path / "state")
    assert change["degraded"] == refusal
    assert change["figures"]["received"] == 0
    # The refused call's own lines never reach the board: only the mode's.
    assert [line["line"] for line in change["lines"]] == [
        "The call center cannot store changes: no space left in %s; status and stats still work" % (tmp_path / "state")
    ]
    assert board.get(b"/api/status").json()["degraded"] == refusal
    stream.clear()
    board.clock.advance(RETRY_INTERVAL)  # the disk still refuses: nothing new to tell
    assert events(stream.value()) == []
    board.disk.heal()
    board.clock.advance(RETRY_INTERVAL)
    board.clock.advance(UPDATE_INTERVAL)
    ((_, change),) = events(stream.value())
    assert change["degraded"] is None
    assert [line["line"] for line in change["lines"]] == ["The call center stores changes again"]
    assert board.get(b"/api/status").json()["degraded"] is None


def test_the_core_snapshot_is_plain_data_and_a_copy():
    clock = Clock()
    center = CallCenter(["A", "B"], clock.callLater, 10, now=clock.seconds)
    center.call("1")
    snapshot = center.snapshot(waiting_limit=10)
    assert json.loads(json.dumps(snapshot)) == snapshot
    snapshot["operators"][0]["state"] = "changed"
    assert center.snapshot()["operators"][0]["state"] == "ringing"


def test_the_wallboard_subscribes_to_the_call_center_it_shows():
    board = Board()
    assert verifyObject(IEventSubscriber, board.wallboard)
    assert board.wallboard in board.center.bus.subscribers


# The page


@pytest.mark.parametrize(
    "path, content_type",
    [
        (b"/", "text/html; charset=utf-8"),
        (b"/wallboard.css", "text/css; charset=utf-8"),
        (b"/wallboard.js", "text/javascript; charset=utf-8"),
    ],
)
def test_the_page_is_served_from_the_package_and_fetches_nothing_from_elsewhere(path, content_type):
    response = Board(token=b"secret").get(path)  # the page itself needs no session
    assert response.code == 200
    assert response.headers["content-type"] == [content_type]
    assert response.headers["content-security-policy"] == [
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ]
    assert response.headers["x-content-type-options"] == ["nosniff"]
    assert b"http:" not in response.body and b"https:" not in response.body and b"//cdn" not in response.body


def test_an_unknown_path_is_404():
    assert Board().get(b"/nothing").code == 404


# /api/events


def test_events_start_with_the_whole_state_then_send_only_what_changed():
    board = Board(["A", "B", "C"])
    _, stream = board.request(b"/api/events")
    response = Response(stream.value())
    assert response.code == 200
    assert response.headers["content-type"] == ["text/event-stream; charset=utf-8"]
    (retry, (name, status)) = response.events()
    assert retry == ("retry", "1000")
    assert name == "status" and status == board.get(b"/api/status").json()
    stream.clear()
    board.command("call", "1")
    board.command("answer", "A")
    board.command("call", "2")
    assert stream.value() == b""  # sent on the next reactor turn, all in one event
    board.clock.advance(0)
    ((name, change),) = events(stream.value())
    assert name == "change"
    assert change["now"] == START
    assert [operator["id"] for operator in change["operators"]] == ["A", "B"]  # C did not change
    assert change["operators"][0] == {"id": "A", "state": "busy", "call": "1", "reason": None, "since": START}
    assert "waiting" not in change  # the queue was empty and still is
    assert change["figures"]["received"] == 2
    assert [line["line"] for line in change["lines"]] == [
        "Call 1 received",
        "Call 1 ringing for operator A",
        "Call 1 answered by operator A",
        "Call 2 received",
        "Call 2 ringing for operator B",
    ]


def test_changes_are_sent_at_most_once_an_interval_and_the_queue_when_it_changes():
    board = Board(["A"])
    _, stream = board.request(b"/api/events")
    board.command("call", "1")
    board.clock.advance(0)
    stream.clear()
    board.command("call", "2")  # within the interval of the last change: waits for its end
    board.clock.advance(UPDATE_INTERVAL / 2)
    assert stream.value() == b""
    board.command("call", "3")
    board.clock.advance(UPDATE_INTERVAL / 2 - 0.001)
    assert stream.value() == b""
    board.clock.advance(0.002)  # past the interval's end (float sums are not exact)
    ((_, change),) = events(stream.value())
    assert change["operators"] == []
    assert change["waiting"]["count"] == 2
    assert [call["call"] for call in change["waiting"]["calls"]] == ["2", "3"]
    assert board.wallboard.changes_sent == 2


def test_ring_timeouts_reach_the_stream_and_lines_are_numbered_for_reconnects():
    board = Board(["A", "B"], ring_timeout=10)
    board.command("call", "1")
    board.clock.advance(0)
    _, stream = board.request(b"/api/events")
    stream.clear()
    board.clock.advance(10)  # ignored by A, rings B
    board.clock.advance(0)
    ((_, change),) = events(stream.value())
    assert [(line["n"], line["line"]) for line in change["lines"]] == [
        (3, "Call 1 ignored by operator A"),
        (4, "Call 1 ringing for operator B"),
    ]
    assert [(operator["id"], operator["state"]) for operator in change["operators"]] == [
        ("A", "available"),
        ("B", "ringing"),
    ]


def test_with_no_stream_open_nothing_is_scheduled_and_a_new_stream_gets_only_later_lines():
    board = Board(["A"], ring_timeout=0)
    board.command("call", "1")
    assert board.clock.getDelayedCalls() == []
    _, stream = board.request(b"/api/events")
    (_, (_, status)) = events(stream.value())
    assert [line["n"] for line in status["lines"]] == [1, 2]
    stream.clear()
    board.command("answer", "A")
    board.clock.advance(0)
    ((_, change),) = events(stream.value())
    assert [line["line"] for line in change["lines"]] == ["Call 1 answered by operator A"]
    assert change["operators"] == [{"id": "A", "state": "busy", "call": "1", "reason": None, "since": START}]


def test_an_idle_stream_gets_a_comment_every_fifteen_seconds():
    board = Board()
    _, stream = board.request(b"/api/events")
    stream.clear()
    board.clock.advance(15)
    assert stream.value() == b":\n\n"


def test_a_closed_stream_is_forgotten():
    board = Board()
    channel, _ = board.request(b"/api/events")
    assert len(board.wallboard.streams) == 1
    channel.connectionLost(Failure(ConnectionDone()))
    assert board.wallboard.streams == set()
    board.command("call", "1")
    board.clock.advance(1)  # nothing to send to, nothing fails


def test_a_stream_that_never_reads_is_cut_off_past_the_output_limit_with_one_log_line(twisted_log):
    board = Board(["A"], max_output_buffer=4000, ring_timeout=0)
    reactor = MemoryReactorClock()
    stuck_channel = board.site.buildProtocol(PEER)
    stuck = tcp.Connection(StuckTCPSocket(0), stuck_channel, reactor=reactor)
    stuck.connected = 1
    stuck.getPeer = stuck.getHost = lambda: PEER
    stuck_channel.makeConnection(stuck)
    stuck_channel.dataReceived(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
    _, reader = board.request(b"/api/events")
    for number in range(100):
        board.command("call", str(number))
        board.clock.advance(UPDATE_INTERVAL)
        if stuck._aborting:
            break
    assert stuck._aborting and number < 99
    assert len(board.wallboard.streams) == 1  # the reader's
    (line,) = [line for line in twisted_log if "past the limit" in line]
    assert line.startswith("Closing wallboard stream of 127.0.0.1:40000: it is not reading; ")
    assert line.endswith("bytes of output unsent, past the limit of 4000 (--max-output-buffer)")
    # The reader goes on getting every change.
    board.command("hangup", "0")
    board.clock.advance(UPDATE_INTERVAL)
    assert b"Call 0 missed" in reader.value()


def test_web_connections_past_the_limit_get_a_503_and_are_closed():
    board = Board(max_clients=2)
    board.request(b"/api/events")
    board.request(b"/api/events")
    _, third = board.connect()
    assert third.value().startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert third.value().endswith(b"too many web clients (limit 2, --max-web-clients)\n")
    assert third.disconnecting


# Sessions


def login(board, body):
    return board.get(b"/login", method=b"POST", headers=[b"Content-Type: application/json"], body=body)


def session_of(response):
    (header,) = response.headers["set-cookie"]
    return header.split(";")[0]


def test_with_a_token_every_api_answers_401_without_a_session():
    board = Board(token=b"right token")
    for path in (b"/api/status", b"/api/events"):
        response = board.get(path)
        assert response.code == 401
        assert response.json() == {"error": "authentication required"}
    assert board.wallboard.streams == set()


def test_the_right_token_gets_an_http_only_strict_session_cookie_that_opens_the_api(twisted_log):
    board = Board(token=b"right token")
    response = login(board, b'{"token": "right token"}')
    assert response.code == 200 and response.json() == {"response": "authenticated"}
    (header,) = response.headers["set-cookie"]
    assert header.startswith(SESSION_COOKIE + "=")
    assert header.endswith("; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict" % SESSION_LIFETIME)
    assert "right token" not in header
    cookie = b"Cookie: other=1; " + session_of(response).encode()
    assert board.get(b"/api/status", headers=[cookie]).code == 200
    _, stream = board.request(b"/api/events", headers=[cookie])
    assert Response(stream.value()).code == 200 and len(board.wallboard.streams) == 1
    assert not any("right token" in line for line in twisted_log)


def test_a_wrong_token_is_refused_with_one_log_line_that_does_not_show_it(twisted_log):
    board = Board(token=b"right token")
    response = login(board, b'{"token": "wrong guess"}')
    assert response.code == 401 and response.json() == {"error": "wrong token"}
    assert "set-cookie" not in response.headers
    assert [line for line in twisted_log if "login" in line] == [
        "Wallboard login failed from 127.0.0.1:40000: wrong token"
    ]
    assert not any("wrong guess" in line for line in twisted_log)


def test_a_token_in_the_url_is_not_taken():
    board = Board(token=b"right")
    response = board.get(b"/login?token=right", method=b"POST")
    assert response.code == 400 and "set-cookie" not in response.headers
    assert board.get(b"/login", method=b"GET").code == 405


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"token": 5}', b'{"other": "x"}', b"\xff"])
def test_a_login_that_is_not_json_with_a_token_is_a_400(body):
    response = login(Board(token=b"right"), body)
    assert response.code == 400
    assert response.json() == {"error": 'send {"token": "..."} as JSON'}


def test_a_server_without_a_token_takes_no_login():
    assert login(Board(), b'{"token": "x"}').code == 400


def test_sessions_expire_and_end_with_a_new_token_and_forged_ones_fail():
    board = Board(token=b"first")
    cookie = b"Cookie: " + session_of(login(board, b'{"token": "first"}')).encode()
    # A restarted server with the same token knows the session: nothing is kept in memory.
    again = Board(token=b"first")
    again.clock.advance(SESSION_LIFETIME - 1)
    assert again.get(b"/api/status", headers=[cookie]).code == 200
    again.clock.advance(1)
    assert again.get(b"/api/status", headers=[cookie]).code == 401
    assert Board(token=b"second").get(b"/api/status", headers=[cookie]).code == 401
    issued, nonce, mac = cookie.split(b"=", 1)[1].split(b".")
    forged = b"Cookie: %s=%s.%s.%s" % (SESSION_COOKIE.encode(), issued, nonce, b"0" * len(mac))
    name = SESSION_COOKIE.encode()
    for bad in (forged, b"Cookie: %s=garbage" % name, b"Cookie: %s=1.2.\xff" % name):
        assert board.get(b"/api/status", headers=[bad]).code == 401


# Options


def test_a_tls_server_needs_a_tls_wallboard():
    options = ServerOptions()
    with pytest.raises(usage.UsageError, match="the wallboard must too"):
        options.parseOptions(["--listen", "ssl:5678:privateKey=k.pem", "--web", "tcp:8080"])
    options = ServerOptions()
    options.parseOptions(["--web", "tcp:8080:interface=127.0.0.1"])
    assert (options["web"], options["max-web-clients"]) == ("tcp:8080:interface=127.0.0.1", 1000)
