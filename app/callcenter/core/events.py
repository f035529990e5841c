"""What happened: one immutable class per kind of event the call center tells.

Layer: core (pure data: no I/O, no Twisted, no formatting). Every transition of the core
(:mod:`callcenter.core.center`) returns the events it made, in the order they happened, and
tells them to its subscribers (:class:`callcenter.core.bus.EventBus`); the durable call center
adds the two events of its disk. The assignment's lines are one rendering of these
(:mod:`callcenter.core.rendering`); the wire's ``subscribe`` sends them as JSON objects
(docs/protocol.md lists every event and field).

Each event holds the virtual time it happened at (``at``, a reading of the core's clock) and
plain values: ids (strings), queue names, counts, positions and durations in seconds. An
operator's own state follows from the call events (ringing from :class:`CallRinging` until
the ring ends, busy from :class:`CallAnswered` until :class:`CallFinished`); its presence
(paused, logged out, wrap-up) has events of its own. Every ring ends with exactly one event
that tells how long it rang (``ring``): :class:`CallAnswered`, :class:`CallRejected`,
:class:`CallIgnored` or :class:`RingCanceled`.

Positions count from 1 in the order the queue's calls will be offered (priority first, then
arrival), among the calls waiting in that queue (not those ringing).
"""

from operator import attrgetter
from typing import Any, Callable, Dict, Tuple

# The reasons of RingCanceled.
HUNG_UP = "hangup"
ANSWERED_ELSEWHERE = "answered elsewhere"
PAUSED_WHILE_RINGING = "paused"
LOGGED_OUT_WHILE_RINGING = "logged out"
# Who ended an answered call (CallFinished.ended_by): ``hangup`` is the caller's command,
# ``finish`` the operator's.
CALLER = "caller"
OPERATOR = "operator"
# What an operator is once its call finished (CallFinished.then), as the line says it.
THEN_AVAILABLE = "available"
THEN_WRAP_UP = "in wrap-up"
THEN_PAUSED = "paused"
THEN_LOGGED_OUT = "logged out"


# Annotations of Event that are not fields: what EventType sets on each class.
RESERVED = ("fields", "name", "new")


class EventType(type):
    """Makes an event class from its annotated fields, as ``dataclass(frozen=True,
    slots=True)`` would on a newer Python: a slot per field, a read-only property per field,
    and an ``__init__`` taking the fields in order (those of the base class first). ``new``, a
    plain function of the same fields, builds the same event without ``type.__call__`` (which
    runs ``__init__`` in an interpreter of its own: 50 ns more an event on Python 3.13), for the
    events of every call."""

    def __new__(mcs, name: str, bases: Tuple[type, ...], namespace: Dict[str, Any]) -> "EventType":
        inherited: Tuple[str, ...] = ()
        for base in bases:
            inherited += getattr(base, "fields", ())
        own = tuple(
            field for field in namespace.get("__annotations__", {}) if field not in inherited and field not in RESERVED
        )
        fields = inherited + own
        namespace["__slots__"] = tuple("_" + field for field in own)
        namespace["fields"] = fields
        namespace.setdefault("name", name)
        cls = type.__new__(mcs, name, bases, namespace)
        for field in own:
            setattr(cls, field, property(attrgetter("_" + field)))
        if fields:
            source = "def __init__(self, %s):\n%s" % (
                ", ".join(fields),
                "".join("    self._%s = %s\n" % (field, field) for field in fields),
            )
            code: Dict[str, Any] = {}
            exec(source, code)  # one plain assignment a field: as fast as a hand-written __init__
            init = code["__init__"]
            init.__qualname__ = "%s.__init__" % name
            setattr(cls, "__init__", init)  # noqa: B010  (an assignment mypy would take for an instance's)
            source = "def new(%s):\n    event = allocate(cls)\n%s    return event\n" % (
                ", ".join(fields),
                "".join("    event._%s = %s\n" % (field, field) for field in fields),
            )
            code = {"allocate": object.__new__, "cls": cls}
            exec(source, code)
            new = code["new"]
            new.__qualname__ = "%s.new" % name
            setattr(cls, "new", staticmethod(new))  # noqa: B010
        return cls


def reader(*fields: str) -> "Callable[[Any], Any]":
    """A C-level function of an event that gives the value of ``fields`` (a tuple of them
    for several): ``attrgetter`` of the fields themselves, read from their slots (a property
    a field would cost a second call)."""
    return attrgetter(*("_" + field for field in fields))


