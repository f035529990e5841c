"""The Asterisk Manager Interface: the wire, the users file, the session and the queue actions,
each checked against what Asterisk 20 sends (main/manager.c, apps/app_queue.c), with
StringTransport and task.Clock."""

import hashlib

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from callcenter.core.asterisk import call_of_channel, operator_named, uniqueid
from callcenter.core.center import CallCenter
from callcenter.core.queues import parse_queues
from callcenter.net import amiwire
from callcenter.net.ami import ACTIONS, AmiFactory, leading_int, parse_callerid
from callcenter.net.amiqueue import QueueView, default_configs
from callcenter.net.amiusers import AmiUsersError, parse_users

USERS = """
[general]
enabled = yes

[admin]
secret = s3cret
read = all
write = all

[viewer]            ; reads events, runs only actions of no class
secret = look
read = agent
write =

[caller]
secret = dial
read = call
write = originate
"""

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def messages(data):
    """The messages in ``data`` (after the banner), each as a list of (key, value)."""
    if data.startswith(BANNER):
        data = data[len(BANNER) :]
    text = data.decode("utf-8")
    assert text.endswith("\r\n\r\n") or not text, text
    result = []
    for block in text.split("\r\n\r\n")[:-1]:
        result.append([tuple(line.split(": ", 1)) for line in block.split("\r\n")])
    return result


class Bench(object):
    """A call center, its manager port, and clients on StringTransports."""

    def __init__(self, operators=("A", "B"), queues=None, wrap_up=0.0, **center_options):
        self.clock = Clock()
        self.clock.advance(1_733_040_000)  # 2024-12-01: times look like Asterisk's epoch seconds
        configs = parse_queues(queues) if queues else None
        self.center = CallCenter(
            operators,
            self.clock.callLater,
            now=self.clock.seconds,
            queues=configs,
            wrap_up=wrap_up,
            **center_options,
        )
        configs = configs or default_configs(operators, center_options.get("strategy", "linear"), 0, 0.0)
        self.view = QueueView(self.center, configs, 20.0, wrap_up)
        self.factory = AmiFactory(
            self.center,
            self.view,
            parse_users(USERS),
            self.clock.callLater,
            self.clock.seconds,
            max_output_buffer=1 << 16,
            max_connections=5,
            auth_timeout=10.0,
            max_unauthenticated=3,
        )

    def connect(self):
        client = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        client.makeConnection(transport)
        return client, transport

    def login(self, user="admin", secret="s3cret", events=None):
        client, transport = self.connect()
        lines = "Action: Login\r\nUsername: %s\r\nSecret: %s\r\n" % (user, secret)
        if events is not None:
            lines += "Events: %s\r\n" % events
        client.dataReceived((lines + "\r\n").encode())
        transport.clear()
        return client, transport


def error(message):
    """What ask() returns for one error reply without ActionID."""
    return [[("Response", "Error"), ("Message", message)]]


def success(message):
    return [[("Response", "Success"), ("Message", message)]]


def ask(client, transport, *lines):
    transport.clear()
    client.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode())
    return messages(transport.value())


# The wire.


def test_a_message_ends_at_a_blank_line_with_crlf_or_bare_lf_and_in_any_pieces():
    parser = amiwire.MessageParser()
    data = b"Action: Ping\r\nActionID: 1\r\n\r\nAction: Ping\nActionID:  2\n\n"
    got = []
    for byte in range(len(data)):
        got.extend(parser.feed(data[byte : byte + 1]))
    assert [(m.get("action"), m.get("ACTIONID")) for m in got] == [("Ping", "1"), ("Ping", "2")]


