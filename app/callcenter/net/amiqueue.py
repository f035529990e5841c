"""The call center as Asterisk's app_queue shows it: queues, members and callers as AMI fields.

Layer: protocols, its pure half (no Twisted, no I/O). The one place that reads the core's
objects for the AMI (``ICallCenterObserver``'s ``operators`` and ``queues``), and the naming
conventions that tools rely on (docs/ami.md):

- a queue is named as in ``--queues``; without it the one queue is ``default``;
- operators, calls and their channels are named as :mod:`callcenter.core.asterisk` says; an
  action's ``Interface`` may also be the bare operator id;
- operators named in the configuration are ``static`` members: logged out, their device is
  unavailable (``Status: 5``); those that joined with ``login`` are ``dynamic``: logged out,
  they are no longer members.
"""

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from callcenter.core.asterisk import Membership, caller_channel, interface, uniqueid
from callcenter.core.model import AVAILABLE, BUSY, LOGGED_OUT, PAUSED, RINGING, WRAP_UP
from callcenter.core.queues import QueueConfig

UNKNOWN = "unknown"

# Asterisk's device states (include/asterisk/devicestate.h).
NOT_INUSE = 1
INUSE = 2
UNAVAILABLE = 5
RINGING_STATE = 6
DEVICE_STATES = {AVAILABLE: NOT_INUSE, RINGING: RINGING_STATE, BUSY: INUSE, WRAP_UP: NOT_INUSE, PAUSED: NOT_INUSE}

# Our ring strategies by Asterisk's name for them (least-talk-time has none: shown as it is).
STRATEGY_NAMES = {
    "linear": "linear",
    "round-robin": "rrmemory",
    "longest-idle": "leastrecent",
    "fewest-calls": "fewestcalls",
    "random": "random",
    "ring-all": "ringall",
}

Fields = List[Tuple[str, object]]


def strategy_name(strategy: str) -> str:
    return STRATEGY_NAMES.get(strategy, strategy)


def default_configs(operator_ids: Sequence[str], strategy: str, max_queue: int, max_wait: float) -> List[QueueConfig]:
    """The queues without ``--queues``: one, ``default``, of every operator at level 0."""
    return [QueueConfig("default", [(operator_id, 0) for operator_id in operator_ids], strategy, max_queue, max_wait)]


def device_state(state: str) -> int:
    """The device state Asterisk would show for an operator in ``state``."""
    return UNAVAILABLE if state is LOGGED_OUT else DEVICE_STATES.get(state, 0)


class Member(object):
    """One operator as a member of one queue."""

    __slots__ = ("dynamic", "operator", "penalty", "queue")

    def __init__(self, queue: str, operator: Any, penalty: int, dynamic: bool) -> None:
        self.queue = queue
        self.operator = operator
        self.penalty = penalty
        self.dynamic = dynamic

    @property
    def status(self) -> int:
        return device_state(self.operator.state)

    @property
    def paused(self) -> bool:
        return self.operator.state is PAUSED


class MemberRecord(object):
    """What the member events say of an operator, kept from the events themselves (with a
    journal they go out after the commit, when the core may have moved on)."""

    __slots__ = ("calls", "in_call", "last_call", "last_pause", "login_time", "paused", "reason", "status")

    def __init__(self) -> None:
        self.status = NOT_INUSE
        self.paused = False
        self.reason = ""
        self.calls = 0
        self.last_call = 0
        self.last_pause = 0
        self.login_time = 0
        self.in_call = False


def member_fields(
    queue: str, operator_id: str, record: MemberRecord, penalty: int, dynamic: bool, wrap_up: float
) -> Fields:
    """The fields of the QueueMember* events, in Asterisk 20's order (``MemberName``,
    ``Interface``; QueueStatus's QueueMember says ``Name``, ``Location``)."""
    return [
        ("Queue", queue),
        ("MemberName", operator_id),
        ("Interface", interface(operator_id)),
        ("StateInterface", interface(operator_id)),
        ("Membership", "dynamic" if dynamic else "static"),
        ("Penalty", penalty),
        ("CallsTaken", record.calls),
        ("LastCall", record.last_call),
        ("LastPause", record.last_pause),
        ("LoginTime", record.login_time),
        ("InCall", 1 if record.in_call else 0),
        ("Status", record.status),
        ("Paused", 1 if record.paused else 0),
        ("PausedReason", record.reason),
        ("Ringinuse", 0),
        ("Wrapuptime", int(wrap_up)),
    ]


