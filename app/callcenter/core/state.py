"""A call center's state as plain data, and back: what a store saves and restores.

Layer: core (pure). :func:`center_to_data` turns a :class:`CallCenter` into a JSON-serialisable
dict; :func:`center_from_data` builds the same center from it: operators with their presence,
reasons and figures, the calls (ringing, talking, waiting) with their queue, priority and
received-at time, each queue's waiting calls in offer order with its figures and its strategy's
memory, the timers with their deadlines, the totals and the routing configuration. A store
(the journal of ``--state-dir``, or another) keeps the dict and gives it back: nothing else of
the core is set from outside. :func:`reconfigured` fits saved data to other operators or
queues; :func:`data_from_v1` reads the state a snapshot of format 1 held.

The dict (``VERSION`` 1)::

    {"version": 1,
     "settings": {"ring_timeout", "service_level", "strategy", "seed", "wrap_up",
                  "max_no_answer", "max_queue", "max_wait",
                  "queues": [QueueConfig.to_dict(), ...] or None (one default queue)},
     "operators": [{"id", "state", "call" (its call's id or None), "reason", "since",
                    "pending", "pending_reason", "no_answer", "answered", "rejected",
                    "ignored", "talk_time", "joined", "paused_time" ({reason: seconds}),
                    "wrap_up_time", "logged_out_time"}, ...],       # in configured order
     "dynamic": [operator id, ...],                                 # joined with login
     "calls": [{"id", "state" ("ringing", "answered"), "queue", "priority", "received_at",
                "order", "operator" (id), "ringers" ([ids] when it rings at several, or None),
                "first_position"}, ...],
                                                                    # in order of arrival
     "queues": [{"name", "waiting": [[call id, priority, received_at, order, first_position],
                                     ...] (offer order),
                 "figures", "memory": [each level's strategy memory],
                 "members": [[operator id, level], ...]}, ...],
     "figures": {...},                                              # QueueFigures.to_dict()
     "timers": [{"timer": "timeout" | "wrapped" | "waited", "operator" ("" for the wait),
                 "deadline"}, ...],
     "arrivals": calls received with several queues, "received_at": the last received-at time}

A queue's ``members`` are its members' levels now (``level`` changes them from those of the
settings); a state saved without them has the settings' levels. Times are readings of the
center's ``now``; ``order`` is a call's place in the order of arrival
(with several queues; 0 with one), ``first_position`` where it first waited (0: never). A waiting
call is five values: a long queue stays small.
"""

import gc
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from callcenter.core.center import (
    DEFAULT_RING_TIMEOUT,
    DEFAULT_SERVICE_LEVEL,
    RING_TIMER,
    WAIT_TIMER,
    WRAP_UP_TIMER,
    CallCenter,
    CallLater,
    Now,
)
from callcenter.core.model import (
    ANSWERED,
    AVAILABLE,
    BUSY,
    LOGGED_OUT,
    MAX_ID_LENGTH,
    PAUSED,
    PRIORITIES,
    QUEUED,
    RINGING,
    WRAP_UP,
    Call,
    CallCenterError,
    Operator,
    check_id,
    parse_priority,
)
from callcenter.core.queues import DEFAULT_QUEUE, QueueConfig, parse_level
from callcenter.core.routing import move_to_level
from callcenter.core.stats import FIGURE_NAMES, QueueFigures
from callcenter.core.strategies import LINEAR

VERSION = 1
# The CallCenter options a restore may give anew (the operators and queues change through
# reconfigured(): the calls must fit them).
SETTINGS = ("ring_timeout", "service_level", "strategy", "seed", "wrap_up", "max_no_answer", "max_queue", "max_wait")
# The core compares states by identity: each saved string maps to the core's own.
OPERATOR_STATES = {state: state for state in (AVAILABLE, RINGING, BUSY, PAUSED, LOGGED_OUT, WRAP_UP)}
CALL_STATES = {RINGING: RINGING, ANSWERED: ANSWERED}  # those of a call that an operator holds
PENDING = {None: None, PAUSED: PAUSED, LOGGED_OUT: LOGGED_OUT}
# The call state that goes with an operator's state.
HOLDS = {RINGING: RINGING, BUSY: ANSWERED}
# The states of an operator that holds no call and gets none.
ABSENT: Dict[Any, str] = {PAUSED: PAUSED, LOGGED_OUT: LOGGED_OUT, WRAP_UP: WRAP_UP}