def test_a_line_too_long_or_too_many_lines_is_answered_once_its_message_ends():
    parser = amiwire.MessageParser()
    got = parser.feed(b"ActionID: 7\r\nAction: Ping\r\nX: " + b"x" * 5000 + b"\r\n\r\n")
    assert [(m.error, m.get("ActionID")) for m in got] == [("Failed to parse message: line too long", "7")]
    got = parser.feed(b"".join(b"H%d: v\r\n" % n for n in range(200)) + b"\r\n")
    assert [m.error for m in got] == ["Too many lines in message or allocation failure"]
    assert len(got[0].headers) == amiwire.MAX_HEADERS
    # What it holds stays bounded while a line without end arrives.
    for _ in range(100):
        parser.feed(b"y" * 4096)
    assert len(parser._buffer) <= amiwire.MAX_LINE + 1
    assert [m.error for m in parser.feed(b"\r\n\r\n")] == ["Failed to parse message: line too long"]


def test_encoded_values_cannot_end_a_line_and_events_say_their_classes():
    assert amiwire.response("a\rb", message="ok") == b"Response: Success\r\nActionID: a b\r\nMessage: ok\r\n\r\n"
    assert amiwire.privilege(amiwire.AGENT) == "agent,all"
    assert amiwire.privilege(amiwire.SYSTEM | amiwire.CALL) == "system,call,all"
    assert amiwire.privilege(0) == "<none>"
    assert amiwire.event_mask("off") == 0 and amiwire.event_mask("on") == amiwire.ALL
    assert amiwire.event_mask("agent,call") == amiwire.AGENT | amiwire.CALL
    assert amiwire.event_mask("") == -1


def test_the_users_file_has_manager_conf_shape_and_never_shows_a_secret():
    users = parse_users(USERS)
    assert sorted(users) == ["admin", "caller", "viewer"]
    assert users["admin"].write == amiwire.ALL and users["viewer"].read == amiwire.AGENT
    assert users["caller"].write == amiwire.ORIGINATE
    assert "s3cret" not in repr(users)
    with pytest.raises(AmiUsersError, match="user x has no secret"):
        parse_users("[x]\nread = all\n")
    with pytest.raises(AmiUsersError) as error:
        parse_users("secret = hidden\n[x]\n")
    assert "hidden" not in str(error.value)
    with pytest.raises(AmiUsersError, match="no user"):
        parse_users("[general]\nenabled = yes\n")


# The session.


def test_the_banner_then_login_accepted_then_fully_booted():
    bench = Bench()
    client, transport = bench.connect()
    assert transport.value() == BANNER
    bench.clock.advance(5)
    got = ask(client, transport, "Action: Login", "ActionID: 1", "Username: admin", "Secret: s3cret")
    assert got == [
        [("Response", "Success"), ("ActionID", "1"), ("Message", "Authentication accepted")],
        [
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Uptime", "5"),
            ("LastReload", "5"),
            ("Status", "Fully Booted"),
        ],
    ]
    assert ask(client, transport, "Action: Login", "Username: admin", "Secret: s3cret") == success(
        "Already authenticated"
    )


def test_a_failed_login_is_answered_a_second_later_without_blocking_then_closed():
    bench = Bench()
    client, transport = bench.connect()
    other, other_transport = bench.login()
    assert ask(client, transport, "Action: Login", "ActionID: x", "Username: admin", "Secret: wrong") == []
    client.dataReceived(b"Action: Ping\r\n\r\n")  # nothing more is handled meanwhile
    assert ask(other, other_transport, "Action: Ping")[0][1] == ("Ping", "Pong")  # the others go on
    bench.clock.advance(0.99)
    assert transport.value() == b"" and transport.connected
    bench.clock.advance(0.01)
    assert messages(transport.value()) == [
        [("Response", "Error"), ("ActionID", "x"), ("Message", "Authentication failed")]
    ]
    assert transport.disconnecting


def test_md5_login_after_a_challenge():
    bench = Bench()
    client, transport = bench.connect()
    got = ask(client, transport, "Action: Challenge", "AuthType: MD5", "ActionID: c")
    assert got[0][:2] == [("Response", "Success"), ("ActionID", "c")] and got[0][2][0] == "Challenge"
    challenge = got[0][2][1]
    key = hashlib.md5((challenge + "look").encode()).hexdigest()
    got = ask(client, transport, "Action: Login", "AuthType: MD5", "Username: viewer", "Key: " + key)
    assert got == success("Authentication accepted")  # no system: no FullyBooted
    assert ask(client, transport, "Action: Challenge") == error("Must specify AuthType")


