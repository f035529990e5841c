"""The Asterisk Manager Interface's sessions and queue actions (net/ami.py, net/amiqueue.py),
each checked against what Asterisk 20 sends (main/manager.c, apps/app_queue.c), with
StringTransport and task.Clock."""

import hashlib
import random

from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from zope.interface import implementer
from zope.interface.verify import verifyObject

from callcenter.core.model import ChangeRefusedError
from callcenter.interfaces import ILeadership
from callcenter.net import amiwire
from callcenter.net.ami import ACTIONS, leading_int, parse_callerid
from support import BANNER, AmiBench, ami_ask, ami_error, ami_messages, ami_success

# The session.


def test_the_banner_then_login_accepted_then_fully_booted():
    bench = AmiBench()
    client, transport = bench.connect()
    assert transport.value() == BANNER
    bench.clock.advance(5)
    got = ami_ask(client, transport, "Action: Login", "ActionID: 1", "Username: admin", "Secret: s3cret")
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
    assert ami_ask(client, transport, "Action: Login", "Username: admin", "Secret: s3cret") == ami_success(
        "Already authenticated"
    )


def test_a_failed_login_is_answered_a_second_later_without_blocking_then_closed():
    bench = AmiBench()
    client, transport = bench.connect()
    other, other_transport = bench.login()
    assert ami_ask(client, transport, "Action: Login", "ActionID: x", "Username: admin", "Secret: wrong") == []
    client.dataReceived(b"Action: Ping\r\n\r\n")  # nothing more is handled meanwhile
    assert ami_ask(other, other_transport, "Action: Ping")[0][1] == ("Ping", "Pong")  # the others go on
    bench.clock.advance(0.99)
    assert transport.value() == b"" and transport.connected
    bench.clock.advance(0.01)
    assert ami_messages(transport.value()) == [
        [("Response", "Error"), ("ActionID", "x"), ("Message", "Authentication failed")]
    ]
    assert transport.disconnecting


def test_md5_login_after_a_challenge():
    bench = AmiBench()
    client, transport = bench.connect()
    got = ami_ask(client, transport, "Action: Challenge", "AuthType: MD5", "ActionID: c")
    assert got[0][:2] == [("Response", "Success"), ("ActionID", "c")] and got[0][2][0] == "Challenge"
    challenge = got[0][2][1]
    key = hashlib.md5((challenge + "look").encode()).hexdigest()
    got = ami_ask(client, transport, "Action: Login", "AuthType: MD5", "Username: viewer", "Key: " + key)
    assert got == ami_success("Authentication accepted")  # no system: no FullyBooted
    assert ami_ask(client, transport, "Action: Challenge") == ami_error("Must specify AuthType")


def test_md5_without_a_challenge_fails():
    bench = AmiBench()
    client, transport = bench.connect()
    key = hashlib.md5(b"look").hexdigest()
    ami_ask(client, transport, "Action: Login", "AuthType: MD5", "Username: viewer", "Key: " + key)
    bench.clock.advance(1)
    assert ami_messages(transport.value())[-1][-1] == ("Message", "Authentication failed")


def test_before_login_only_login_logoff_and_challenge_and_errors_as_asterisk_words_them():
    bench = AmiBench()
    client, transport = bench.connect()
    assert ami_ask(client, transport, "Action: QueueStatus", "ActionID: 9") == [
        [("Response", "Error"), ("ActionID", "9"), ("Message", "Permission denied")]
    ]
    assert ami_ask(client, transport, "ActionID: 3") == [
        [("Response", "Error"), ("ActionID", "3"), ("Message", "Missing action in request")]
    ]
    client, transport = bench.login()
    assert ami_ask(client, transport, "Action: Dance") == [
        [
            ("Response", "Error"),
            ("Message", "Invalid/unknown command: Dance. Use Action: ListCommands to show available commands."),
        ]
    ]
    assert ami_ask(client, transport, "action: ping", "actionid: low")[0][:3] == [
        ("Response", "Success"),
        ("ActionID", "low"),
        ("Ping", "Pong"),
    ]