PRIORITY_VALUES = frozenset(range(PRIORITIES))

Data = Dict[str, Any]


@contextmanager
def making_many_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while a long queue's calls are made or read: it would
    walk all the objects made so far again and again (a snapshot of 10^6 waiting calls took 6
    times longer with it on), and none of them is garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# To data.


def center_to_data(center: CallCenter) -> Data:
    """``center``'s state as a plain JSON-serialisable dict, a copy (see the module's docstring).
    O(operators + calls)."""
    with making_many_objects():
        return _center_to_data(center)


def _center_to_data(center: CallCenter) -> Data:
    arrivals, received_at, wait_deadline = center.own_state()
    held = [call for call in center.calls.values() if call.state is not QUEUED]
    timers = []
    for operator in center.operators:
        if operator.timer is not None:
            kind = RING_TIMER if operator.state is RINGING else WRAP_UP_TIMER
            timers.append({"timer": kind, "operator": operator.id, "deadline": operator.timer.getTime()})
    if wait_deadline is not None:
        timers.append({"timer": WAIT_TIMER, "operator": "", "deadline": wait_deadline})
    return {
        "version": VERSION,
        "settings": {
            "ring_timeout": center.ring_timeout,
            "service_level": center.service_level,
            "strategy": center.strategy,
            "seed": center.seed,
            "wrap_up": center.wrap_up,
            "max_no_answer": center.max_no_answer,
            "max_queue": center.max_queue,
            "max_wait": center.max_wait,
            "queues": None if center.queue_configs is None else [config.to_dict() for config in center.queue_configs],
        },
        "operators": [operator_to_data(operator) for operator in center.operators],
        "dynamic": list(center.dynamic),
        "calls": [call_to_data(call) for call in sorted(held, key=arrival)],
        "queues": [
            {
                "name": queue.name,
                "waiting": [
                    [call.id, call.priority, call.received_at, call.order, call.first_position]
                    for call in queue.waiting.calls()
                ],
                "figures": queue.figures.to_dict(),
                "memory": [free.state() for free in queue.levels],
                "members": [[operator_id, level] for operator_id, level in queue.members.items()],
            }
            for queue in center.queues
        ],
        "figures": center.figures.to_dict(),
        "timers": timers,
        "arrivals": arrivals,
        "received_at": received_at,
    }


def arrival(call: Call) -> Tuple[float, int, str]:
    """The calls that ring or talk are saved in order of arrival (the id settles ties): the
    same state gives the same data whatever the order the center happens to keep them in."""
    return call.received_at, call.order, call.id


def operator_to_data(operator: Operator) -> Data:
    return {
        "id": operator.id,
        "state": operator.state,
        "call": None if operator.call is None else operator.call.id,
        "reason": operator.reason,
        "since": operator.since,
        "pending": operator.pending,
        "pending_reason": operator.pending_reason,
        "no_answer": operator.no_answer,
        "answered": operator.answered,
        "rejected": operator.rejected,
        "ignored": operator.ignored,
        "talk_time": operator.talk_time,
        "joined": operator.joined,
        "paused_time": dict(operator.paused_time),
        "wrap_up_time": operator.wrap_up_time,
        "logged_out_time": operator.logged_out_time,
    }


def call_to_data(call: Call) -> Data:
    return {
        "id": call.id,
        "state": call.state,
        "queue": call.queue.name,
        "priority": call.priority,
        "received_at": call.received_at,
        "order": call.order,
        "operator": None if call.operator is None else call.operator.id,
        "ringers": None if call.ringers is None else [ringer.id for ringer in call.ringers],
        "first_position": call.first_position,
    }


# From data.