def test_md5_without_a_challenge_fails():
    bench = Bench()
    client, transport = bench.connect()
    key = hashlib.md5(b"look").hexdigest()
    ask(client, transport, "Action: Login", "AuthType: MD5", "Username: viewer", "Key: " + key)
    bench.clock.advance(1)
    assert messages(transport.value())[-1][-1] == ("Message", "Authentication failed")


def test_before_login_only_login_logoff_and_challenge_and_errors_as_asterisk_words_them():
    bench = Bench()
    client, transport = bench.connect()
    assert ask(client, transport, "Action: QueueStatus", "ActionID: 9") == [
        [("Response", "Error"), ("ActionID", "9"), ("Message", "Permission denied")]
    ]
    assert ask(client, transport, "ActionID: 3") == [
        [("Response", "Error"), ("ActionID", "3"), ("Message", "Missing action in request")]
    ]
    client, transport = bench.login()
    assert ask(client, transport, "Action: Dance") == [
        [
            ("Response", "Error"),
            ("Message", "Invalid/unknown command: Dance. Use Action: ListCommands to show available commands."),
        ]
    ]
    assert ask(client, transport, "action: ping", "actionid: low")[0][:3] == [
        ("Response", "Success"),
        ("ActionID", "low"),
        ("Ping", "Pong"),
    ]


