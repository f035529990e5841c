"""The core's events as Asterisk 20's AMI events (net/amievents.py): which events, in which order,
with which fields in which order (apps/app_queue.c, main/manager_channels.c), as a client
logged in to the manager port hears them."""

from callcenter.net import amiwire
from support import AmiBench, ami_ask, ami_messages

CALLER_BLOCK = [
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
]
DEST_BLOCK = ["Dest" + key for key in CALLER_BLOCK]
MEMBER_FIELDS = [
    "Queue",
    "MemberName",
    "Interface",
    "StateInterface",
    "Membership",
    "Penalty",
    "CallsTaken",
    "LastCall",
    "LastPause",
    "LoginTime",
    "InCall",
    "Status",
    "Paused",
    "PausedReason",
    "Ringinuse",
    "Wrapuptime",
]
AGENT = ["Queue", "Interface", "MemberName"]


def heard(bench, transport, *commands):
    """The events a logged-in client hears while ``commands`` run (``"advance 10"`` moves the
    clock): each as (name, dict of its fields, its keys in order)."""
    bench.clock.advance(0)  # what came before goes out first
    transport.clear()
    for command in commands:
        word, _, argument = command.partition(" ")
        if word == "advance":
            bench.clock.advance(float(argument))
        else:
            bench.center.execute(word, argument)
    bench.clock.advance(0)  # the turn's events go out at its end
    return [(dict(m)["Event"], dict(m), [key for key, _ in m]) for m in ami_messages(transport.value())]


def keys(name, *fields):
    return ["Event", "Privilege", *fields]


def test_a_call_from_join_to_complete():
    bench = AmiBench(operators=("A",), events=True)
    _client, transport = bench.login()
    events = heard(bench, transport, "call 7", "advance 3", "answer A", "advance 60", "hangup 7")
    assert [name for name, _, _ in events] == [
        "QueueCallerJoin",
        "AgentCalled",
        "QueueMemberStatus",
        "QueueCallerLeave",
        "AgentConnect",
        "QueueMemberStatus",
        "AgentComplete",
        "QueueMemberStatus",
    ]
    join, called, ringing, leave, connect, busy, complete, free = events
    assert join[2] == keys("QueueCallerJoin", *CALLER_BLOCK, "Queue", "Position", "Count")
    assert join[1]["Privilege"] == "agent,all"
    assert (join[1]["Channel"], join[1]["CallerIDNum"], join[1]["Uniqueid"]) == (
        "Local/7@callcenter",
        "7",
        "1733040000.7",
    )
    assert (join[1]["ChannelState"], join[1]["ChannelStateDesc"], join[1]["Exten"]) == ("6", "Up", "default")
    assert (join[1]["Queue"], join[1]["Position"], join[1]["Count"]) == ("default", "1", "1")
    assert called[2] == keys("AgentCalled", *CALLER_BLOCK, *DEST_BLOCK, *AGENT)
    assert (called[1]["DestChannel"], called[1]["DestChannelState"], called[1]["DestChannelStateDesc"]) == (
        "Agent/A",
        "5",
        "Ringing",
    )
    assert (called[1]["DestUniqueid"], called[1]["DestLinkedid"]) == ("1733040000.7-A", "1733040000.7")
    assert (called[1]["Interface"], called[1]["MemberName"]) == ("Agent/A", "A")
    assert ringing[2] == keys("QueueMemberStatus", *MEMBER_FIELDS) and ringing[1]["Status"] == "6"
    assert leave[2] == keys("QueueCallerLeave", *CALLER_BLOCK, "Queue", "Position", "Count")
    assert (leave[1]["Position"], leave[1]["Count"]) == ("1", "0")
    assert connect[2] == keys("AgentConnect", *CALLER_BLOCK, *DEST_BLOCK, *AGENT, "HoldTime", "RingTime")
    assert (connect[1]["HoldTime"], connect[1]["RingTime"], connect[1]["DestChannelState"]) == ("3", "3", "6")
    assert (busy[1]["Status"], busy[1]["InCall"]) == ("2", "1")
    assert complete[2] == keys("AgentComplete", *CALLER_BLOCK, *DEST_BLOCK, *AGENT, "HoldTime", "TalkTime", "Reason")
    assert (complete[1]["HoldTime"], complete[1]["TalkTime"], complete[1]["Reason"]) == ("3", "60", "caller")
    assert (free[1]["Status"], free[1]["InCall"], free[1]["CallsTaken"], free[1]["LastCall"]) == (
        "1",
        "0",
        "1",
        "1733040063",
    )
    # Every event of the call names it by the same Uniqueid, as QueueStatus does.
    assert {e[1]["Uniqueid"] for e in events if "Uniqueid" in e[1]} == {"1733040000.7"}