def center_from_data(
    data: Data,
    call_later: Optional[CallLater] = None,
    now: Optional[Now] = None,
    settings: Optional[Dict[str, Any]] = None,
) -> CallCenter:
    """A new :class:`CallCenter` in the state of ``data`` (what :func:`center_to_data` gave, on
    the same clock): ``call_later`` and ``now`` as CallCenter's own; ``settings`` (keys of
    ``SETTINGS``) take the place of the saved ones, as the options of a restarted server.

    The timers run to their saved deadlines (one that is past fires at once); a ringing
    operator without one rings a full ring timeout from now, a wrap-up without one ends its
    ``wrap_up`` after it began. Without --queues a changed ``strategy`` starts without the
    saved strategy's memory (a call ringing at several operators rings on at each of them).
    Nothing is told to subscribers: the center is as it was. :class:`CallCenterError` when
    ``data`` is not such a dict or does not hold together. O(operators + calls)."""
    try:
        with making_many_objects():
            return _center_from_data(data, call_later, now, dict(settings or {}))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
        raise CallCenterError("the saved state cannot be read: %s" % (describe(error),)) from None


def describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return "no %s" % (error.args[0],)
    return str(error)


def _center_from_data(
    data: Data, call_later: Optional[CallLater], now: Optional[Now], given: Dict[str, Any]
) -> CallCenter:
    if data.get("version") != VERSION:
        raise ValueError("version %r, not %d" % (data.get("version"), VERSION))
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise ValueError("no setting %s" % ", ".join(unknown))
    saved = data["settings"]
    settings = {name: saved[name] for name in SETTINGS}
    settings.update(given)
    configs = None if saved["queues"] is None else [QueueConfig.from_dict(config) for config in saved["queues"]]
    records = data["operators"]
    seed = settings["seed"]
    center = CallCenter(
        [str(record["id"]) for record in records],
        call_later,
        float(settings["ring_timeout"]),
        now=now,
        service_level=float(settings["service_level"]),
        strategy=str(settings["strategy"]),
        seed=None if seed is None else int(seed),
        wrap_up=float(settings["wrap_up"]),
        max_no_answer=int(settings["max_no_answer"]),
        max_queue=int(settings["max_queue"]),
        max_wait=float(settings["max_wait"]),
    )
    if configs is not None:
        center.use_routing(center.strategy, center.seed, configs)
    operators = {operator.id: operator for operator in center.operators}
    queues = {queue.name: queue for queue in center.queues}
    for operator, record in zip(center.operators, records):
        read_operator(operator, record)
    center.dynamic = [str(operator_id) for operator_id in data["dynamic"] if operator_id in operators]
    calls: Dict[str, Call] = {}
    for record in data["calls"]:
        call = read_call(record, queues)
        if call.id in calls:
            raise ValueError("call %s is saved twice" % call.id)
        calls[call.id] = call
    for record in data["calls"]:
        call = calls[record["id"]]
        call.operator = operators[record["operator"]]
        if record["ringers"] is not None:
            call.ringers = [operators[operator_id] for operator_id in record["ringers"]]
    for operator, record in zip(center.operators, records):
        operator.call = None if record["call"] is None else calls[record["call"]]
    check_calls(center.operators, calls)
    for call in calls.values():
        center.calls[call.id] = call
    copy_figures(center.figures, data["figures"])
    waiting = []
    same_strategy = configs is not None or str(saved["strategy"]) == center.strategy
    if [record["name"] for record in data["queues"]] != [queue.name for queue in center.queues]:
        raise ValueError("the queues saved are not those configured")
    for queue, record in zip(center.queues, data["queues"]):
        copy_figures(queue.figures, record["figures"])
        for operator_id, level in record.get("members", ()):
            member = operators.get(str(operator_id))
            if member is not None and queue.members.get(member.id, level) != level:
                move_to_level(queue, member, parse_level(level), center.operators)
        memory = record["memory"]
        if same_strategy and memory is not None and len(memory) == len(queue.levels):
            for free, level_memory in zip(queue.levels, memory):
                if level_memory is not None:
                    free.restore(level_memory)
        waiting.append(read_waiting(record["waiting"], queue, center.calls))
    timers = [
        (TIMERS[record["timer"]], str(record["operator"]), float(record["deadline"])) for record in data["timers"]
    ]
    for kind, operator_id, _ in timers:
        if kind != WAIT_TIMER and operator_id not in operators:
            raise ValueError("a timer of operator %s, who is not here" % operator_id)
    center.resume(waiting, int(data["arrivals"]), float(data["received_at"]), timers)
    return center