def test_ping_tells_the_time_and_logoff_says_goodbye_and_closes():
    bench = Bench()
    client, transport = bench.login()
    bench.clock.advance(0.25)
    assert ask(client, transport, "Action: Ping") == [
        [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", "1733040000.250000")]
    ]
    assert ask(client, transport, "Action: Logoff", "ActionID: bye") == [
        [("Response", "Goodbye"), ("ActionID", "bye"), ("Message", "Thanks for all the fish.")]
    ]
    assert transport.disconnecting


def test_permission_denied_for_an_action_of_a_class_the_user_cannot_write():
    bench = Bench()
    client, transport = bench.login("viewer", "look")
    for action in ("QueuePause", "Originate", "Hangup", "CoreSettings", "QueueAdd"):
        assert ask(client, transport, "Action: " + action) == error("Permission denied")
    assert ask(client, transport, "Action: QueueSummary")[0][0] == ("Response", "Success")


def test_listcommands_lists_what_the_user_may_run_with_its_classes():
    bench = Bench()
    client, transport = bench.login("viewer", "look")
    (reply,) = ask(client, transport, "Action: ListCommands", "ActionID: l")
    assert reply[:2] == [("Response", "Success"), ("ActionID", "l")]
    listed = dict(reply[2:])
    assert listed["Ping"] == "Keepalive command. (Priv: <none>)"
    assert listed["QueueStatus"] == "Show queue status. (Priv: <none>)"
    assert "QueuePause" not in listed and "Originate" not in listed
    client, transport = bench.login()
    listed = dict(ask(client, transport, "Action: ListCommands")[0][1:])
    assert listed["Hangup"] == "Hangup channel. (Priv: system,call,all)"
    assert listed["QueuePause"] == "Makes a queue member temporarily unavailable. (Priv: agent,all)"
    assert list(listed) == [action.name for action in ACTIONS.values()]


def test_coresettings_and_corestatus_fields_in_asterisks_order():
    bench = Bench()
    client, transport = bench.login()
    bench.center.execute("call", "1")
    bench.center.execute("call", "2")
    bench.center.execute("call", "3")
    (settings,) = ask(client, transport, "Action: CoreSettings", "ActionID: s")
    assert [key for key, _ in settings] == [
        "Response",
        "ActionID",
        "AMIversion",
        "AsteriskVersion",
        "SystemName",
        "CoreMaxCalls",
        "CoreMaxLoadAvg",
        "CoreRunUser",
        "CoreRunGroup",
        "CoreMaxFilehandles",
        "CoreRealTimeEnabled",
        "CoreCDRenabled",
        "CoreHTTPenabled",
        "SoundsSearchCustomDir",
    ]
    assert dict(settings)["AMIversion"] == "9.0.0" and dict(settings)["AsteriskVersion"].startswith("20.")
    (status,) = ask(client, transport, "Action: CoreStatus")
    assert [key for key, _ in status][1:] == [
        "CoreStartupDate",
        "CoreStartupTime",
        "CoreReloadDate",
        "CoreReloadTime",
        "CoreCurrentCalls",
        "CoreProcessedCalls",
    ]
    assert dict(status)["CoreCurrentCalls"] == "3" and dict(status)["CoreProcessedCalls"] == "3"


def test_events_action_and_login_events_header_choose_what_is_heard():
    bench = Bench()
    client, transport = bench.login()
    assert ask(client, transport, "Action: Events", "EventMask: off") == [[("Response", "Success"), ("Events", "Off")]]
    transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Test", amiwire.AGENT, ()))
    assert transport.value() == b""
    assert ask(client, transport, "Action: Events", "EventMask: agent") == [[("Response", "Success"), ("Events", "On")]]
    transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Test", amiwire.AGENT, (("A", 1),)))
    bench.factory.broadcast(amiwire.CALL, amiwire.event("Other", amiwire.CALL, ()))
    assert messages(transport.value()) == [[("Event", "Test"), ("Privilege", "agent,all"), ("A", "1")]]
    assert ask(client, transport, "Action: Events") == error("Invalid event mask")
    _quiet, quiet_transport = bench.login(events="off")
    _viewer, viewer_transport = bench.login("viewer", "look", events="on")  # on: all it may read
    transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Test", amiwire.AGENT, ()))
    bench.factory.broadcast(amiwire.SYSTEM, amiwire.event("Sys", amiwire.SYSTEM, ()))
    assert quiet_transport.value() == b""
    assert [m[0] for m in messages(viewer_transport.value())] == [("Event", "Test")]


def test_a_client_that_never_logs_in_is_closed_at_the_deadline():
    bench = Bench()
    _client, transport = bench.connect()
    bench.clock.advance(9.9)
    assert not transport.disconnecting
    bench.clock.advance(0.1)
    assert transport.disconnecting
    _logged, logged_transport = bench.login()
    bench.clock.advance(60)
    assert not logged_transport.disconnecting


def test_too_many_waiting_to_log_in_the_oldest_goes_and_past_the_limit_one_error():
    bench = Bench()  # 5 connections at most, 3 of them waiting to log in
    waiting = [bench.connect() for _ in range(3)]
    newest = bench.connect()
    assert waiting[0][1].disconnecting and not waiting[1][1].disconnecting and not newest[1].disconnecting
    logged = [bench.login() for _ in range(3)]  # the first of them takes waiting[1]'s place
    assert waiting[1][1].disconnecting and len(bench.factory.clients) == 5
    bench.login()  # full: the oldest still waiting to log in makes room
    assert waiting[2][1].disconnecting and not newest[1].disconnecting
    bench.login()
    assert newest[1].disconnecting and len(bench.factory.clients) == 5
    refused = bench.factory.buildProtocol(None)
    transport = StringTransport()
    refused.makeConnection(transport)
    assert transport.value() == BANNER + b"Response: Error\r\nMessage: Too many connections (limit 5)\r\n\r\n"
    assert transport.disconnecting and not any(t.disconnecting for _, t in logged)


def test_a_client_that_never_reads_is_cut_off_and_the_others_go_on():
    bench = Bench()
    _client, _transport = bench.login()
    _other, other_transport = bench.login()
    for _ in range(2000):
        bench.factory.broadcast(amiwire.AGENT, amiwire.event("Filler", amiwire.AGENT, (("X", "y" * 40),)))
    # StringTransport keeps what is "sent": unsent_bytes is 0 there; the bound is checked in
    # the processes test. Here: every client heard every event, in order.
    assert len(messages(other_transport.value())) == 2000


def test_fuzzed_input_gets_errors_and_changes_nothing():
    import random

    bench = Bench()
    client, transport = bench.login()
    before = bench.center.status()
    rng = random.Random(29)
    alphabet = b"ActionQueuePause:Interface\r\n \x00\xff/"
    for _ in range(500):
        junk = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 200)))
        client.dataReceived(junk)
    client.dataReceived(b"\r\n\r\n")
    assert bench.center.status() == before
    assert not transport.disconnecting
    assert ask(client, transport, "Action: Ping")[0][1] == ("Ping", "Pong")


