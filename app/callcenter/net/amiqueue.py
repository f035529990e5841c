"""The call center as Asterisk's app_queue shows it: queues, members and callers as AMI fields.

Layer: protocols, its pure half (no Twisted, no I/O). The one place that reads the core's
objects for the AMI (``ICallCenterObserver``'s ``operators`` and ``queues``), and the naming
conventions that tools rely on (docs/ami.md):

- a queue is named as in ``--queues``; without it the one queue is ``default``;
- an operator is a member whose ``MemberName`` is its id and whose interface (``Location``,
  ``StateInterface``) is ``Agent/<id>``; an action's ``Interface`` may also be the bare id;
- a call's caller channel is ``Local/<call id>@callcenter``, its ``CallerIDNum`` the call id, its
  ``Uniqueid`` ``<whole seconds it arrived at>.<call id>``, the same in every event and in the
  queue_log;
- operators named in the configuration are ``static`` members: logged out, their device is
  unavailable (``Status: 5``); those that joined with ``login`` are ``dynamic``: logged out,
  they are no longer members.
"""

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from callcenter.core.queues import QueueConfig
from callcenter.core.states import AVAILABLE, BUSY, LOGGED_OUT, PAUSED, RINGING, WRAP_UP

INTERFACE_PREFIX = "Agent/"
CALLER_PREFIX = "Local/"
CALLER_SUFFIX = "@callcenter"
CONTEXT = "callcenter"
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


def interface(operator_id: str) -> str:
    return INTERFACE_PREFIX + operator_id


def operator_named(name: str) -> str:
    """The operator id an ``Interface`` names: what follows the technology (``Agent/A``,
    ``PJSIP/A``: ``A``), or the whole of it when it names none (``A``)."""
    _, slash, rest = name.partition("/")
    return rest if slash else name


def caller_channel(call_id: str) -> str:
    return CALLER_PREFIX + call_id + CALLER_SUFFIX


def call_of_channel(channel: str) -> Optional[str]:
    """The call id of a caller channel, or None when ``channel`` is not one."""
    if channel.startswith(CALLER_PREFIX) and channel.endswith(CALLER_SUFFIX):
        call_id = channel[len(CALLER_PREFIX) : -len(CALLER_SUFFIX)]
        return call_id or None
    return None


def uniqueid(call_id: str, received_at: float) -> str:
    """A call's Uniqueid: stable for the call (its arrival is kept with it, across restarts),
    distinct for two calls of the same id at different times; ``|`` (the queue_log's
    separator) is not in it."""
    return "%d.%s" % (int(received_at), call_id.replace("|", "_"))


def strategy_name(strategy: str) -> str:
    return STRATEGY_NAMES.get(strategy, strategy)


def default_configs(operator_ids: Sequence[str], strategy: str, max_queue: int, max_wait: float) -> List[QueueConfig]:
    """The queues without ``--queues``: one, ``default``, of every operator at level 0."""
    return [QueueConfig("default", [(operator_id, 0) for operator_id in operator_ids], strategy, max_queue, max_wait)]


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
        return UNAVAILABLE if self.operator.state is LOGGED_OUT else DEVICE_STATES.get(self.operator.state, 0)

    @property
    def paused(self) -> bool:
        return self.operator.state is PAUSED


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
        self._levels: Dict[str, Dict[str, int]] = {
            config.name: {operator_id: level for operator_id, level in config.members} for config in self.configs
        }
        self._configured = {operator_id for config in self.configs for operator_id, _ in config.members}

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
        return operator_id not in self._configured

    def members(self, queue: str) -> Iterator[Member]:
        """The members of ``queue``, in configured order (those that joined with ``login``
        last, in the default queue, while logged in)."""
        levels = self._levels.get(queue, {})
        default = self.configs[0].name
        first_level = min(self._levels[default].values()) if self._levels[default] else 0
        for operator in self.center.operators:
            level = levels.get(operator.id)
            if level is not None:
                yield Member(queue, operator, level, False)
            elif queue == default and operator.id not in self._configured and operator.state is not LOGGED_OUT:
                yield Member(queue, operator, first_level, True)

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

    def member_fields(self, member: Member) -> Fields:
        """The fields of the QueueMember* events (``MemberName``, ``Interface``)."""
        operator = member.operator
        name = operator.id
        last_pause = self.history.last_pause.get(name, 0)
        if member.paused and not last_pause:
            last_pause = int(operator.since)
        return [
            ("Queue", member.queue),
            ("MemberName", name),
            ("Interface", interface(name)),
            ("StateInterface", interface(name)),
            ("Membership", "dynamic" if member.dynamic else "static"),
            ("Penalty", member.penalty),
            ("CallsTaken", operator.answered - (1 if operator.state is BUSY else 0)),
            ("LastCall", self.history.last_call.get(name, 0)),
            ("LastPause", last_pause),
            ("LoginTime", int(operator.joined)),
            ("InCall", 1 if operator.state is BUSY else 0),
            ("Status", member.status),
            ("Paused", 1 if member.paused else 0),
            ("PausedReason", (operator.reason or "") if member.paused else ""),
            ("Ringinuse", 0),
            ("Wrapuptime", int(self.wrap_up)),
        ]

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