TIMERS = {RING_TIMER: RING_TIMER, WRAP_UP_TIMER: WRAP_UP_TIMER, WAIT_TIMER: WAIT_TIMER}


def read_operator(operator: Operator, record: Data) -> None:
    operator.state = OPERATOR_STATES[record["state"]]
    operator.reason = optional_text(record["reason"])
    operator.since = float(record["since"])
    operator.pending = PENDING[record["pending"]]
    operator.pending_reason = optional_text(record["pending_reason"])
    operator.no_answer = int(record["no_answer"])
    operator.answered = int(record["answered"])
    operator.rejected = int(record["rejected"])
    operator.ignored = int(record["ignored"])
    operator.talk_time = float(record["talk_time"])
    operator.joined = float(record["joined"])
    operator.paused_time = {str(reason): float(seconds) for reason, seconds in record["paused_time"].items()}
    operator.wrap_up_time = float(record["wrap_up_time"])
    operator.logged_out_time = float(record["logged_out_time"])


def read_call(record: Data, queues: Dict[str, Any]) -> Call:
    """A call that rings or talks (its operators come after)."""
    queue = queues.get(record["queue"])
    if queue is None:
        raise ValueError("call %s is in queue %s, which is not configured" % (record["id"], record["queue"]))
    call = Call(
        check_id("call", str(record["id"])), float(record["received_at"]), parse_priority(record["priority"]), queue
    )
    call.state = CALL_STATES[record["state"]]
    call.order = int(record["order"])
    call.first_position = int(record["first_position"])
    return call


def read_waiting(entries: Sequence[Any], queue: Any, calls: Dict[str, Call]) -> List[Call]:
    """The waiting calls of ``queue``, in offer order, each added to ``calls``. Calls received
    at the same time share one float object, as the core's own do. O(1) a call: a restore of
    a long queue spends its time here."""
    waiting = []
    received_at = float("nan")  # equal to no time: the first call's is read
    for call_id, priority, received, order, first_position in entries:
        if call_id.__class__ is not str or " " in call_id or len(call_id) > MAX_ID_LENGTH:
            check_id("call", str(call_id))  # its error (a printable id of that length passes)
        if call_id in calls:
            raise ValueError("call %s is saved twice" % call_id)
        if priority.__class__ is not int or priority not in PRIORITY_VALUES:
            parse_priority(priority)  # its error
        if received != received_at:
            received_at = float(received)
        call = Call(call_id, received_at, priority, queue)
        call.order = int(order)
        call.first_position = int(first_position)
        calls[call_id] = call
        waiting.append(call)
    return waiting


def optional_text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def check_calls(operators: Sequence[Operator], calls: Dict[str, Call]) -> None:
    """Each operator that rings or talks holds a call in the matching state, and each call that
    rings or is answered is held by its operators. ValueError when not."""
    for operator in operators:
        held = HOLDS.get(operator.state)
        if (operator.call is None) != (held is None):
            raise ValueError(
                "operator %s is %s with %s" % (operator.id, operator.state, operator.call and operator.call.id)
            )
        call = operator.call
        if call is not None and (
            call.state is not held or (operator is not call.operator and operator not in (call.ringers or ()))
        ):
            raise ValueError(
                "operator %s is %s with call %s, which is not held so" % (operator.id, operator.state, call.id)
            )
    for call in calls.values():
        holders = call.ringers if call.state is RINGING and call.ringers else [call.operator]
        for holder in holders:
            if holder is None or holder.call is not call:
                raise ValueError("call %s is %s but no operator holds it" % (call.id, call.state))


def copy_figures(figures: QueueFigures, saved: Any) -> None:
    """Put the figures of ``QueueFigures.to_dict()`` into ``figures`` (what counts in them
    keeps counting in the same object)."""
    loaded = QueueFigures.from_dict(saved)
    for name in FIGURE_NAMES:
        setattr(figures, name, getattr(loaded, name))


# Other operators or queues.

OPERATOR_GONE = "operator gone"
QUEUE_GONE = "queue gone"
NOT_A_MEMBER = "not a member"


