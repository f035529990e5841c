"""The core's events as Asterisk 20's app_queue tells them on the manager port.

Layer: protocols, its pure half (no Twisted, no I/O). :class:`AmiEvents` hears the call
center's events (the bus: each after its change took effect, with a journal once it is on
disk) and turns each into the AMI events Asterisk sends for it, with its fields in its order
(docs/ami.md has the table), handing each to ``send(authority, bytes)``: the factory's
broadcast. Everything it says comes from the events and from what it kept of earlier ones,
never from the core's state at the time it hears them, which with a journal may have moved on.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from zope.interface import implementer

from callcenter.core.asterisk import (
    CONTEXT,
    CallBook,
    CallRecord,
    arrival_of,
    caller_channel,
    interface,
    member_uniqueid,
)
from callcenter.core.events import CALLER
from callcenter.interfaces import IEventSubscriber
from callcenter.net import amiwire
from callcenter.net.amiqueue import (
    INUSE,
    NOT_INUSE,
    RINGING_STATE,
    UNAVAILABLE,
    MemberRecord,
    QueueView,
    member_fields,
)
from callcenter.net.amiwire import AGENT

Fields = List[Tuple[str, object]]
Send = Callable[[int, bytes], None]
UNKNOWN = "<unknown>"
UP, RINGING_CHANNEL = (6, "Up"), (5, "Ringing")


@implementer(IEventSubscriber)
class AmiEvents(object):
    """Subscribes to the call center's events (``heard(events, command)``) and sends each
    as Asterisk's AMI events to ``send``."""

    def __init__(self, view: QueueView, send: Send, hears: Optional[Callable[[int], bool]] = None) -> None:
        """``hears(authority)``: whether any client hears events of those classes now; when
        none does, the events only update what is kept (nothing is built or encoded)."""
        self.view = view
        self.send = send
        self.hears = hears or (lambda authority: True)
        self.book = CallBook(lambda call_id: arrival_of(view.center, call_id))
        # What each operator's member events say, from the core as it is now (a restart
        # included), then kept from the events.
        self._caller_blocks: Dict[str, bytes] = {}  # by Uniqueid, while the call is in progress
        self.members: Dict[str, MemberRecord] = {
            operator.id: view.record_of(operator) for operator in view.center.operators
        }
        self.handlers: Dict[str, Callable[[Any], None]] = {
            "CallReceived": self.on_call_received,
            "CallRefused": self.on_call_refused,
            "CallQueued": self.on_call_queued,
            "CallRinging": self.on_call_ringing,
            "CallAnswered": self.on_call_answered,
            "CallRejected": self.on_no_answer,
            "CallIgnored": self.on_no_answer,
            "RingCanceled": self.on_ring_canceled,
            "CallMissed": self.on_abandoned,
            "CallTimedOut": self.on_abandoned,
            "CallFinished": self.on_call_finished,
            "OperatorPaused": self.on_operator_paused,
            "OperatorUnpaused": self.on_operator_unpaused,
            "OperatorLoggedIn": self.on_operator_logged_in,
            "OperatorLoggedOut": self.on_operator_logged_out,
            "OperatorLevelChanged": self.on_level_changed,
        }

    def heard(self, events: Sequence[Any], command: Optional[str]) -> None:
        for event in events:
            handler = self.handlers.get(event.name)
            if handler is not None:
                handler(event)

    # The caller's channel and the operator's.

    def _caller(self, call_id: str, record: CallRecord) -> bytes:
        """The caller's channel fields, encoded once a call (they do not change)."""
        block = self._caller_blocks.get(record.uid)
        if block is None:
            fields = channel_block("", caller_channel(call_id), UP, call_id, UNKNOWN, record.queue, record.uid)
            block = self._caller_blocks[record.uid] = amiwire.encode_fields(fields)
        return block

    def _agent(self, call_id: str, operator_id: str, record: CallRecord, state: Tuple[int, str]) -> Fields:
        fields = channel_block(
            "Dest",
            interface(operator_id),
            state,
            operator_id,
            operator_id,
            operator_id,
            member_uniqueid(record.uid, operator_id),
        )
        fields[5] = ("DestConnectedLineNum", call_id)
        fields[-1] = ("DestLinkedid", record.uid)
        return fields

    def _agent_event(
        self, name: str, event: Any, state: Tuple[int, str], extra: Sequence[Tuple[str, object]] = ()
    ) -> None:
        record = self.book.record(event.call, event.queue, event.at)
        if not self.hears(AGENT):
            return
        fields = self._agent(event.call, event.operator, record, state)
        fields.extend(
            (("Queue", event.queue), ("Interface", interface(event.operator)), ("MemberName", event.operator))
        )
        fields.extend(extra)
        head = amiwire.event_head(name, AGENT)
        self.send(AGENT, head + self._caller(event.call, record) + amiwire.encode_fields(fields) + b"\r\n")

    def _caller_event(self, name: str, call_id: str, record: CallRecord, extra: Sequence[Tuple[str, object]]) -> None:
        if not self.hears(AGENT):
            return
        fields: Fields = [("Queue", record.queue)]
        fields.extend(extra)
        head = amiwire.event_head(name, AGENT)
        self.send(AGENT, head + self._caller(call_id, record) + amiwire.encode_fields(fields) + b"\r\n")

    def _join(self, call_id: str, record: CallRecord, position: int, count: int) -> None:
        if not record.joined:
            record.joined = True
            record.original = position
            self._caller_event("QueueCallerJoin", call_id, record, (("Position", position), ("Count", count)))

    def _leave(self, call_id: str, record: CallRecord, position: int) -> None:
        self.book.left_waiting(record)
        self._caller_event(
            "QueueCallerLeave", call_id, record, (("Position", position), ("Count", self.book.count(record.queue)))
        )

    def _ended(self, call_id: str) -> None:
        record = self.book.calls.get(call_id)
        if record is not None:
            self._caller_blocks.pop(record.uid, None)
        self.book.ended(call_id)

    # Members.

    def member(self, operator_id: str) -> MemberRecord:
        record = self.members.get(operator_id)
        if record is None:  # joined with login since
            record = self.members[operator_id] = MemberRecord()
        return record

    def _member_event(self, name: str, operator_id: str, queues: Optional[List[str]] = None) -> None:
        if not self.hears(AGENT):
            return
        record = self.member(operator_id)
        dynamic = self.view.is_dynamic(operator_id)
        for queue in self.view.queues_of(operator_id) if queues is None else queues:
            penalty = self.view.penalty(queue, operator_id)
            fields = member_fields(queue, operator_id, record, penalty or 0, dynamic, self.view.wrap_up)
            self.send(AGENT, amiwire.event(name, AGENT, fields))

    def _status(self, operator_id: str, status: int) -> None:
        record = self.member(operator_id)
        record.in_call = status == INUSE
        if record.status != status:
            record.status = status
            self._member_event("QueueMemberStatus", operator_id)

    # The events, by name.

    def on_call_received(self, event: Any) -> None:
        self.book.received(event.call, event.queue, event.at)

    def on_call_refused(self, event: Any) -> None:
        self._ended(event.call)

    def on_call_queued(self, event: Any) -> None:
        record = self.book.record(event.call, event.queue, event.at)
        self.book.queued(record, event.waiting)
        self._join(event.call, record, event.position, event.waiting)

    def on_call_ringing(self, event: Any) -> None:
        record = self.book.record(event.call, event.queue, event.at)
        count = self.book.count(event.queue) + 1
        self._join(event.call, record, count, count)  # rings at once: it joins behind those waiting
        self.book.left_waiting(record)
        self._agent_event("AgentCalled", event, RINGING_CHANNEL)
        self._status(event.operator, RINGING_STATE)

    def on_call_answered(self, event: Any) -> None:
        record = self.book.record(event.call, event.queue, event.at)
        self._leave(event.call, record, 1)
        self._agent_event("AgentConnect", event, UP, (("HoldTime", int(event.wait)), ("RingTime", int(event.ring))))
        self._status(event.operator, INUSE)

    def _ring_ended(self, event: Any) -> None:
        record = self.member(event.operator)
        if record.status == RINGING_STATE:
            self._status(event.operator, NOT_INUSE)

    def on_no_answer(self, event: Any) -> None:
        self._agent_event("AgentRingNoAnswer", event, RINGING_CHANNEL, (("RingTime", int(event.ring)),))
        self._ring_ended(event)

    def on_ring_canceled(self, event: Any) -> None:
        self._ring_ended(event)

    def on_abandoned(self, event: Any) -> None:
        record = self.book.record(event.call, event.queue, event.at)
        position = event.position or 1
        original = event.original_position or record.original
        self._caller_event(
            "QueueCallerAbandon",
            event.call,
            record,
            (("Position", position), ("OriginalPosition", original), ("HoldTime", int(event.wait))),
        )
        self._leave(event.call, record, position)
        self._ended(event.call)

    def on_call_finished(self, event: Any) -> None:
        member = self.member(event.operator)
        member.calls += 1
        member.last_call = int(event.at)
        self.view.history.call_completed(event.queue, event.operator, event.talk, event.at)
        reason = "caller" if event.ended_by == CALLER else "agent"
        self._agent_event(
            "AgentComplete",
            event,
            UP,
            (("HoldTime", int(event.wait)), ("TalkTime", int(event.talk)), ("Reason", reason)),
        )
        self._ended(event.call)
        self._status(event.operator, NOT_INUSE)

    def on_operator_paused(self, event: Any) -> None:
        member = self.member(event.operator)
        member.paused, member.reason, member.last_pause = True, event.reason or "", int(event.at)
        self.view.history.paused(event.operator, event.at)
        self._member_event("QueueMemberPause", event.operator)

    def on_operator_unpaused(self, event: Any) -> None:
        member = self.member(event.operator)
        member.paused, member.reason = False, ""
        self._member_event("QueueMemberPause", event.operator)

    def on_operator_logged_in(self, event: Any) -> None:
        member = self.member(event.operator)
        member.paused, member.reason, member.status, member.in_call = False, "", NOT_INUSE, False
        if self.view.is_dynamic(event.operator):
            member.login_time = int(event.at)
            self._member_event("QueueMemberAdded", event.operator)
        else:
            self._member_event("QueueMemberStatus", event.operator)

    def on_operator_logged_out(self, event: Any) -> None:
        member = self.member(event.operator)
        member.status, member.in_call = UNAVAILABLE, False
        if self.view.is_dynamic(event.operator):
            self._member_event("QueueMemberRemoved", event.operator)
        else:
            self._member_event("QueueMemberStatus", event.operator)

    def on_level_changed(self, event: Any) -> None:
        self.view.set_level(event.queue, event.operator, event.level)
        self._member_event("QueueMemberPenalty", event.operator, [event.queue])


def channel_block(
    prefix: str, channel: str, state: Tuple[int, str], number: str, name: str, exten: str, uid: str
) -> Fields:
    """manager_channels.c's channel snapshot, each key with ``prefix`` (``Dest`` for the
    operator's leg)."""
    return [
        (prefix + "Channel", channel),
        (prefix + "ChannelState", state[0]),
        (prefix + "ChannelStateDesc", state[1]),
        (prefix + "CallerIDNum", number),
        (prefix + "CallerIDName", name),
        (prefix + "ConnectedLineNum", UNKNOWN),
        (prefix + "ConnectedLineName", UNKNOWN),
        (prefix + "Language", "en"),
        (prefix + "AccountCode", ""),
        (prefix + "Context", CONTEXT),
        (prefix + "Exten", exten),
        (prefix + "Priority", 1),
        (prefix + "Uniqueid", uid),
        (prefix + "Linkedid", uid),
    ]