def test_ping_tells_the_time_and_logoff_says_goodbye_and_closes():
    bench = AmiBench()
    client, transport = bench.login()
    bench.clock.advance(0.25)
    assert ami_ask(client, transport, "Action: Ping") == [
        [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", "1733040000.250000")]
    ]
    assert ami_ask(client, transport, "Action: Logoff", "ActionID: bye") == [
        [("Response", "Goodbye"), ("ActionID", "bye"), ("Message", "Thanks for all the fish.")]
    ]
    assert transport.disconnecting


def test_permission_denied_for_an_action_of_a_class_the_user_cannot_write():
    bench = AmiBench()
    client, transport = bench.login("viewer", "look")
    for action in ("QueuePause", "Originate", "Hangup", "CoreSettings", "QueueAdd"):
        assert ami_ask(client, transport, "Action: " + action) == ami_error("Permission denied")
    assert ami_ask(client, transport, "Action: QueueSummary")[0][0] == ("Response", "Success")


def test_listcommands_lists_what_the_user_may_run_with_its_classes():
    bench = AmiBench()
    client, transport = bench.login("viewer", "look")
    (reply,) = ami_ask(client, transport, "Action: ListCommands", "ActionID: l")
    assert reply[:2] == [("Response", "Success"), ("ActionID", "l")]
    listed = dict(reply[2:])
    assert listed["Ping"] == "Keepalive command. (Priv: <none>)"
    assert listed["QueueStatus"] == "Show queue status. (Priv: <none>)"
    assert "QueuePause" not in listed and "Originate" not in listed
    client, transport = bench.login()
    listed = dict(ami_ask(client, transport, "Action: ListCommands")[0][1:])
    assert listed["Hangup"] == "Hangup channel. (Priv: system,call,all)"
    assert listed["QueuePause"] == "Makes a queue member temporarily unavailable. (Priv: agent,all)"
    assert list(listed) == [action.name for action in ACTIONS.values()]


def test_coresettings_and_corestatus_fields_in_asterisks_order():
    bench = AmiBench()
    client, transport = bench.login()
    bench.center.execute("call", "1")
    bench.center.execute("call", "2")
    bench.center.execute("call", "3")
    (settings,) = ami_ask(client, transport, "Action: CoreSettings", "ActionID: s")
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
    (status,) = ami_ask(client, transport, "Action: CoreStatus")
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
    bench = AmiBench()
    client, transport = bench.login()
    assert ami_ask(client, transport, "Action: Events", "EventMask: off") == [
        [("Response", "Success"), ("Events", "Off")]
    ]
    transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Test", amiwire.AGENT, ()))
    bench.clock.advance(0)  # a turn's events go out at its end
    assert transport.value() == b""
    assert ami_ask(client, transport, "Action: Events", "EventMask: agent") == [
        [("Response", "Success"), ("Events", "On")]
    ]
    transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Test", amiwire.AGENT, (("A", 1),)))
    bench.factory.broadcast(amiwire.CALL, amiwire.event("Other", amiwire.CALL, ()))
    bench.clock.advance(0)
    assert ami_messages(transport.value()) == [[("Event", "Test"), ("Privilege", "agent,all"), ("A", "1")]]
    assert ami_ask(client, transport, "Action: Events") == ami_error("Invalid event mask")
    _quiet, quiet_transport = bench.login(events="off")
    _viewer, viewer_transport = bench.login("viewer", "look", events="on")  # on: all it may read
    transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Test", amiwire.AGENT, ()))
    bench.factory.broadcast(amiwire.SYSTEM, amiwire.event("Sys", amiwire.SYSTEM, ()))
    bench.clock.advance(0)
    assert quiet_transport.value() == b""
    assert [m[0] for m in ami_messages(viewer_transport.value())] == [("Event", "Test")]


def test_a_client_that_never_logs_in_is_closed_at_the_deadline():
    bench = AmiBench()
    _client, transport = bench.connect()
    bench.clock.advance(9.9)
    assert not transport.disconnecting
    bench.clock.advance(0.1)
    assert transport.disconnecting
    _logged, logged_transport = bench.login()
    bench.clock.advance(60)
    assert not logged_transport.disconnecting


def test_too_many_waiting_to_log_in_the_oldest_goes_and_past_the_limit_one_error():
    bench = AmiBench()  # 5 connections at most, 3 of them waiting to log in
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


def test_the_events_of_a_turn_go_out_in_one_write_after_the_replies_before_them():
    bench = AmiBench()
    client, transport = bench.login()
    writes = []
    transport.write = lambda data: writes.append(data)
    for number in range(2000):
        bench.factory.broadcast(amiwire.AGENT, amiwire.event("Filler", amiwire.AGENT, (("X", number),)))
    client.dataReceived(b"Action: Ping\r\nActionID: p\r\n\r\n")  # its reply after the events before it
    bench.clock.advance(0)
    data = b"".join(writes)
    assert len(writes) == 1
    assert [dict(m).get("X", dict(m).get("ActionID")) for m in ami_messages(data)] == [str(n) for n in range(2000)] + [
        "p"
    ]


class HeldOutput(object):
    """An IDurableOutput whose commits the test completes: every reply waits for ``commit``."""

    def __init__(self):
        self.waiting = []

    def when_durable(self):
        waiting = Deferred()
        self.waiting.append(waiting)
        return waiting

    def commit(self):
        waiting, self.waiting = self.waiting, []
        for deferred in waiting:
            deferred.callback(None)


def test_events_that_come_while_a_reply_waits_for_the_disk_follow_it_others_hear_them_at_once():
    bench = AmiBench()
    client, transport = bench.login()
    _other, other_transport = bench.login()
    durable = HeldOutput()
    bench.factory.durable_output = durable
    transport.clear()
    other_transport.clear()
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("Before", amiwire.AGENT, ()))
    client.dataReceived(b"Action: Ping\r\nActionID: p\r\n\r\n")
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("While", amiwire.AGENT, ()))
    bench.clock.advance(0)
    assert [m[0] for m in ami_messages(transport.value())] == [("Event", "Before")]
    assert [m[0] for m in ami_messages(other_transport.value())] == [("Event", "Before"), ("Event", "While")]
    durable.commit()
    assert [m[0][1] for m in ami_messages(transport.value())] == ["Before", "Success", "While"]
    bench.factory.broadcast(amiwire.AGENT, amiwire.event("After", amiwire.AGENT, ()))
    bench.clock.advance(0)
    assert ami_messages(transport.value())[-1][0] == ("Event", "After")
    assert ami_messages(other_transport.value())[-1][0] == ("Event", "After")