def test_a_caller_who_waits_then_hangs_up_abandons():
    bench = AmiBench(operators=("A",), events=True, ring_timeout=0)
    _client, transport = bench.login()
    bench.center.execute("call", "1")
    events = heard(bench, transport, "call 2", "call 3", "advance 30", "hangup 2")
    assert [(name, fields.get("Position"), fields.get("Count")) for name, fields, _ in events] == [
        ("QueueCallerJoin", "1", "1"),
        ("QueueCallerJoin", "2", "2"),
        ("QueueCallerAbandon", "1", None),
        ("QueueCallerLeave", "1", "1"),
    ]
    abandon = events[2]
    assert abandon[2] == keys("QueueCallerAbandon", *CALLER_BLOCK, "Queue", "Position", "OriginalPosition", "HoldTime")
    assert (abandon[1]["OriginalPosition"], abandon[1]["HoldTime"], abandon[1]["CallerIDNum"]) == ("1", "30", "2")


def test_a_ring_that_times_out_or_is_rejected_is_ring_no_answer():
    bench = AmiBench(operators=("A", "B"), events=True, ring_timeout=10)
    _client, transport = bench.login()
    events = heard(bench, transport, "call 1", "advance 10")
    names = [name for name, _, _ in events]
    assert names == [
        "QueueCallerJoin",
        "AgentCalled",
        "QueueMemberStatus",
        "AgentRingNoAnswer",
        "QueueMemberStatus",
        "AgentCalled",
        "QueueMemberStatus",
    ]
    no_answer = events[3]
    assert no_answer[2] == keys("AgentRingNoAnswer", *CALLER_BLOCK, *DEST_BLOCK, *AGENT, "RingTime")
    assert (no_answer[1]["MemberName"], no_answer[1]["RingTime"]) == ("A", "10")
    assert events[5][1]["MemberName"] == "B"
    events = heard(bench, transport, "advance 2", "reject B")
    assert [(name, fields.get("MemberName"), fields.get("RingTime")) for name, fields, _ in events][:2] == [
        ("AgentRingNoAnswer", "B", "2"),
        ("QueueMemberStatus", "B", None),
    ]


def test_pause_and_unpause_are_member_pause_events_once_per_queue():
    bench = AmiBench(
        queues="[sales]\noperators = A, B\n\n[support]\noperators = A:2\n", events=True
    )  # fmt: skip
    _client, transport = bench.login()
    events = heard(bench, transport, "pause A lunch")
    assert [
        (name, fields["Queue"], fields["Paused"], fields["PausedReason"], fields["Penalty"])
        for name, fields, _ in events
    ] == [
        ("QueueMemberPause", "sales", "1", "lunch", "0"),
        ("QueueMemberPause", "support", "1", "lunch", "2"),
    ]
    assert events[0][2] == keys("QueueMemberPause", *MEMBER_FIELDS)
    assert events[0][1]["LastPause"] == "1733040000"
    events = heard(bench, transport, "unpause A")
    assert [(fields["Queue"], fields["Paused"], fields["PausedReason"]) for _, fields, _ in events] == [
        ("sales", "0", ""),
        ("support", "0", ""),
    ]