class ConflictError(Exception):
    """Saved data that cannot take the operators or queues asked for without losing a call.

    ``kind``: OPERATOR_GONE (``operator``, ``state`` with ``call``, is not among the operators),
    QUEUE_GONE (``call`` is in ``queue``, which is gone and was not the default queue) or
    NOT_A_MEMBER (``operator``, ``state`` with ``call`` of ``queue``, no longer serves it)."""

    def __init__(
        self,
        kind: str,
        call: str,
        queue: Optional[str] = None,
        operator: Optional[str] = None,
        state: Optional[str] = None,
    ) -> None:
        Exception.__init__(self, kind, call, queue, operator, state)
        self.kind = kind
        self.call = call
        self.queue = queue
        self.operator = operator
        self.state = state


def reconfigured(data: Data, operator_ids: Sequence[str], queues: Optional[Sequence[QueueConfig]], now: float) -> Data:
    """``data`` with the operators ``operator_ids``, in that order, routed by ``queues`` (None:
    one default queue of every operator), for :func:`center_from_data`, which then has an
    operator who is free in a queue take its waiting calls, in order of arrival.

    An operator kept keeps its state and figures; a new one is available from ``now``. A call
    keeps its queue, or goes to the new default queue when its queue was the default one.
    The other ringers of a ring-all call that go or no longer serve its queue stop ringing. A
    queue keeps its figures, and its strategy's memory while its configuration is the same.
    :class:`ConflictError` when a call would be lost: its operator goes, its queue goes (other than
    the default), or its operator no longer serves its queue."""
    records = {record["id"]: record for record in data["operators"]}
    keep = set(operator_ids)
    holders: Dict[str, str] = {}  # each call's first operator, in configured order
    for record in data["operators"]:
        if record["call"] is not None:
            holders.setdefault(record["call"], record["id"])
    for call_id, operator_id in holders.items():
        if operator_id not in keep:
            raise ConflictError(OPERATOR_GONE, call_id, operator=operator_id, state=records[operator_id]["state"])
    saved_configs = data["settings"]["queues"]
    configs = None if queues is None else list(queues)
    names = [DEFAULT_QUEUE] if configs is None else [config.name for config in configs]
    old_default = DEFAULT_QUEUE if saved_configs is None else saved_configs[0]["name"]

    def queue_now(call_id: str, name: str) -> str:
        if name in names and saved_configs is not None:
            return name
        if name == old_default:
            return names[0]
        raise ConflictError(QUEUE_GONE, call_id, queue=name)

    moved = {call["id"]: queue_now(call["id"], call["queue"]) for call in data["calls"]}
    waiting = [(entry, queue_now(entry[0], queue["name"])) for queue in data["queues"] for entry in queue["waiting"]]
    arrival = sorted(waiting, key=lambda placed: placed[0][3])  # each queue's offer order within one time
    named = set() if configs is None else {member for config in configs for member, _ in config.members}
    members: Dict[str, Set[str]] = {name: set() for name in names}
    for config in configs or ():
        members[config.name] = {member for member, _ in config.members}

    def serves(operator_id: str, name: str) -> bool:
        if configs is None or operator_id in members[name]:
            return True
        return name == names[0] and operator_id not in named  # a member that joined with login

    for call_id, operator_id in holders.items():
        if not serves(operator_id, moved[call_id]):
            raise ConflictError(
                NOT_A_MEMBER, call_id, queue=moved[call_id], operator=operator_id, state=records[operator_id]["state"]
            )
    operators = [
        dict(records[operator_id]) if operator_id in records else new_operator(operator_id, now)
        for operator_id in operator_ids
    ]
    by_id = {record["id"]: record for record in operators}
    calls = []
    for saved_call in data["calls"]:
        call = dict(saved_call, queue=moved[saved_call["id"]])
        if call["ringers"] is not None:
            ringers = [
                operator_id
                for operator_id in call["ringers"]
                if operator_id in keep and serves(operator_id, call["queue"])
            ]
            for operator_id in call["ringers"]:
                if operator_id in by_id and operator_id not in ringers:
                    by_id[operator_id].update(state=AVAILABLE, call=None)
            call["ringers"] = ringers
            if call["operator"] not in ringers:
                call["operator"] = ringers[-1]
        calls.append(call)
    saved_queues = {queue["name"]: queue for queue in data["queues"]}
    new_queues = []
    for position, name in enumerate(names):
        saved = saved_queues.get(name)
        if configs is None:
            same = saved_configs is None
        else:
            same = saved_configs is not None and configs[position].to_dict() in saved_configs
        new_queues.append(
            {
                "name": name,
                "waiting": [entry for entry, queue_name in arrival if queue_name == name],
                "figures": saved["figures"] if saved is not None else QueueFigures().to_dict(),
                "memory": saved["memory"] if saved is not None and same else None,
                "members": saved.get("members", []) if saved is not None and same else [],
            }
        )
    settings = dict(data["settings"], queues=None if configs is None else [config.to_dict() for config in configs])
    return dict(
        data,
        settings=settings,
        operators=operators,
        dynamic=[operator_id for operator_id in data["dynamic"] if operator_id in keep],
        calls=calls,
        queues=new_queues,
        timers=[timer for timer in data["timers"] if timer["operator"] in keep],  # the wait timer starts afresh
    )