class Event(metaclass=EventType):
    """Something that happened, at ``at`` seconds on the call center's clock."""

    at: float
    fields: Tuple[str, ...]  # set by EventType: the fields in order
    name: str  # set by EventType: the class's name, the event's name on the wire
    new: "Callable[..., Any]"  # set by EventType: builds one from its fields, as the class does

    def __init__(self, *values: Any, **named: Any) -> None:  # replaced by EventType; here for type checkers
        raise NotImplementedError

    def values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, field) for field in self.fields)

    def to_dict(self) -> Dict[str, Any]:
        """``{"event": <name>, <field>: <value>, ...}``: its JSON object on the wire."""
        document: Dict[str, Any] = {"event": self.name}
        for field in self.fields:
            document[field] = getattr(self, field)
        return document

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Event) and other.values() == self.values()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((type(self), self.values()))

    def __repr__(self) -> str:
        return "%s(%s)" % (self.name, ", ".join("%s=%r" % (field, getattr(self, field)) for field in self.fields))


# Calls.


class CallReceived(Event):
    """A call arrived in ``queue`` with ``priority`` (0 to 9). What happens to it comes next:
    :class:`CallRinging` (at one operator, or several with ring-all), :class:`CallQueued` or
    :class:`CallRefused`. Asterisk: ``ENTERQUEUE``, ``QueueCallerJoin``."""

    call: str
    queue: str
    priority: int


class CallRefused(Event):
    """The call found its queue full (``waiting`` calls, its ``max-queue``) and is not kept.
    ``default_queue``: ``queue`` is the default one, whose lines do not name it."""

    call: str
    queue: str
    default_queue: bool
    waiting: int


class CallQueued(Event):
    """The call waits in ``queue`` at ``position`` (from 1, in offer order), with ``waiting``
    calls in that queue now, itself included. ``back``: it came back from a ring whose
    operator paused or logged out (to the head of its priority) rather than arriving.
    ``default_queue``: ``queue`` is the default one, whose lines do not name it.
    Asterisk: ``QueueCallerJoin`` (Position, Count)."""

    call: str
    queue: str
    default_queue: bool
    priority: int
    position: int
    waiting: int
    back: bool


class CallRinging(Event):
    """The call rings ``operator``, who is no longer available; it rings until
    :class:`CallAnswered`, :class:`CallRejected`, :class:`CallIgnored` or
    :class:`RingCanceled` for that operator. ``timeout``: the ring timeout in seconds (0:
    none). Asterisk: ``AgentCalled``."""

    call: str
    operator: str
    queue: str
    timeout: float


class CallAnswered(Event):
    """``operator`` answered the call after it had waited ``wait`` seconds since it arrived
    and rung ``ring`` seconds at that operator; the operator is busy with it. With ring-all,
    a :class:`RingCanceled` follows for each other operator it rang. Asterisk: ``CONNECT``
    (holdtime, ringtime), ``AgentConnect`` (HoldTime, RingTime)."""

    call: str
    operator: str
    queue: str
    wait: float
    ring: float


class CallRejected(Event):
    """``operator`` rejected the call after it rang ``ring`` seconds; the operator is
    available again and the call is offered again. Asterisk: ``AgentRingNoAnswer``."""

    call: str
    operator: str
    queue: str
    ring: float


class CallIgnored(Event):
    """The ring timer of ``operator`` fired: the call rang ``ring`` seconds unanswered and is
    offered again. Asterisk: ``RINGNOANSWER`` (ring ms), ``AgentRingNoAnswer`` (RingTime)."""

    call: str
    operator: str
    queue: str
    ring: float


class RingCanceled(Event):
    """The call stopped ringing ``operator`` after ``ring`` seconds without a line of its
    own: ``reason`` is ``hangup`` (the caller hung up), ``answered elsewhere`` (ring-all:
    another operator answered), ``paused`` or ``logged out`` (the operator left: its own
    event comes first). Asterisk: ``RINGCANCELED`` (ring ms)."""

    call: str
    operator: str
    queue: str
    ring: float
    reason: str


class CallMissed(Event):
    """The caller hung up before an answer, after ``wait`` seconds. ``position``: where it
    was waiting (None: it was ringing, see :class:`RingCanceled`); ``original_position``:
    where it first waited (None: it never waited). Asterisk: ``ABANDON``,
    ``QueueCallerAbandon`` (Position, OriginalPosition, HoldTime)."""

    call: str
    queue: str
    wait: float
    position: Any  # Optional[int]
    original_position: Any  # Optional[int]


class CallTimedOut(Event):
    """The call waited ``wait`` seconds, its queue's ``max-wait``, and left it. ``position``:
    where it was waiting (None: it was coming back from a ring, past its limit);
    ``original_position``: where it first waited (None: it never waited).
    ``default_queue``: ``queue`` is the default one, whose lines do not name it.
    Asterisk: ``EXITWITHTIMEOUT``."""

    call: str
    queue: str
    default_queue: bool
    wait: float
    position: Any  # Optional[int]
    original_position: Any  # Optional[int]