# The queues.


def test_queuestatus_lists_params_members_and_entries_in_asterisks_order():
    bench = Bench(operators=("A", "B"))
    client, transport = bench.login()
    bench.center.execute("call", "1")
    bench.center.execute("answer", "A")
    bench.center.execute("call", "2")
    bench.center.execute("call", "3")
    bench.clock.advance(7)
    got = ask(client, transport, "Action: QueueStatus", "ActionID: q")
    assert got[0] == [
        ("Response", "Success"),
        ("ActionID", "q"),
        ("EventList", "start"),
        ("Message", "Queue status will follow"),
    ]
    names = [m[0][1] for m in got[1:]]
    assert names == ["QueueParams", "QueueMember", "QueueMember", "QueueEntry", "QueueStatusComplete"]
    params = got[1]
    assert [key for key, _ in params] == [
        "Event",
        "Queue",
        "Max",
        "Strategy",
        "Calls",
        "Holdtime",
        "TalkTime",
        "Completed",
        "Abandoned",
        "ServiceLevel",
        "ServicelevelPerf",
        "ServicelevelPerf2",
        "Weight",
        "ActionID",
    ]
    assert dict(params)["Queue"] == "default" and dict(params)["Calls"] == "1"
    assert dict(params)["ServicelevelPerf"] == "100.0" and dict(params)["Strategy"] == "linear"
    member_a = got[2]
    assert member_a == [
        ("Event", "QueueMember"),
        ("Queue", "default"),
        ("Name", "A"),
        ("Location", "Agent/A"),
        ("StateInterface", "Agent/A"),
        ("Membership", "static"),
        ("Penalty", "0"),
        ("CallsTaken", "0"),
        ("LastCall", "0"),
        ("LastPause", "0"),
        ("LoginTime", "1733040000"),
        ("InCall", "1"),
        ("Status", "2"),
        ("Paused", "0"),
        ("PausedReason", ""),
        ("Wrapuptime", "0"),
        ("ActionID", "q"),
    ]
    assert dict(got[3])["Status"] == "6"  # B rings with call 2
    assert got[4] == [
        ("Event", "QueueEntry"),
        ("Queue", "default"),
        ("Position", "1"),
        ("Channel", "Local/3@callcenter"),
        ("Uniqueid", "1733040000.3"),
        ("CallerIDNum", "3"),
        ("CallerIDName", "unknown"),
        ("ConnectedLineNum", "unknown"),
        ("ConnectedLineName", "unknown"),
        ("Wait", "7"),
        ("Priority", "0"),
        ("ActionID", "q"),
    ]
    assert got[5] == [
        ("Event", "QueueStatusComplete"),
        ("ActionID", "q"),
        ("EventList", "Complete"),
        ("ListItems", "4"),
    ]


QUEUES = """
[sales]
operators = A, B:1
strategy = ring-all
max-queue = 5
weight = 2

[support]
operators = B, C
"""


def test_queuestatus_filters_by_queue_and_member_and_an_unknown_queue_is_an_empty_list():
    bench = Bench(queues=QUEUES)
    client, transport = bench.login()
    got = ask(client, transport, "Action: QueueStatus", "Queue: SUPPORT")
    assert [(m[0][1], dict(m).get("Name")) for m in got[1:-1]] == [
        ("QueueParams", None),
        ("QueueMember", "B"),
        ("QueueMember", "C"),
    ]
    got = ask(client, transport, "Action: QueueStatus", "Member: Agent/B")
    assert [(dict(m)["Queue"], dict(m).get("Name"), dict(m).get("Penalty")) for m in got[1:-1]] == [
        ("sales", None, None),
        ("sales", "B", "1"),
        ("support", None, None),
        ("support", "B", "0"),
    ]
    sales = dict(got[1])
    assert (sales["Strategy"], sales["Max"], sales["Weight"]) == ("ringall", "5", "2")
    got = ask(client, transport, "Action: QueueStatus", "Queue: nowhere")
    assert got[1] == [("Event", "QueueStatusComplete"), ("EventList", "Complete"), ("ListItems", "0")]