def test_fuzzed_input_gets_errors_and_changes_nothing():
    bench = AmiBench()
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
    assert ami_ask(client, transport, "Action: Ping")[0][1] == ("Ping", "Pong")


# The queues.


def test_queuestatus_lists_params_members_and_entries_in_asterisks_order():
    bench = AmiBench(operators=("A", "B"))
    client, transport = bench.login()
    bench.center.execute("call", "1")
    bench.center.execute("answer", "A")
    bench.center.execute("call", "2")
    bench.center.execute("call", "3")
    bench.clock.advance(7)
    got = ami_ask(client, transport, "Action: QueueStatus", "ActionID: q")
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
    bench = AmiBench(queues=QUEUES)
    client, transport = bench.login()
    got = ami_ask(client, transport, "Action: QueueStatus", "Queue: SUPPORT")
    assert [(m[0][1], dict(m).get("Name")) for m in got[1:-1]] == [
        ("QueueParams", None),
        ("QueueMember", "B"),
        ("QueueMember", "C"),
    ]
    got = ami_ask(client, transport, "Action: QueueStatus", "Member: Agent/B")
    assert [(dict(m)["Queue"], dict(m).get("Name"), dict(m).get("Penalty")) for m in got[1:-1]] == [
        ("sales", None, None),
        ("sales", "B", "1"),
        ("support", None, None),
        ("support", "B", "0"),
    ]
    sales = dict(got[1])
    assert (sales["Strategy"], sales["Max"], sales["Weight"]) == ("ringall", "5", "2")
    got = ami_ask(client, transport, "Action: QueueStatus", "Queue: nowhere")
    assert got[1] == [("Event", "QueueStatusComplete"), ("EventList", "Complete"), ("ListItems", "0")]