class CallFinished(Event):
    """The answered call ended after ``talk`` seconds of talk (it had waited ``wait`` before
    the answer); ``ended_by``: ``caller`` (the caller's ``hangup``) or ``operator`` (the
    operator's ``finish``). ``then``: what the operator is now, as the line says it:
    ``available``, ``in wrap-up`` (a :class:`WrapUpStarted` follows), ``paused`` or ``logged
    out`` (a pending presence: an :class:`OperatorPaused` or :class:`OperatorLoggedOut` follows). Asterisk:
    ``COMPLETECALLER``/``COMPLETEAGENT``, ``AgentComplete`` (HoldTime, TalkTime, Reason)."""

    call: str
    operator: str
    queue: str
    wait: float
    talk: float
    ended_by: str
    then: str


# Operators' presence.


class OperatorPaused(Event):
    """``operator`` is paused (``reason``: why, or None; ``no answer`` when ring timeouts
    paused it, ``--max-no-answer``): it takes no call until unpaused. ``after_call``: the
    call it finished when a pending pause took effect (:class:`CallFinished` told it), else
    None. A ringing operator's call is offered again (its :class:`RingCanceled` follows).
    Asterisk: ``PAUSE`` (reason), ``QueueMemberPause``."""

    operator: str
    reason: Any  # Optional[str]
    after_call: Any  # Optional[str]


class OperatorUnpaused(Event):
    """``operator``, paused, is available again. Asterisk: ``UNPAUSE``, ``QueueMemberPause``."""

    operator: str


class OperatorLoggedOut(Event):
    """``operator`` logged out: like a pause, and ``status`` shows it logged out.
    ``after_call``: as for :class:`OperatorPaused`."""

    operator: str
    after_call: Any  # Optional[str]


class OperatorLoggedIn(Event):
    """``operator`` logged in and is available. ``joined``: the queue a new operator (an id
    not known yet) joined, after the last operator (Asterisk's dynamic members:
    ``ADDMEMBER``, ``QueueMemberAdded``); None for one that was logged out."""

    operator: str
    joined: Any  # Optional[str]


class OperatorWillPause(Event):
    """``operator``, busy with ``call``, will pause when that call ends (``reason`` kept)."""

    operator: str
    call: str
    reason: Any  # Optional[str]


class OperatorWillLogOut(Event):
    """``operator``, busy with ``call``, will log out when that call ends."""

    operator: str
    call: str


class PauseCalledOff(Event):
    """``unpause`` of a busy operator about to pause: it stays busy with ``call``, no pause."""

    operator: str
    call: str


class LogoutCalledOff(Event):
    """``login`` of a busy operator about to log out: it stays busy with ``call``."""

    operator: str
    call: str


class OperatorLevelChanged(Event):
    """``operator`` serves ``queue`` at ``level`` now (it was at ``previous``): among the
    available members of the queue, a call rings those of the lowest level first.
    ``default_queue``: ``queue`` is the default one, whose lines do not name it. One event
    for each queue whose level changed. Asterisk: ``PENALTY``, ``QueueMemberPenalty``."""

    operator: str
    queue: str
    default_queue: bool
    level: int
    previous: int


class WrapUpStarted(Event):
    """``operator`` finished ``call`` and stays unavailable for ``seconds`` of wrap-up
    (:class:`CallFinished` told it)."""

    operator: str
    call: str
    seconds: float


class WrapUpEnded(Event):
    """``operator``'s wrap-up of ``seconds`` is over: it is available again."""

    operator: str
    seconds: float


# The durable call center's disk (--state-dir).


class ChangesRefused(Event):
    """The state directory ``directory`` refuses writes (``reason``: ``no space left``, ...):
    changes are refused, queries answered, until :class:`ChangesAccepted`."""

    reason: str
    directory: str


class ChangesAccepted(Event):
    """The state directory takes writes again: changes are accepted."""


CALL_EVENTS = (
    CallReceived,
    CallRefused,
    CallQueued,
    CallRinging,
    CallAnswered,
    CallRejected,
    CallIgnored,
    RingCanceled,
    CallMissed,
    CallTimedOut,
    CallFinished,
)
OPERATOR_EVENTS = (
    OperatorPaused,
    OperatorUnpaused,
    OperatorLoggedOut,
    OperatorLoggedIn,
    OperatorWillPause,
    OperatorWillLogOut,
    PauseCalledOff,
    LogoutCalledOff,
    WrapUpStarted,
    WrapUpEnded,
    OperatorLevelChanged,
)
STORE_EVENTS = (ChangesRefused, ChangesAccepted)
# Every event class, by its name on the wire.
EVENTS = {event.name: event for event in CALL_EVENTS + OPERATOR_EVENTS + STORE_EVENTS}
