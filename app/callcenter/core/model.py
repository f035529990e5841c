"""The core's objects: a call, an operator, and the rules of their ids.

Layer: core (pure: plain records the transitions of :mod:`callcenter.core.center` change, the
read-outs read and :mod:`callcenter.core.state` saves and restores).
"""

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from callcenter.core.routing import Queue

# The states an operator is in (the core's, and those the figures of ``stats`` count).
AVAILABLE = "available"
RINGING = "ringing"
BUSY = "busy"
# Presence (docs/routing.md): an operator in one of these holds no call and gets none.
PAUSED = "paused"
LOGGED_OUT = "logged out"
WRAP_UP = "wrap-up"

# A call's states besides those it shares with its operator (RINGING, and BUSY as ANSWERED).
QUEUED = "queued"
ANSWERED = "answered"
ENDED = "ended"

MAX_ID_LENGTH = 64
MAX_REASON_LENGTH = 64
PRIORITIES = 10  # 0 (the default) to 9: a waiting call of higher priority is offered first


class CallCenterError(Exception):
    """Bad input: the message is one line for the user; nothing changed."""


class ChangeRefusedError(CallCenterError):
    """The store takes no change now, whatever it is (a standby, the disk or etcd unavailable):
    the message, which says why, is the client's whole error line."""


class Call(object):
    # operator: the one it rings or talks to; ringers: every one it rings when it rings
    # several at once (ring-all), else None. order: its place in the order of arrival, which
    # breaks ties of received_at between queues (0 with one queue, where each queue's FIFO
    # order says it). ticket: its place in its lane's deque (CallQueue); first_position:
    # where it first waited (0: it never waited).
    __slots__ = (
        "first_position",
        "id",
        "operator",
        "order",
        "priority",
        "queue",
        "received_at",
        "ringers",
        "state",
        "ticket",
    )

    def __init__(self, call_id: str, received_at: float, priority: int, queue: "Queue") -> None:
        self.id = call_id
        self.state = QUEUED
        self.operator: Optional[Operator] = None
        self.received_at = received_at
        self.priority = priority
        self.queue = queue
        self.order = 0
        self.ringers: "Optional[List[Operator]]" = None
        self.ticket = 0
        self.first_position = 0


class Operator(object):
    # since: when it entered its state (when a ring began, when it answered); pending: the
    # presence (PAUSED or LOGGED_OUT) a busy operator takes when its call ends; timer: its
    # ring timer or its wrap-up timer (never both); no_answer: ring timeouts in a row. The
    # rest are its figures for ``stats``.
    __slots__ = (
        "answered",
        "call",
        "id",
        "ignored",
        "index",
        "joined",
        "logged_out_time",
        "no_answer",
        "paused_time",
        "pending",
        "pending_reason",
        "reason",
        "rejected",
        "serves",
        "since",
        "state",
        "talk_time",
        "timer",
        "wrap_up_time",
    )

    def __init__(self, operator_id: str, index: int, since: float) -> None:
        self.id = operator_id
        self.index = index
        self.state = AVAILABLE
        self.call: Optional[Call] = None
        self.timer: Any = None
        self.since = since
        self.reason: Optional[str] = None  # why it is paused
        self.pending: Optional[str] = None
        self.pending_reason: Optional[str] = None
        self.no_answer = 0
        self.answered = 0
        self.rejected = 0
        self.ignored = 0
        self.talk_time = 0.0  # of its finished calls
        self.joined = since  # when it first logged in
        self.paused_time: Dict[str, float] = {}  # by reason ("" for none), ended pauses
        self.wrap_up_time = 0.0  # ended wrap-ups
        self.logged_out_time = 0.0  # ended log-outs
        # (queue, the strategy of its level there) for each queue it serves: while it is
        # available it is a member of each of these strategies.
        self.serves: "List[Tuple[Queue, Any]]" = []


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid id: one token of 1 to 64 printable characters."""
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable() or " " in value:
        raise CallCenterError(
            "invalid %s id %r: use 1 to %d printable characters, no spaces" % (kind, value[:80], MAX_ID_LENGTH)
        )
    return value


def check_reason(reason: str) -> str:
    if len(reason) > MAX_REASON_LENGTH or not reason.isprintable():
        raise CallCenterError("a pause reason is 1 to %d printable characters" % MAX_REASON_LENGTH)
    return reason


def is_digits(text: str) -> bool:
    """Whether ``text`` is ASCII digits only (``str.isdigit`` takes ``²``, which ``int`` refuses)."""
    return bool(text) and all("0" <= character <= "9" for character in text)


def small_whole_number(text: Any, highest: int) -> Optional[int]:
    """``text`` (its digits, at most two, or an int) as a whole number from 0 to ``highest``; None
    when it is not one. Words and the wire give numbers both ways."""
    if isinstance(text, str) and is_digits(text) and len(text) < 3:
        number = int(text)
    elif isinstance(text, int) and not isinstance(text, bool):
        number = text
    else:
        return None
    return number if 0 <= number <= highest else None


def parse_priority(text: Any) -> int:
    """A call's priority: a whole number from 0 to 9 (in words, ``priority=N``)."""
    priority = small_whole_number(text, PRIORITIES - 1)
    if priority is None:
        raise CallCenterError("priority must be a whole number from 0 to %d, not %s" % (PRIORITIES - 1, str(text)[:20]))
    return priority