def test_queuesummary_counts_members_and_callers():
    bench = AmiBench(operators=("A", "B", "C"))
    client, transport = bench.login()
    bench.center.execute("pause", "C")
    bench.center.execute("call", "1")
    bench.center.execute("call", "2")
    bench.center.execute("call", "3")
    bench.clock.advance(12)
    got = ami_ask(client, transport, "Action: QueueSummary", "ActionID: s")
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
    bench = AmiBench()
    client, transport = bench.login()
    assert ami_ask(
        client, transport, "Action: QueuePause", "Interface: Agent/A", "Paused: true", "Reason: lunch break"
    ) == ami_success("Interface paused successfully")
    assert bench.center.status()[0] == "Operator A paused: lunch break"
    member = dict(ami_ask(client, transport, "Action: QueueStatus", "Member: A")[2])
    assert (member["Paused"], member["PausedReason"], member["Status"]) == ("1", "lunch break", "1")
    assert member["LastPause"] == "1733040000"
    assert ami_ask(
        client, transport, "Action: QueuePause", "Interface: A", "Paused: no", "Queue: default"
    ) == ami_success("Interface unpaused successfully")
    assert bench.center.status()[0] == "Operator A available"
    assert ami_ask(client, transport, "Action: QueuePause", "Interface: Agent/Z", "Paused: 1") == ami_error(
        "Interface not found"
    )
    assert ami_ask(client, transport, "Action: QueuePause", "Interface: Agent/A") == ami_error(
        "Need 'Interface' and 'Paused' parameters."
    )


def test_queueadd_and_queueremove_of_a_dynamic_member():
    bench = AmiBench()
    client, transport = bench.login()
    assert ami_ask(
        client, transport, "Action: QueueAdd", "Queue: default", "Interface: Agent/Z", "MemberName: Z"
    ) == ami_success("Added interface to queue")
    member = [m for m in ami_ask(client, transport, "Action: QueueStatus", "Member: Z") if dict(m).get("Name") == "Z"]
    assert dict(member[0])["Membership"] == "dynamic" and dict(member[0])["Status"] == "1"
    assert ami_ask(client, transport, "Action: QueueAdd", "Queue: default", "Interface: Agent/Z") == ami_error(
        "Unable to add interface: Already there"
    )
    assert ami_ask(client, transport, "Action: QueueAdd", "Queue: other", "Interface: Agent/Y") == ami_error(
        "Unable to add interface to queue: No such queue"
    )
    assert ami_ask(client, transport, "Action: QueueRemove", "Queue: default", "Interface: Agent/A") == ami_error(
        "Member not dynamic"
    )
    assert ami_ask(client, transport, "Action: QueueRemove", "Queue: default", "Interface: Agent/Z") == ami_success(
        "Removed interface from queue"
    )
    assert ami_ask(client, transport, "Action: QueueRemove", "Queue: default", "Interface: Agent/Z") == ami_error(
        "Unable to remove interface: Not there"
    )
    assert ami_ask(client, transport, "Action: QueueRemove", "Queue: x", "Interface: Agent/Z") == ami_error(
        "Unable to remove interface from queue: No such queue"
    )
    assert ami_ask(client, transport, "Action: QueueRemove", "Queue: default") == ami_error(
        "Need 'Queue' and 'Interface' parameters."
    )
    assert ami_ask(
        client, transport, "Action: QueueAdd", "Queue: default", "Interface: Agent/Z", "Paused: yes"
    ) == ami_success("Added interface to queue")
    assert bench.center.status()[2] == "Operator Z paused"