def test_queuesummary_counts_members_and_callers():
    bench = Bench(operators=("A", "B", "C"))
    client, transport = bench.login()
    bench.center.execute("pause", "C")
    bench.center.execute("call", "1")
    bench.center.execute("call", "2")
    bench.center.execute("call", "3")
    bench.clock.advance(12)
    got = ask(client, transport, "Action: QueueSummary", "ActionID: s")
    assert got[0][2:] == [("EventList", "start"), ("Message", "Queue summary will follow")]
    assert got[1] == [
        ("Event", "QueueSummary"),
        ("Queue", "default"),
        ("LoggedIn", "3"),
        ("Available", "0"),
        ("Callers", "1"),
        ("HoldTime", "0"),
        ("TalkTime", "0"),
        ("LongestHoldTime", "12"),
        ("ActionID", "s"),
    ]
    assert got[2] == [
        ("Event", "QueueSummaryComplete"),
        ("ActionID", "s"),
        ("EventList", "Complete"),
        ("ListItems", "1"),
    ]


def test_queuepause_pauses_with_a_reason_and_unpauses():
    bench = Bench()
    client, transport = bench.login()
    assert ask(
        client, transport, "Action: QueuePause", "Interface: Agent/A", "Paused: true", "Reason: lunch break"
    ) == success("Interface paused successfully")
    assert bench.center.status()[0] == "Operator A paused: lunch break"
    member = dict(ask(client, transport, "Action: QueueStatus", "Member: A")[2])
    assert (member["Paused"], member["PausedReason"], member["Status"]) == ("1", "lunch break", "1")
    assert member["LastPause"] == "1733040000"
    assert ask(client, transport, "Action: QueuePause", "Interface: A", "Paused: no", "Queue: default") == success(
        "Interface unpaused successfully"
    )
    assert bench.center.status()[0] == "Operator A available"
    assert ask(client, transport, "Action: QueuePause", "Interface: Agent/Z", "Paused: 1") == error(
        "Interface not found"
    )
    assert ask(client, transport, "Action: QueuePause", "Interface: Agent/A") == error(
        "Need 'Interface' and 'Paused' parameters."
    )


def test_queueadd_and_queueremove_of_a_dynamic_member():
    bench = Bench()
    client, transport = bench.login()
    assert ask(
        client, transport, "Action: QueueAdd", "Queue: default", "Interface: Agent/Z", "MemberName: Z"
    ) == success("Added interface to queue")
    member = [m for m in ask(client, transport, "Action: QueueStatus", "Member: Z") if dict(m).get("Name") == "Z"]
    assert dict(member[0])["Membership"] == "dynamic" and dict(member[0])["Status"] == "1"
    assert ask(client, transport, "Action: QueueAdd", "Queue: default", "Interface: Agent/Z") == error(
        "Unable to add interface: Already there"
    )
    assert ask(client, transport, "Action: QueueAdd", "Queue: other", "Interface: Agent/Y") == error(
        "Unable to add interface to queue: No such queue"
    )
    assert ask(client, transport, "Action: QueueRemove", "Queue: default", "Interface: Agent/A") == error(
        "Member not dynamic"
    )
    assert ask(client, transport, "Action: QueueRemove", "Queue: default", "Interface: Agent/Z") == success(
        "Removed interface from queue"
    )
    assert ask(client, transport, "Action: QueueRemove", "Queue: default", "Interface: Agent/Z") == error(
        "Unable to remove interface: Not there"
    )
    assert ask(client, transport, "Action: QueueRemove", "Queue: x", "Interface: Agent/Z") == error(
        "Unable to remove interface from queue: No such queue"
    )
    assert ask(client, transport, "Action: QueueRemove", "Queue: default") == error(
        "Need 'Queue' and 'Interface' parameters."
    )
    assert ask(client, transport, "Action: QueueAdd", "Queue: default", "Interface: Agent/Z", "Paused: yes") == success(
        "Added interface to queue"
    )
    assert bench.center.status()[2] == "Operator Z paused"