def new_operator(operator_id: str, now: float) -> Data:
    """The data of an operator that joins now: available, no figures yet."""
    return {
        "id": operator_id,
        "state": AVAILABLE,
        "call": None,
        "reason": None,
        "since": now,
        "pending": None,
        "pending_reason": None,
        "no_answer": 0,
        "answered": 0,
        "rejected": 0,
        "ignored": 0,
        "talk_time": 0.0,
        "joined": now,
        "paused_time": {},
        "wrap_up_time": 0.0,
        "logged_out_time": 0.0,
    }


# The state of a snapshot of format 1.

# CallCenter's own defaults, for settings a restore does not give.
DEFAULT_SETTINGS = {
    "ring_timeout": DEFAULT_RING_TIMEOUT,
    "service_level": DEFAULT_SERVICE_LEVEL,
    "strategy": LINEAR,
    "seed": None,
    "wrap_up": 0.0,
    "max_no_answer": 0,
    "max_queue": 0,
    "max_wait": 0.0,
}


def data_from_v1(
    operators: Sequence[Tuple[str, str, Optional[str]]],
    queue: Sequence[str],
    stats: Optional[Data],
    routing: Optional[Data],
    settings: Dict[str, Any],
    now: float,
) -> Data:
    """The data of the state a snapshot of format 1 held, for :func:`center_from_data`.

    ``operators``: (id, state, call id or None) in configured order, an operator that held no
    call saved available (its presence is in ``routing``), a ring-all call at its first
    operator only (the others in ``routing["ringers"]``); ``queue``: the waiting calls, queue
    by queue in offer order; ``stats`` and ``routing``: what that CallCenter's ``stats_state()``
    and ``routing_state()`` returned (None when the snapshot has none). ``settings``: the
    restoring server's options (keys of ``SETTINGS``), which format 1 did not keep. What it did
    not keep either starts ``now``: the time an operator logged in when its presence had no
    figures yet, a call's received-at time, the timers (started afresh by center_from_data).
    :class:`CallCenterError` when the parts do not hold together."""
    try:
        return _data_from_v1(operators, queue, stats or {}, routing or {}, settings, now)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
        raise CallCenterError("the saved state cannot be read: %s" % (describe(error),)) from None