def penalties(bench, client, transport):
    got = ami_ask(client, transport, "Action: QueueStatus")
    members = [dict(m) for m in got if dict(m).get("Event") == "QueueMember"]
    return [(member["Queue"], member["Name"], member["Penalty"]) for member in members]


def test_queuepenalty_changes_the_level_in_one_queue_or_in_all_and_queuereset_cannot_reset():
    bench = AmiBench(queues=QUEUES)
    client, transport = bench.login()
    assert ami_ask(
        client, transport, "Action: QueuePenalty", "Interface: Agent/B", "Penalty: 1", "Queue: sales"
    ) == ami_success("Interface penalty set successfully")  # its level already: nothing changes
    assert ami_ask(
        client, transport, "Action: QueuePenalty", "Interface: Agent/B", "Penalty: 4", "Queue: SUPPORT"
    ) == ami_success("Interface penalty set successfully")
    bench.clock.advance(0)
    assert penalties(bench, client, transport) == [
        ("sales", "A", "0"),
        ("sales", "B", "1"),
        ("support", "B", "4"),
        ("support", "C", "0"),
    ]
    assert ami_ask(client, transport, "Action: QueuePenalty", "Interface: B", "Penalty: 3") == ami_success(
        "Interface penalty set successfully"
    )
    bench.clock.advance(0)
    assert [row for row in penalties(bench, client, transport) if row[1] == "B"] == [
        ("sales", "B", "3"),
        ("support", "B", "3"),
    ]
    # A call to support rings C, now the one of its lowest level.
    bench.center.execute("call", "1 queue=support")
    assert bench.center.status()[-2:] == ["Operator B available", "Operator C ringing with call 1"]
    for fields in (
        ["Interface: Agent/Z", "Penalty: 1"],
        ["Interface: Agent/C", "Penalty: 1", "Queue: sales"],
        ["Interface: Agent/C", "Penalty: 1", "Queue: nowhere"],
        ["Interface: Agent/C", "Penalty: -1"],
        ["Interface: Agent/C", "Penalty: 100"],
    ):
        assert ami_ask(client, transport, "Action: QueuePenalty", *fields) == ami_error(
            "Invalid interface, queuename or penalty"
        )
    assert ami_ask(client, transport, "Action: QueuePenalty", "Interface: Agent/C") == ami_error(
        "Need 'Interface' and 'Penalty' parameters."
    )
    assert ami_ask(client, transport, "Action: QueueReset", "Queue: sales") == ami_error(
        "Error encountered while resetting queue stats"
    )