def test_queuepenalty_only_confirms_the_level_of_the_file_and_queuereset_cannot_reset():
    bench = Bench(queues=QUEUES)
    client, transport = bench.login()
    assert ask(
        client, transport, "Action: QueuePenalty", "Interface: Agent/B", "Penalty: 1", "Queue: sales"
    ) == success("Interface penalty set successfully")
    assert ask(client, transport, "Action: QueuePenalty", "Interface: Agent/B", "Penalty: 3") == error(
        "Invalid interface, queuename or penalty"
    )
    assert ask(client, transport, "Action: QueueReset", "Queue: sales") == error(
        "Error encountered while resetting queue stats"
    )


def test_originate_into_a_queue_places_a_call_and_an_async_one_reports_it():
    bench = Bench(operators=("A",))
    client, transport = bench.login()
    got = ask(
        client,
        transport,
        "Action: Originate",
        "ActionID: o",
        "Channel: PJSIP/100",
        "Application: Queue",
        "Data: default",
        'CallerID: "Ann" <100>',
        "Async: true",
    )
    assert got[0] == [("Response", "Success"), ("ActionID", "o"), ("Message", "Originate successfully queued")]
    assert got[1] == [
        ("Event", "OriginateResponse"),
        ("Privilege", "call,all"),
        ("ActionID", "o"),
        ("Response", "Success"),
        ("Channel", "Local/100@callcenter"),
        ("Application", "Queue"),
        ("Data", "default"),
        ("Reason", "4"),
        ("Uniqueid", "1733040000.100"),
        ("CallerIDNum", "100"),
        ("CallerIDName", "Ann"),
    ]
    assert bench.center.status() == ["Operator A ringing with call 100"]
    # The same number again: refused by the core, reported as a failure.
    got = ask(
        client, transport, "Action: Originate", "Channel: PJSIP/100", "Application: Queue", "Data: default",
        "CallerID: 100", "Async: yes",
    )  # fmt: skip
    assert dict(got[1])["Response"] == "Failure"
    assert ask(
        client, transport, "Action: Originate", "Channel: PJSIP/1", "Exten: 100", "Context: default", "Priority: 1"
    ) == error("Originate failed")
    assert ask(client, transport, "Action: Originate") == error("Channel not specified")
    assert ask(client, transport, "Action: Originate", "Channel: nothing") == error("Invalid channel")
    assert ask(
        client, transport, "Action: Originate", "Channel: PJSIP/7", "Application: Queue", "Data: default", "CallerID: 7"
    ) == success("Originate successfully queued")
    assert bench.center.status()[-1] == "Queued call 7"


def test_hangup_by_the_callers_channel():
    bench = Bench(operators=("A",))
    client, transport = bench.login()
    bench.center.execute("call", "1")
    assert ask(client, transport, "Action: Hangup", "Channel: Local/1@callcenter") == success("Channel Hungup")
    assert bench.center.status() == ["Operator A available"]
    assert ask(client, transport, "Action: Hangup", "Channel: Local/1@callcenter") == error("No such channel")
    assert ask(client, transport, "Action: Hangup") == error("No channel specified")


def test_naming_helpers():
    assert operator_named("Agent/A") == "A" and operator_named("A") == "A" and operator_named("PJSIP/a/b") == "a/b"
    assert call_of_channel("Local/7@callcenter") == "7" and call_of_channel("SIP/7") is None
    assert uniqueid("a|b", 12.9) == "12.a_b"
    assert parse_callerid('"Bob Smith" <555>') == ("Bob Smith", "555")
    assert parse_callerid("555") == ("", "555")
    assert parse_callerid("Bob Smith") == ("Bob Smith", "")
    assert leading_int("12abc") == 12 and leading_int("x", None) is None