def _data_from_v1(
    operators: Sequence[Tuple[str, str, Optional[str]]],
    queue: Sequence[str],
    stats: Data,
    routing: Data,
    given: Dict[str, Any],
    now: float,
) -> Data:
    for name, part in (("stats", stats), ("routing", routing)):
        if part and part.get("version") != 1:
            raise ValueError("%s of version %r" % (name, part.get("version")))
    saved_queues = routing.get("queues") or {}
    configs = saved_queues.get("config")
    if configs is not None:
        configs = [QueueConfig.from_dict(config).to_dict() for config in configs]
    default = DEFAULT_QUEUE if not configs else configs[0]["name"]
    settings = dict(DEFAULT_SETTINGS)
    settings.update(given)
    settings.update(strategy=str(routing.get("strategy", settings["strategy"])), queues=configs)
    placed = {
        str(call_id): (str(name), int(order)) for call_id, (name, order) in (saved_queues.get("calls") or {}).items()
    }
    priorities = routing.get("priorities") or {}
    received = stats.get("received_at") or {}
    presence = routing.get("presence") or {}
    saved_ringers = routing.get("ringers") or {}
    figures = stats.get("operators") or {}

    def saved_call(call_id: str) -> Tuple[str, int, float, int]:
        """Its queue, priority, received-at time and order."""
        name, order = placed.get(call_id, (default, 0))
        return name, parse_priority(priorities.get(call_id, 0)), float(received.get(call_id, now)), order

    def call_data(call_id: str, state: str, operator: str) -> Data:
        name, priority, received_at, order = saved_call(call_id)
        keys = ("id", "state", "queue", "priority", "received_at", "order", "operator", "ringers", "first_position")
        return dict(zip(keys, (call_id, state, name, priority, received_at, order, operator, None, 0)))

    records = []
    calls = []
    for operator_id, state, call_id in operators:
        saved = presence.get(operator_id) or {}
        counted = figures.get(operator_id) or {}
        absent = ABSENT.get(saved.get("state"))
        if call_id is not None and absent is not None:
            raise ValueError("operator %s is %s but holds call %s" % (operator_id, absent, call_id))
        record = new_operator(operator_id, now)
        record.update(
            state=OPERATOR_STATES[state] if call_id is not None else absent or AVAILABLE,
            call=call_id,
            reason=saved.get("reason") if absent is not None else None,
            since=float(counted.get("since", saved.get("since", now) if absent is not None else now)),
            pending=PENDING[saved.get("pending")],
            pending_reason=saved.get("pending_reason"),
            no_answer=int(saved.get("no_answer", 0)),
            answered=int(counted.get("answered", 0)),
            rejected=int(counted.get("rejected", 0)),
            ignored=int(counted.get("ignored", 0)),
            talk_time=float(counted.get("talk_time", 0.0)),
        )
        if "paused_time" in saved:
            record.update(
                paused_time={str(reason): float(seconds) for reason, seconds in saved["paused_time"].items()},
                wrap_up_time=float(saved["wrap_up_time"]),
                logged_out_time=float(saved["logged_out_time"]),
                joined=float(saved["joined"]),
            )
        records.append(record)
        if call_id is not None:
            calls.append(call_data(call_id, HOLDS[record["state"]], operator_id))
    by_id = {record["id"]: record for record in records}
    for call in calls:
        if call["state"] is RINGING and len(saved_ringers.get(call["id"], ())) > 1:
            held = call["operator"]
            ringers = []
            for operator_id in saved_ringers.get(call["id"], ()):
                found = by_id.get(operator_id)
                if found is None or operator_id in ringers:
                    continue
                if operator_id == held:
                    ringers.append(operator_id)
                elif found["state"] is AVAILABLE and found["call"] is None:
                    found.update(state=RINGING, call=call["id"])
                    ringers.append(operator_id)
                    call["operator"] = operator_id  # the last one rung, as ring-all leaves it
            if held not in ringers:
                ringers.insert(0, held)
            call["ringers"] = ringers if len(ringers) > 1 else None
    names = [DEFAULT_QUEUE] if not configs else [config["name"] for config in configs]
    waiting: Dict[str, List[Any]] = {name: [] for name in names}
    orders = []
    for call_id in queue:
        name, priority, received_at, order = saved_call(call_id)
        if name not in waiting:
            raise ValueError("call %s waits in queue %s, which is not configured" % (call_id, name))
        waiting[name].append([call_id, priority, received_at, order, len(waiting[name]) + 1])
        orders.append(order)
    by_queue = saved_queues.get("memory") or {}
    queue_figures = stats.get("queues") or {}
    queues = []
    for name in names:
        if configs is None:
            memory = [routing["memory"]] if "memory" in routing else None
        else:
            memory = by_queue.get(name)
        queues.append(
            {
                "name": name,
                "waiting": waiting[name],
                "figures": queue_figures.get(name, QueueFigures().to_dict()),
                "memory": memory,
            }
        )
    return {
        "version": VERSION,
        "settings": settings,
        "operators": records,
        "dynamic": [str(operator_id) for operator_id in routing.get("dynamic", ())],
        "calls": calls,
        "queues": queues,
        "figures": stats.get("figures", QueueFigures().to_dict()),
        "timers": [],
        "arrivals": max([call["order"] for call in calls] + orders + [0]),
        "received_at": now,
    }