def test_originate_into_a_queue_places_a_call_and_an_async_one_reports_it():
    bench = AmiBench(operators=("A",))
    client, transport = bench.login()
    got = ami_ask(
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
    got = ami_ask(
        client, transport, "Action: Originate", "Channel: PJSIP/100", "Application: Queue", "Data: default",
        "CallerID: 100", "Async: yes",
    )  # fmt: skip
    assert dict(got[1])["Response"] == "Failure"
    assert ami_ask(
        client, transport, "Action: Originate", "Channel: PJSIP/1", "Exten: 100", "Context: default", "Priority: 1"
    ) == ami_error("Originate failed")
    assert ami_ask(client, transport, "Action: Originate") == ami_error("Channel not specified")
    assert ami_ask(client, transport, "Action: Originate", "Channel: nothing") == ami_error("Invalid channel")
    assert ami_ask(
        client, transport, "Action: Originate", "Channel: PJSIP/7", "Application: Queue", "Data: default", "CallerID: 7"
    ) == ami_success("Originate successfully queued")
    assert bench.center.status()[-1] == "Queued call 7"


def test_hangup_by_the_callers_channel():
    bench = AmiBench(operators=("A",))
    client, transport = bench.login()
    bench.center.execute("call", "1")
    assert ami_ask(client, transport, "Action: Hangup", "Channel: Local/1@callcenter") == ami_success("Channel Hungup")
    assert bench.center.status() == ["Operator A available"]
    assert ami_ask(client, transport, "Action: Hangup", "Channel: Local/1@callcenter") == ami_error("No such channel")
    assert ami_ask(client, transport, "Action: Hangup") == ami_error("No channel specified")


def test_hangup_by_the_members_channel_ends_its_call_as_the_agent_or_declines_its_ring():
    bench = AmiBench(operators=("A", "B"))
    client, transport = bench.login()
    bench.center.execute("call", "1")
    assert ami_ask(client, transport, "Action: Hangup", "Channel: Agent/A") == ami_success("Channel Hungup")
    assert bench.center.status()[:2] == ["Operator A available", "Operator B ringing with call 1"]
    bench.center.execute("answer", "B")
    assert ami_ask(client, transport, "Action: Hangup", "Channel: Agent/B") == ami_success("Channel Hungup")
    assert bench.center.status() == ["Operator A available", "Operator B available"]
    for channel in ("Agent/B", "Agent/Z", "PJSIP/A", "Agent/"):
        assert ami_ask(client, transport, "Action: Hangup", "Channel: " + channel) == ami_error("No such channel")


def test_callerid_and_numbers_as_asterisk_reads_them():
    assert parse_callerid('"Bob Smith" <555>') == ("Bob Smith", "555")
    assert parse_callerid("555") == ("", "555")
    assert parse_callerid("Bob Smith") == ("Bob Smith", "")
    assert leading_int("12abc") == 12 and leading_int("x", None) is None


# With a replicated store (--etcd, docs/ha.md).

STANDBY_REFUSAL = "not the leader: the leader is h1:5678; changes go to it"


@implementer(ILeadership)
class Standby(object):
    """A server that stands by, as the replicated center tells it; ``step_down`` is what it
    does when a leader stops leading."""

    def __init__(self):
        self.listeners = []

    def role_line(self):
        return "standby: the leader is h1:5678"

    def when_stepping_down(self, listener):
        self.listeners.append(listener)

    def step_down(self):
        for listener in self.listeners:
            listener("This server stopped leading (its lease lapsed): connect to the leader")


class RefusingCenter(object):
    """The call center of a standby: it reads, and refuses every change with its line."""

    def __init__(self, center):
        self.center = center

    def execute(self, command, argument):
        raise ChangeRefusedError(STANDBY_REFUSAL)


def test_a_change_a_standby_refuses_is_answered_with_its_line_whatever_the_action():
    bench = AmiBench(operators=("A",))
    bench.factory.center = RefusingCenter(bench.center)
    client, transport = bench.login()
    for action in (
        ["Action: QueuePause", "Interface: A", "Paused: true"],
        ["Action: QueueAdd", "Queue: default", "Interface: Z"],
        ["Action: Originate", "Channel: PJSIP/100", "Application: Queue", "Data: default", "CallerID: <100>"],
        ["Action: Hangup", "Channel: Local/1@callcenter"],
    ):
        assert ami_ask(client, transport, *action, "ActionID: 9") == [
            [("Response", "Error"), ("ActionID", "9"), ("Message", STANDBY_REFUSAL)]
        ], action
    got = ami_ask(client, transport, "Action: QueueSummary")  # what reads is answered
    assert got[0][0] == ("Response", "Success")


def test_a_server_that_stops_leading_closes_its_clients_with_shutdown():
    leadership = Standby()
    assert verifyObject(ILeadership, leadership)
    bench = AmiBench(operators=("A",), leadership=leadership)
    listening, heard = bench.login()
    quiet, unheard = bench.login(events="off")
    waiting, _ = bench.connect()  # not logged in yet
    leadership.step_down()
    assert ami_messages(heard.value()) == [
        [("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Uncleanly"), ("Restart", "True")]
    ]
    assert unheard.value() == b""
    for client in (listening, quiet, waiting):
        assert client.transport.disconnecting
        client.dataReceived(b"Action: Ping\r\n\r\n")  # nothing more is read
    assert ami_messages(heard.value())[-1][0] == ("Event", "Shutdown")