class QueueView(object):
    """What the AMI reads of the call center: ``center`` provides ``ICallCenterObserver``;
    ``configs`` are its queues' settings (``--queues``, or :func:`default_configs`), in the
    core's order; ``tracked`` keeps what the core does not (last call, last pause, talk time:
    :class:`MemberHistory`)."""

    def __init__(
        self,
        center: Any,
        configs: Sequence[QueueConfig],
        service_level: float,
        wrap_up: float,
        history: "Optional[MemberHistory]" = None,
    ) -> None:
        self.center = center
        self.configs = list(configs)
        self.service_level = service_level
        self.wrap_up = wrap_up
        self.history = history if history is not None else MemberHistory()
        self.membership = Membership(self.configs)
        for queue in center.queues:  # the levels changed since the settings (a restored state)
            for operator_id, level in queue.members.items():
                if self.membership.penalty(queue.name, operator_id) not in (None, level):
                    self.membership.set_level(queue.name, operator_id, level)

    def queue_names(self) -> List[str]:
        return [config.name for config in self.configs]

    def queue_named(self, name: str) -> Optional[str]:
        """The queue's own name for ``name`` (Asterisk compares them without case)."""
        wanted = name.lower()
        for config in self.configs:
            if config.name.lower() == wanted:
                return config.name
        return None

    def is_dynamic(self, operator_id: str) -> bool:
        return self.membership.is_dynamic(operator_id)

    def members(self, queue: str) -> Iterator[Member]:
        """The members of ``queue``, in configured order (those that joined with ``login``
        last, in the default queue, while logged in), each at its level now."""
        membership = self.membership
        levels = self._queue(queue).members  # the core's now, as the operators' states
        for operator in self.center.operators:
            level = membership.penalty(queue, operator.id)
            if level is None:
                continue
            level = levels.get(operator.id, level)
            dynamic = membership.is_dynamic(operator.id)
            if not (dynamic and operator.state is LOGGED_OUT):
                yield Member(queue, operator, level, dynamic)

    def member(self, queue: str, operator_id: str) -> Optional[Member]:
        for member in self.members(queue):
            if member.operator.id == operator_id:
                return member
        return None

    def memberships(self, operator_id: str) -> List[Member]:
        """Every queue ``operator_id`` is a member of."""
        found = []
        for name in self.queue_names():
            member = self.member(name, operator_id)
            if member is not None:
                found.append(member)
        return found

    def _queue(self, name: str) -> Any:
        for queue in self.center.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)

    def figures(self, name: str) -> Any:
        """A queue's figures: the center's with one queue (its queue keeps none of its own)."""
        queues = self.center.queues
        return self.center.figures if len(queues) == 1 else self._queue(name).figures

    def waiting(self, name: str) -> List[Any]:
        """The calls waiting in queue ``name``, in the order they will be offered."""
        return list(self._queue(name).waiting.calls())

    def config(self, name: str) -> QueueConfig:
        for config in self.configs:
            if config.name == name:
                return config
        raise KeyError(name)

    # The fields, in Asterisk 20's order.

    def queue_params(self, name: str) -> Fields:
        figures = self.figures(name)
        config = self.config(name)
        abandoned = figures.missed + figures.timed_out
        perf = 100.0 * figures.answered_in_service_level / figures.answered if figures.answered else 0.0
        counted = figures.answered + abandoned
        perf2 = 100.0 * figures.answered_in_service_level / counted if counted else 0.0
        return [
            ("Queue", name),
            ("Max", config.max_queue),
            ("Strategy", strategy_name(config.strategy)),
            ("Calls", len(self._queue(name).waiting)),
            ("Holdtime", self.hold_time(name)),
            ("TalkTime", self.history.talk_time(name)),
            ("Completed", figures.finished),
            ("Abandoned", abandoned),
            ("ServiceLevel", int(self.service_level)),
            ("ServicelevelPerf", "%2.1f" % perf),
            ("ServicelevelPerf2", "%2.1f" % perf2),
            ("Weight", config.weight),
        ]

    def hold_time(self, name: str) -> int:
        figures = self.figures(name)
        return int(figures.wait_total / figures.answered) if figures.answered else 0

    def queue_member(self, member: Member) -> Fields:
        """QueueStatus's QueueMember (``Name``, ``Location``)."""
        fields = self.member_fields(member)
        fields[1] = ("Name", member.operator.id)
        fields[2] = ("Location", interface(member.operator.id))
        del fields[-2]  # Ringinuse: not in QueueStatus
        return fields

    def record_of(self, operator: Any) -> MemberRecord:
        """An operator's member record as the core shows it now."""
        record = MemberRecord()
        record.status = device_state(operator.state)
        record.paused = operator.state is PAUSED
        record.reason = (operator.reason or "") if record.paused else ""
        record.calls = operator.answered - (1 if operator.state is BUSY else 0)
        record.last_call = self.history.last_call.get(operator.id, 0)
        record.last_pause = self.history.last_pause.get(operator.id, 0)
        if record.paused and not record.last_pause:
            record.last_pause = int(operator.since)
        record.login_time = int(operator.joined)
        record.in_call = operator.state is BUSY
        return record

    def member_fields(self, member: Member) -> Fields:
        operator = member.operator
        return member_fields(
            member.queue, operator.id, self.record_of(operator), member.penalty, member.dynamic, self.wrap_up
        )

    def penalty(self, queue: str, operator_id: str) -> Optional[int]:
        return self.membership.penalty(queue, operator_id)

    def set_level(self, queue: str, operator_id: str, level: int) -> None:
        """What the member events say of the operator's level in ``queue`` from now on."""
        self.membership.set_level(queue, operator_id, level)

    def level_now(self, queue: str, operator_id: str) -> Optional[int]:
        """The operator's level in ``queue`` in the core now (the events may not have told it
        yet), None when it is not a member there."""
        return self._queue(queue).members.get(operator_id)

    def queues_of(self, operator_id: str) -> List[str]:
        return self.membership.queues_of(operator_id)

    def operator(self, operator_id: str) -> Any:
        for operator in self.center.operators:
            if operator.id == operator_id:
                return operator
        return None

    def queue_entry(self, name: str, position: int, call: Any, now: float) -> Fields:
        return [
            ("Queue", name),
            ("Position", position),
            ("Channel", caller_channel(call.id)),
            ("Uniqueid", uniqueid(call.id, call.received_at)),
            ("CallerIDNum", call.id),
            ("CallerIDName", UNKNOWN),
            ("ConnectedLineNum", UNKNOWN),
            ("ConnectedLineName", UNKNOWN),
            ("Wait", int(max(now - call.received_at, 0))),
            ("Priority", call.priority),
        ]

    def queue_summary(self, name: str, now: float) -> Fields:
        logged_in = available = 0
        for member in self.members(name):
            if member.status != UNAVAILABLE:
                logged_in += 1
                if member.status == NOT_INUSE and not member.paused:
                    available += 1
        waiting = self.waiting(name)
        longest = max((now - call.received_at for call in waiting), default=0.0)
        return [
            ("Queue", name),
            ("LoggedIn", logged_in),
            ("Available", available),
            ("Callers", len(waiting)),
            ("HoldTime", self.hold_time(name)),
            ("TalkTime", self.history.talk_time(name)),
            ("LongestHoldTime", int(max(longest, 0))),
        ]

    def calls_in_progress(self) -> int:
        """Calls waiting, ringing or talking (CoreStatus's CoreCurrentCalls)."""
        waiting = sum(len(queue.waiting) for queue in self.center.queues)
        held = {id(operator.call) for operator in self.center.operators if operator.call is not None}
        return waiting + len(held)

    def uniqueid_of(self, call_id: str) -> Optional[str]:
        """The Uniqueid of the call in progress ``call_id``, or None when there is none."""
        for operator in self.center.operators:
            if operator.call is not None and operator.call.id == call_id:
                return uniqueid(call_id, operator.call.received_at)
        for queue in self.center.queues:
            for call in queue.waiting.calls():
                if call.id == call_id:
                    return uniqueid(call_id, call.received_at)
        return None


class MemberHistory(object):
    """What Asterisk keeps per member and queue that the core does not: when each operator
    last finished a call and last paused (epoch seconds), and each queue's talk time, kept
    from the events since the server started."""

    def __init__(self) -> None:
        self.last_call: Dict[str, int] = {}
        self.last_pause: Dict[str, int] = {}
        self._talk: Dict[str, Tuple[float, int]] = {}  # queue: (talk seconds, calls)

    def call_completed(self, queue: str, operator_id: str, talk: float, now: float) -> None:
        self.last_call[operator_id] = int(now)
        total, count = self._talk.get(queue, (0.0, 0))
        self._talk[queue] = (total + talk, count + 1)

    def paused(self, operator_id: str, now: float) -> None:
        self.last_pause[operator_id] = int(now)

    def talk_time(self, queue: str) -> int:
        """The average talk time of the queue's completed calls, in whole seconds."""
        total, count = self._talk.get(queue, (0.0, 0))
        return int(total / count) if count else 0