def test_an_operator_that_hangs_up_completes_its_call_as_the_agent():
    bench = AmiBench(operators=("A",), events=True)
    client, transport = bench.login()
    heard(bench, transport, "call 7", "advance 3", "answer A", "advance 60")
    got = ami_ask(client, transport, "Action: Hangup", "Channel: Agent/A")
    assert got[0] == [("Response", "Success"), ("Message", "Channel Hungup")]
    complete, free = [dict(m) for m in got[1:]]
    assert [key for key, _ in got[1]] == keys(
        "AgentComplete", *CALLER_BLOCK, *DEST_BLOCK, *AGENT, "HoldTime", "TalkTime", "Reason"
    )
    assert (complete["HoldTime"], complete["TalkTime"], complete["Reason"]) == ("3", "60", "agent")
    assert (complete["Uniqueid"], complete["DestChannel"]) == ("1733040000.7", "Agent/A")
    assert (free["Event"], free["Status"], free["CallsTaken"]) == ("QueueMemberStatus", "1", "1")


def test_a_level_change_is_a_member_penalty_event_for_each_queue_changed():
    bench = AmiBench(queues="[sales]\noperators = A, B\n\n[support]\noperators = A:2\n", events=True)
    _client, transport = bench.login()
    events = heard(bench, transport, "level A 2")
    assert [(name, fields["Queue"], fields["MemberName"], fields["Penalty"]) for name, fields, _ in events] == [
        ("QueueMemberPenalty", "sales", "A", "2")
    ]
    assert events[0][2] == keys("QueueMemberPenalty", *MEMBER_FIELDS)
    assert events[0][1]["Privilege"] == "agent,all"
    events = heard(bench, transport, "level A 5", "pause A")
    assert [(name, fields["Queue"], fields["Penalty"]) for name, fields, _ in events] == [
        ("QueueMemberPenalty", "sales", "5"),
        ("QueueMemberPenalty", "support", "5"),
        ("QueueMemberPause", "sales", "5"),
        ("QueueMemberPause", "support", "5"),
    ]


def test_members_added_and_removed_or_their_device_unavailable():
    bench = AmiBench(operators=("A",), events=True)
    _client, transport = bench.login()
    events = heard(bench, transport, "login Z")
    assert [(name, fields["MemberName"], fields["Membership"], fields["Status"]) for name, fields, _ in events] == [
        ("QueueMemberAdded", "Z", "dynamic", "1")
    ]
    events = heard(bench, transport, "logout Z", "logout A", "login A")
    assert [(name, fields["MemberName"], fields["Status"]) for name, fields, _ in events] == [
        ("QueueMemberRemoved", "Z", "5"),
        ("QueueMemberStatus", "A", "5"),
        ("QueueMemberStatus", "A", "1"),
    ]


def test_events_off_hears_none_and_a_user_without_agent_hears_no_queue_event():
    bench = AmiBench(operators=("A",), events=True)
    _, quiet = bench.login(events="off")
    _, caller_only = bench.login("caller", "dial")  # reads call events only
    _, listening = bench.login()
    heard(bench, listening, "call 1")
    assert quiet.value() == b"" and caller_only.value() == b""
    assert bench.factory.hears(amiwire.AGENT)
    assert listening.value()


def test_queue_actions_make_their_events_too():
    bench = AmiBench(operators=("A",), events=True)
    client, transport = bench.login()
    got = ami_ask(client, transport, "Action: QueuePause", "Interface: Agent/A", "Paused: 1", "Reason: tea")
    assert [m[0] for m in got] == [("Response", "Success"), ("Event", "QueueMemberPause")]
    assert dict(got[1])["PausedReason"] == "tea"


def test_with_no_client_that_hears_them_events_are_kept_not_built():
    bench = AmiBench(operators=("A",), events=True, ring_timeout=0)
    bench.center.execute("call", "1")
    bench.center.execute("call", "2")
    assert bench.factory.events_sent == 0 and not bench.factory.hears(amiwire.AGENT)
    _client, transport = bench.login()
    events = heard(bench, transport, "hangup 2")
    assert [(name, fields["Position"], fields["Uniqueid"]) for name, fields, _ in events] == [
        ("QueueCallerAbandon", "1", "1733040000.2"),
        ("QueueCallerLeave", "1", "1733040000.2"),
    ]
