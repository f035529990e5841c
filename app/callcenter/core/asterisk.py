"""Asterisk's names for the call center's things, and its calls as Asterisk's app_queue counts them.

Layer: core (pure: no I/O, no Twisted). Shared by the Asterisk Manager Interface
(:mod:`callcenter.net.ami`) and the queue_log (:mod:`callcenter.store.queuelog`), so that a
call has the same ``Uniqueid`` in both. The conventions, fixed so that tools can rely on them
(docs/ami.md):

- an operator's member name is its id, its interface ``Agent/<id>``;
- a call's caller channel is ``Local/<call id>@callcenter``, its caller id number the call id,
  its ``Uniqueid`` ``<whole seconds it arrived at>.<call id>``;
- the operator's leg of a call has the Uniqueid ``<the call's>-<operator id>``.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence

from callcenter.core.queues import QueueConfig

INTERFACE_PREFIX = "Agent/"
CALLER_PREFIX = "Local/"
CALLER_SUFFIX = "@callcenter"
CONTEXT = "callcenter"


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
    """A call's Uniqueid: stable for the call (its arrival time is kept with it, across
    restarts), distinct for two calls of one id at different times; ``|`` (the queue_log's
    separator) is not in it."""
    return "%d.%s" % (int(received_at), call_id.replace("|", "_"))


def member_uniqueid(call_uniqueid: str, operator_id: str) -> str:
    return "%s-%s" % (call_uniqueid, operator_id.replace("|", "_"))


def arrival_of(center: Any, call_id: str) -> Optional[float]:
    """When the call in progress ``call_id`` arrived, read from ``center``
    (``interfaces.ICallCenterObserver``); None when there is no such call. For a call that
    was in progress before its events were heard (a restart): O(operators + waiting calls)."""
    for operator in center.operators:
        if operator.call is not None and operator.call.id == call_id:
            return float(operator.call.received_at)
    for queue in center.queues:
        for call in queue.waiting.calls():
            if call.id == call_id:
                return float(call.received_at)
    return None


class CallRecord(object):
    """A call in progress as Asterisk counts it: its Uniqueid and queue, where it first
    waited (``original``), whether it waits now (``waiting``), whether it has joined (told
    ``QueueCallerJoin``/``ENTERQUEUE``)."""

    __slots__ = ("joined", "original", "queue", "uid", "waiting")

    def __init__(self, uid: str, queue: str) -> None:
        self.uid = uid
        self.queue = queue
        self.original = 1
        self.waiting = False
        self.joined = False


class CallBook(object):
    """The calls in progress, from the core's events (docs/design.md lists them): each one's
    record from ``CallReceived`` to its end, and each queue's count of waiting calls. A call
    that was in progress before the book began (a restart) gets its record on its first
    event, its Uniqueid from ``received_at`` (``(call id) -> arrival or None``)."""

    def __init__(self, received_at: "Optional[Callable[[str], Optional[float]]]" = None) -> None:
        self.calls: Dict[str, CallRecord] = {}
        self.waiting: Dict[str, int] = {}
        self._received_at = received_at

    def received(self, call_id: str, queue: str, at: float) -> CallRecord:
        record = CallRecord(uniqueid(call_id, at), queue)
        self.calls[call_id] = record
        return record

    def record(self, call_id: str, queue: str, at: float) -> CallRecord:
        """The record of ``call_id``, made now when the book has none (it was in progress
        before the book began: it has joined already)."""
        record = self.calls.get(call_id)
        if record is None:
            arrival = self._received_at(call_id) if self._received_at is not None else None
            record = CallRecord(uniqueid(call_id, at if arrival is None else arrival), queue)
            record.joined = True
            self.calls[call_id] = record
        return record

    def queued(self, record: CallRecord, waiting: int) -> None:
        record.waiting = True
        self.waiting[record.queue] = waiting

    def left_waiting(self, record: CallRecord) -> None:
        if record.waiting:
            record.waiting = False
            self.waiting[record.queue] = max(self.waiting.get(record.queue, 1) - 1, 0)

    def ended(self, call_id: str) -> None:
        record = self.calls.pop(call_id, None)
        if record is not None:
            self.left_waiting(record)

    def count(self, queue: str) -> int:
        return self.waiting.get(queue, 0)


class Membership(object):
    """Which queues each operator is a member of, at what level (Asterisk's penalty), from the
    queues' settings (``--queues``, or the one queue of every operator). Operators the
    settings do not name (those that joined with ``login``) are ``dynamic`` members of the
    first queue at its lowest level; the others are ``static``. A level changed since
    (``set_level``) is the one it says."""

    def __init__(self, configs: "Sequence[QueueConfig]") -> None:
        self.names = [config.name for config in configs]
        self._levels: Dict[str, Dict[str, int]] = {
            config.name: {operator_id: level for operator_id, level in config.members} for config in configs
        }
        self._configured = {operator_id for config in configs for operator_id, _ in config.members}
        first = self._levels[self.names[0]]
        self._dynamic_level = min(first.values()) if first else 0

    def set_level(self, queue: str, operator_id: str, level: int) -> None:
        """The operator, a member of ``queue``, is at ``level`` there now (the core's ``level``)."""
        self._levels.setdefault(queue, {})[operator_id] = level

    def is_dynamic(self, operator_id: str) -> bool:
        return operator_id not in self._configured

    def penalty(self, queue: str, operator_id: str) -> Optional[int]:
        """The operator's level in ``queue``, None when it is not a member there."""
        levels = self._levels.get(queue, {})
        if operator_id in levels:
            return levels[operator_id]
        if queue == self.names[0] and operator_id not in self._configured:
            return self._dynamic_level
        return None

    def queues_of(self, operator_id: str) -> List[str]:
        """The queues ``operator_id`` is a member of, in order."""
        if operator_id not in self._configured:
            return [self.names[0]]
        return [name for name in self.names if operator_id in self._levels[name]]
