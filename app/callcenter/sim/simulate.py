"""A day of synthetic traffic through the product's own core, in virtual time.

Layer: sim. Callers and operators are events on a :class:`HeapClock` (each stream's next
arrival beside it: the clock runs up to it, then the call arrives); they act only through
the core's public commands (``call``, ``answer``, ``reject``, ``hangup``) and learn what
happened from the core's events, which the replication hears as a subscriber
(``interfaces.IEventSubscriber``): what is measured is what the product does. The core's
timers run on the same clock.

The model, per replication:

- calls arrive as a Poisson process, at a rate constant over each segment of the day
  (``Segment``: one, or one per row of a profile);
- a call that rings an operator is answered (or, with probability ``reject_rate``,
  rejected) after an exponential ``answer_delay`` (0: at once), unless the ring times out
  first (the core's ``ring_timeout``) or the caller has gone;
- an answered call is hung up after a handle time: exponential, lognormal with a given
  coefficient of variation, or fixed;
- with a ``patience``, each caller gives up after an exponential time with that mean,
  waiting or ringing, and hangs up (a missed call): the Erlang A model.

Calls are counted in the interval they arrive in, from ``warm_up`` seconds after the
start to the end of ``duration``; arrivals stop at the end and the calls still in the
system are played out (for up to ``DRAIN_LIMIT``) so that every measured call has its
outcome. Occupancy is talk time over operator time within the measured window.

What operators do is :class:`OperatorBehaviour`; the core's options come from
:meth:`Model.center_options`: routing rules the core gains plug in there.
"""

import heapq
import itertools
import math
import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from zope.interface import implementer

from callcenter.core.center import DEFAULT_RING_TIMEOUT, DEFAULT_SERVICE_LEVEL, CallCenter, CallCenterError
from callcenter.core.events import (
    CallAnswered,
    CallFinished,
    CallIgnored,
    CallQueued,
    CallReceived,
    CallRefused,
    CallRejected,
    CallRinging,
    CallTimedOut,
    RingCanceled,
    reader,
)
from callcenter.core.rendering import render
from callcenter.interfaces import IEventSubscriber
from callcenter.sim.heapclock import HeapClock

# After the last arrival, the calls still in the system are played out for at most this long.
DRAIN_LIMIT = 24 * 3600.0

# Every figure of a replication, per interval and in total, in the order they are shown.
METRICS = (
    "offered",
    "answered",
    "abandoned_pct",
    "p_wait",
    "service_level",
    "asa",
    "longest_wait",
    "occupancy",
    "refused",
    "timed_out",
    "rejected",
    "waiting",
)

# The fields the replication reads of every call's events, read from their slots by C.
call_of = reader("call")
call_and_operator_of = reader("call", "operator")

# A ring: (operator, call id), one object per ring.
Ring = Tuple[str, str]

# A line the core printed (a command as ``> call 7``), with the virtual time it printed it at.
Transcript = Callable[[float, str], None]


class SimulationError(ValueError):
    """A model that cannot run: the message is one line for the user."""


class Segment(object):
    """Calls arrive at ``calls_per_hour`` from ``start`` to ``end`` (seconds of the day)."""

    __slots__ = ("calls_per_hour", "end", "start")

    def __init__(self, start: float, end: float, calls_per_hour: float) -> None:
        if not end > start:
            raise SimulationError("a profile row must start after the one before it")
        if not 0 <= calls_per_hour < float("inf"):
            raise SimulationError("calls per hour must be 0 or more, not %r" % (calls_per_hour,))
        self.start = start
        self.end = end
        self.calls_per_hour = calls_per_hour


class Stream(object):
    """Calls that arrive by ``segments`` into ``queue`` (None: the default one) with
    ``priority``: a profile's rows of one queue and priority."""

    __slots__ = ("priority", "queue", "segments")

    def __init__(self, segments: Sequence[Segment], queue: Optional[str] = None, priority: int = 0) -> None:
        if not segments:
            raise SimulationError("no arrivals: give a rate or a profile")
        if not 0 <= priority <= 9:
            raise SimulationError("a priority is a whole number from 0 to 9, not %r" % (priority,))
        self.segments = list(segments)
        self.queue = queue
        self.priority = priority

    def words(self) -> str:
        """What follows a call's id in a ``call`` command of this stream (``priority=3 queue=sales``)."""
        return call_words(self.priority, self.queue)


def call_words(priority: int, queue: Optional[str]) -> str:
    """What follows a call's id in a ``call`` command into ``queue`` with ``priority``."""
    return " ".join((["priority=%d" % priority] if priority else []) + (["queue=" + queue] if queue else []))


# The call center's routing options (CallCenter's keywords) a model may set: docs/routing.md.
ROUTING = ("strategy", "seed", "wrap_up", "max_no_answer", "max_queue", "max_wait", "queues")


class Model(object):
    """Everything one replication needs; plain values, checked once here.

    ``segments``: the arrivals of the one stream of calls, into the default queue; ``streams``,
    when given, take their place (a profile with queues and priorities). ``routing``: the call
    center's routing options (``ROUTING``: strategy, wrap-up, limits, ``queues``...), passed to the
    core as they are; the core's random strategy is seeded with each replication's seed."""

    def __init__(
        self,
        segments: Sequence[Segment],
        operator_ids: Sequence[str],
        handle_time: float,
        handle_distribution: str = "exponential",
        handle_cv: float = 1.0,
        answer_delay: float = 0.0,
        reject_rate: float = 0.0,
        patience: Optional[float] = None,
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        service_level: float = DEFAULT_SERVICE_LEVEL,
        warm_up: float = 0.0,
        interval: Optional[float] = None,
        sample_every: float = 60.0,
        streams: Optional[Sequence[Stream]] = None,
        routing: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.streams = list(streams) if streams else [Stream(segments)]
        unknown = sorted(set(routing or {}) - set(ROUTING))
        if unknown:
            raise SimulationError("no routing option %s" % ", ".join(unknown))
        self.routing = dict(routing or {})
        if not 0 < handle_time < float("inf"):
            raise SimulationError("the handle time must be a positive number of seconds")
        if handle_distribution not in ("exponential", "lognormal", "fixed"):
            raise SimulationError("unknown handle time distribution %r" % (handle_distribution,))
        if not 0 < handle_cv < float("inf"):
            raise SimulationError("the coefficient of variation must be a positive number")
        if not 0 <= answer_delay < float("inf"):
            raise SimulationError("the answer delay must be 0 or a positive number of seconds")
        if not 0 <= reject_rate < 1:
            raise SimulationError("the reject rate must be at least 0 and below 1")
        if patience is not None and not 0 < patience < float("inf"):
            raise SimulationError("the patience must be a positive number of seconds")
        self.segments = self.streams[0].segments  # with one stream, its arrivals
        self.start = min(stream.segments[0].start for stream in self.streams)
        self.end = max(stream.segments[-1].end for stream in self.streams)
        if not 0 <= warm_up < self.end - self.start:
            raise SimulationError("the warm-up must be shorter than the duration")
        if interval is not None and not interval > 0:
            raise SimulationError("the interval must be a positive number of seconds")
        self.operator_ids = list(operator_ids)
        self.handle_time = handle_time
        self.handle_distribution = handle_distribution
        self.handle_cv = handle_cv
        self.answer_delay = answer_delay
        self.reject_rate = reject_rate
        self.patience = patience
        self.ring_timeout = ring_timeout
        self.service_level = service_level
        self.warm_up = warm_up
        self.measured_from = self.start + warm_up
        # Intervals are counted from the start of the day; the first may be cut by the warm-up.
        self.interval = interval if interval is not None else self.end - self.start
        self.sample_every = min(sample_every, self.interval)
        self.first_bucket = int((self.measured_from - self.start) / self.interval)
        last = math.ceil((self.end - self.start) / self.interval - 1e-9)
        self.buckets = last - self.first_bucket

    def center_options(self) -> Dict[str, Any]:
        """The core's keyword arguments beyond operators and clock: its routing options."""
        return dict(self.routing, ring_timeout=self.ring_timeout, service_level=self.service_level)

    def bucket_start(self, index: int) -> float:
        """When the measured part of interval ``index`` (0: the first measured one) starts."""
        return max(self.measured_from, self.start + (self.first_bucket + index) * self.interval)

    def bucket_end(self, index: int) -> float:
        return min(self.end, self.start + (self.first_bucket + index + 1) * self.interval)

    def bucket_of(self, now: float) -> int:
        """The index of the interval ``now`` (within the measured window) falls in."""
        return int((now - self.start) / self.interval) - self.first_bucket

    def handle_sampler(self, rng: random.Random) -> Callable[[], float]:
        return handle_sampler(rng, self.handle_time, self.handle_distribution, self.handle_cv)


def handle_sampler(
    rng: random.Random, mean: float, distribution: str = "exponential", cv: float = 1.0
) -> Callable[[], float]:
    """Handle times of ``mean`` seconds drawn from ``rng``: exponential, lognormal with the
    coefficient of variation ``cv``, or fixed."""
    if distribution == "fixed":
        return lambda: mean
    if distribution == "lognormal":
        sigma = math.sqrt(math.log(1.0 + cv**2))
        mu = math.log(mean) - sigma * sigma / 2.0
        lognormal = rng.lognormvariate
        return lambda: lognormal(mu, sigma)
    draw = rng.random
    log = math.log
    return lambda: -mean * log(1.0 - draw())


class Tally(object):
    """The counts of one interval of one replication."""

    __slots__ = (
        "abandoned",
        "answered",
        "busy",
        "end",
        "offered",
        "refused",
        "rejected",
        "start",
        "timed_out",
        "wait_longest",
        "wait_total",
        "waited",
        "waiting_samples",
        "waiting_total",
        "within",
    )

    def __init__(self, start: float = 0.0, end: float = 0.0) -> None:
        self.start = start  # the measured part of the interval
        self.end = end
        self.offered = 0
        self.waited = 0  # found every operator busy (queued on arrival)
        self.answered = 0
        self.within = 0  # answered within the service level
        self.wait_total = 0.0
        self.wait_longest = 0.0
        self.abandoned = 0
        self.refused = 0  # queue full (--max-queue), or waited past --max-wait
        self.timed_out = 0  # ring timeouts
        self.rejected = 0
        self.busy = 0.0  # operator-seconds of talk
        self.waiting_total = 0  # calls waiting, summed over samples
        self.waiting_samples = 0

    def answered_after(self, wait: float, service_level: float) -> None:
        """One more call answered after waiting ``wait`` seconds."""
        self.answered += 1
        self.wait_total += wait
        if wait > self.wait_longest:
            self.wait_longest = wait
        if wait <= service_level:
            self.within += 1

    def add(self, other: "Tally") -> None:
        for name in self.__slots__:
            if name in ("start", "end"):
                continue
            if name == "wait_longest":
                self.wait_longest = max(self.wait_longest, other.wait_longest)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def figures(self, operator_seconds: float) -> Dict[str, Optional[float]]:
        """The figures of METRICS; ``None`` where there is nothing to measure."""
        answered = self.answered
        offered = self.offered
        return {
            "offered": float(offered),
            "answered": float(answered),
            "abandoned_pct": 100.0 * self.abandoned / offered if offered else None,
            "p_wait": self.waited / offered if offered else None,
            "service_level": self.within / answered if answered else None,
            "asa": self.wait_total / answered if answered else None,
            "longest_wait": self.wait_longest if answered else None,
            "occupancy": self.busy / operator_seconds if operator_seconds else None,
            "refused": float(self.refused),
            "timed_out": float(self.timed_out),
            "rejected": float(self.rejected),
            "waiting": self.waiting_total / self.waiting_samples if self.waiting_samples else None,
        }


class Caller(object):
    # No __slots__: a class without them is made by a specialized call on newer Pythons (one a
    # call here), and only the calls in the system have one.

    def __init__(self, arrived: float, tally: Optional[Tally]) -> None:
        self.arrived = arrived
        self.tally = tally  # None during the warm-up
        self.operator: Optional[str] = None  # the operator it rings now


@implementer(IEventSubscriber)
class TranscriptLines(object):
    """Writes the lines of the events it hears to a transcript, at the clock's time."""

    def __init__(self, transcript: Transcript, clock: HeapClock) -> None:
        self.transcript = transcript
        self.clock = clock

    def heard(self, events: List[Any], command: Optional[str]) -> None:
        now = self.clock.now
        for line in render(events):
            self.transcript(now, line)


class OperatorBehaviour(object):
    """What an operator does when a call rings it: answer after a delay, or reject."""

    def __init__(self, model: Model, rng: random.Random) -> None:
        self.delay = model.answer_delay
        self.reject_rate = model.reject_rate
        self.draw = rng.random
        # Every ring answered in the same instant: the replication skips on_ring (the hot path).
        self.at_once = not self.delay and not self.reject_rate

    def on_ring(self, run: "Replication", ring: "Ring") -> None:
        """``ring`` is (operator, call id); :meth:`Replication.answer` or ``reject`` takes it."""
        at = run.clock.now
        if self.delay:
            at -= self.delay * math.log(1.0 - self.draw())
        if self.reject_rate and self.draw() < self.reject_rate:
            run.clock.schedule(at, run.reject, ring)
        else:
            run.clock.schedule(at, run.answer, ring)


class ArrivalProcess(object):
    """The arrival times of a Poisson process whose rate is constant over each segment."""

    def __init__(self, segments: Sequence[Segment], draw: Callable[[], float]) -> None:
        self.segments = segments
        self.draw = draw
        self._segment = 0
        self._entered()

    def _entered(self) -> None:
        """The present segment's rate and end, read once per segment (0 and -inf past the last)."""
        if self._segment < len(self.segments):
            segment = self.segments[self._segment]
            self._per_hour, self._end = segment.calls_per_hour, segment.end
        else:
            self._per_hour, self._end = 0.0, float("-inf")

    def following(self, now: float) -> float:
        """The next arrival after ``now``, or inf once the last segment is over."""
        need = -math.log(1.0 - self.draw())  # in expected arrivals
        per_hour = self._per_hour
        if per_hour:
            following = now + need * 3600.0 / per_hour
            if following < self._end:
                return following
        segments = self.segments
        while self._segment < len(segments):
            segment = segments[self._segment]
            rate = segment.calls_per_hour / 3600.0
            room = rate * (segment.end - now)
            if need < room:
                self._entered()
                return now + need / rate
            need -= room
            now = segment.end
            self._segment += 1
        self._entered()
        return float("inf")


@implementer(IEventSubscriber)
class Replication(object):
    """One run of the model on a fresh call center and clock; it hears the core's events."""

    def __init__(
        self, model: Model, seed: int, transcript: Optional[Transcript] = None, listener: Optional[Any] = None
    ) -> None:
        """``listener``: an ``interfaces.IEventSubscriber`` that hears the core's events too
        (after the simulation's own handling of each)."""
        self.model = model
        self.rng = random.Random(seed)
        self.clock = HeapClock(model.start)
        self.transcript = transcript
        options = model.center_options()
        options["seed"] = seed  # the random strategy's draws: this replication's own
        self.center = CallCenter(
            model.operator_ids,
            self.clock.callLater,
            now=self.clock.seconds,
            **options,
        )
        if transcript is not None:  # ahead of this replication: the lines of the events its operators answer
            self.center.subscribe(TranscriptLines(transcript, self.clock))
        self.center.subscribe(self)
        if listener is not None:
            self.center.subscribe(listener)
        self.tallies = [Tally(model.bucket_start(index), model.bucket_end(index)) for index in range(model.buckets)]
        # Each stream's tallies by interval (here all streams share them), and its callers'
        # rate of giving up (0: they wait for ever).
        self.stream_tallies = [self.tallies] * len(model.streams)
        self.give_ups = [1.0 / model.patience if model.patience else 0.0] * len(model.streams)
        self.callers: Dict[str, Caller] = {}
        # operator -> its present ring: a response to an earlier ring finds another object here
        self.ringing: Dict[str, Ring] = {}
        self._next_id = map(str, itertools.count(1)).__next__  # the calls' ids: "1", "2", ...
        # Per stream, what its arrivals need (made by run(): a subclass may change the lists above).
        self._streams: List[Tuple[Callable[[float], float], int, Optional[str], float]] = []
        # Per stream, the tally its calls arriving now count in (None: not measured), until the
        # arrival at or after ``_tallies_until`` looks again.
        self._tallying: List[Optional[Tally]] = []
        self._tallies_until = float("-inf")
        self.unexpected = 0  # commands the core refused that the model thought valid
        self.behaviour = OperatorBehaviour(model, self.rng)
        self._at_once = self.behaviour.at_once
        self._service_level = model.service_level
        self.handle = model.handle_sampler(self.rng)
        self._draw = self.rng.random
        # Each stream's arrivals, and where its calls go: (priority, queue).
        self.arrivals = [ArrivalProcess(stream.segments, self._draw) for stream in model.streams]
        self.destinations = [(stream.priority, stream.queue) for stream in model.streams]
        # The four commands, each a plain call of the core's method unless a transcript listens.
        self._call = self.center.call if transcript is None else self._written_call
        self._answer = self._command(self.center.answer, "answer")
        self._reject = self._command(self.center.reject, "reject")
        self._hangup = self._command(self.center.hangup, "hangup")
        # The clock's schedule written out (its entry built and pushed here): at the end of each
        # handle time.
        self._heap = self.clock.heap
        self._order = self.clock.order

    # The run.

    def run(self) -> "Replication":
        model = self.model
        self._streams = [
            (arrivals.following, priority, queue, give_up)
            for arrivals, (priority, queue), give_up in zip(self.arrivals, self.destinations, self.give_ups)
        ]
        # Each stream's next arrival, beside the clock's heap (where each would cost a push and
        # a pop climbing the whole heap): the clock runs up to the first, then it happens.
        upcoming = [(arrivals.following(model.start), number) for number, arrivals in enumerate(self.arrivals)]
        heapq.heapify(upcoming)
        if model.buckets:
            self.clock.schedule(model.measured_from, self.sample, 0)
        end = model.end
        run_until, arrive, replace = self.clock.run_until, self.arrive, heapq.heapreplace
        if len(upcoming) == 1:  # one stream: its arrivals one after the other, no heap of them
            at = upcoming[0][0]
            while at < end:
                run_until(at)
                at = arrive(0)
        else:
            while True:
                at, stream = upcoming[0]
                if not at < end:
                    break
                run_until(at)
                replace(upcoming, (arrive(stream), stream))
        run_until(end + DRAIN_LIMIT)
        return self

    def _tally_at(self, now: float) -> Optional[Tally]:
        model = self.model
        if now < model.measured_from:
            return None
        index = model.bucket_of(now)
        return self.tallies[index] if index < len(self.tallies) else None

    def _look_at_tallies(self, now: float) -> None:
        """Each stream's tally for the calls arriving from ``now`` on, and until when it holds."""
        model = self.model
        if now < model.measured_from:
            self._tallying = [None] * len(self.stream_tallies)
            self._tallies_until = model.measured_from
            return
        index = int((now - model.start) / model.interval) - model.first_bucket
        self._tallying = [tallies[index] if index < len(tallies) else None for tallies in self.stream_tallies]
        # A little short of the next interval's start: up to there the index above holds whatever
        # the rounding; from there each arrival computes it again.
        self._tallies_until = model.start + (model.first_bucket + index + 1 - 1e-6) * model.interval

    # What callers do.

    def arrive(self, stream: int) -> float:
        """A call of stream number ``stream`` arrives now; the time of the stream's next one."""
        now = self.clock.now
        call_id = self._next_id()
        arrival_after, priority, queue, give_up = self._streams[stream]
        following = arrival_after(now)
        if now >= self._tallies_until:
            self._look_at_tallies(now)
        tally = self._tallying[stream]
        caller = Caller(now, tally)
        self.callers[call_id] = caller
        if tally is not None:
            tally.offered += 1
        self._call(call_id, priority, queue)  # what happens to it, the replication hears (heard)
        if give_up and caller.operator != "" and call_id in self.callers:  # not answered at once
            self.clock.schedule(now - math.log(1.0 - self._draw()) / give_up, self.give_up, call_id)
        return following

    def give_up(self, call_id: str) -> None:
        """Patience ran out: if the call is still waiting or ringing, the caller hangs up."""
        caller = self.callers.get(call_id)
        if caller is None or caller.operator == "":  # gone, or answered
            return
        del self.callers[call_id]
        if caller.tally is not None:
            caller.tally.abandoned += 1
        self._hangup(call_id)

    # What operators do.

    def answer(self, ring: "Ring") -> None:
        operator = ring[0]
        if self.ringing.get(operator) is not ring:
            return  # that ring ended: timed out, or the caller gave up
        del self.ringing[operator]
        try:
            self._answer(operator)
        except CallCenterError:
            self.unexpected += 1

    def reject(self, ring: "Ring") -> None:
        operator = ring[0]
        if self.ringing.get(operator) is not ring:
            return
        del self.ringing[operator]
        try:
            self._reject(operator)
        except CallCenterError:
            self.unexpected += 1

    # What the core tells.

    def heard(self, events: List[Any], command: Optional[str]) -> None:
        """The core's events, in order: rings to respond to, answers to time, and the counts
        (the most frequent first: this runs for every command)."""
        for event in events:
            kind = type(event)
            if kind is CallRinging:
                call_id, operator = call_and_operator_of(event)
                caller = self.callers.get(call_id)
                if caller is None or caller.operator == "":
                    continue  # answered already: its other rings (ring-all) end next
                if self._at_once:  # answered in the same instant: no ring to keep
                    caller.operator = ""
                    try:
                        self._answer(operator)  # its CallAnswered comes once these are told
                    except CallCenterError:
                        caller.operator = None
                        self.unexpected += 1
                    continue
                ring = (operator, call_id)
                self.ringing[operator] = ring
                caller.operator = operator
                self.behaviour.on_ring(self, ring)
            elif kind is CallReceived:
                continue
            elif kind is CallFinished:
                del self.callers[call_of(event)]
            elif kind is CallAnswered:
                self._answered(event)
            elif kind is CallQueued:
                caller = self.callers.get(event.call)
                if caller is not None:
                    caller.operator = None
                    if not event.back and caller.tally is not None:
                        caller.tally.waited += 1
            elif kind is RingCanceled:
                current = self.ringing.get(event.operator)
                if current is not None and current[1] == event.call:
                    del self.ringing[event.operator]
            elif kind is CallIgnored:
                self.ringing.pop(event.operator, None)
                caller = self.callers.get(event.call)
                if caller is not None and caller.tally is not None:
                    caller.tally.timed_out += 1
            elif kind is CallRejected:
                caller = self.callers.get(event.call)
                if caller is not None and caller.tally is not None:
                    caller.tally.rejected += 1
            elif kind is CallRefused:
                caller = self.callers.pop(event.call, None)
                if caller is not None and caller.tally is not None:
                    caller.tally.refused += 1
            elif kind is CallTimedOut:  # counted with the refused: turned away, not abandoned
                caller = self.callers.pop(event.call, None)
                if caller is not None and caller.tally is not None:
                    caller.tally.refused += 1

    def _answered(self, event: Any) -> None:
        call_id = call_of(event)
        caller = self.callers[call_id]
        caller.operator = ""  # answered
        now = self.clock.now
        handle = self.handle()
        ends = now + handle
        heapq.heappush(self._heap, (ends, self._order(), self._hangup, call_id))  # the caller hangs up
        tally = caller.tally
        if tally is not None:
            # Tally.answered_after, written out: it runs once a call.
            wait = now - caller.arrived
            tally.answered += 1
            tally.wait_total += wait
            if wait > tally.wait_longest:
                tally.wait_longest = wait
            if wait <= self._service_level:
                tally.within += 1
            if ends <= tally.end and now >= tally.start:
                tally.busy += handle  # the talk ends within the interval it starts in
                return
        self._busy(now, ends)

    def _written_call(self, call_id: str, priority: int, queue: Optional[str]) -> Any:
        """The core's ``call``, written to the transcript as the command a user would type."""
        assert self.transcript is not None
        words = call_words(priority, queue)
        self.transcript(self.clock.now, "> call %s%s" % (call_id, " " + words if words else ""))
        return self.center.call(call_id, priority, queue)

    def _command(self, method: Callable[..., Any], name: str) -> Callable[..., Any]:
        transcript = self.transcript
        if transcript is None:
            return method
        clock = self.clock

        def written(argument: str) -> Any:
            transcript(clock.now, "> %s %s" % (name, argument))
            return method(argument)

        return written

    # Measuring.

    def _busy(self, start: float, end: float) -> None:
        """Spread a talk's seconds over the intervals it overlaps, within the measured window."""
        model = self.model
        start = max(start, model.measured_from)
        end = min(end, model.end)
        index = model.bucket_of(start)
        if 0 <= index < len(self.tallies) and end <= model.bucket_end(index):
            if end > start:
                self.tallies[index].busy += end - start
            return
        while start < end and index < len(self.tallies):
            upto = min(end, model.bucket_end(index))
            if upto > start:
                self.tallies[index].busy += upto - start
                start = upto
            index += 1

    def sample(self, index: int) -> None:
        """The calls waiting now, counted towards the interval's average."""
        now = self.clock.now
        tally = self._tally_at(now)
        if tally is not None:
            tally.waiting_total += len(self.center.queue)
            tally.waiting_samples += 1
        following = now + self.model.sample_every
        if following < self.model.end:
            self.clock.schedule(following, self.sample, index + 1)


# Over the replications.

# Student's t quantiles by degrees of freedom (then a Cornish-Fisher expansion): 97.5 %, for the
# two-sided 95 % intervals, and 95 %, for one-sided 95 % bounds (sim/staffing.py).
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
T_95 = (
    6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
    1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
    1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697,
)  # fmt: skip


def t_quantile(freedom: int, one_sided: bool = False) -> float:
    """Student's t quantile of 97.5 % (``one_sided``: 95 %) with ``freedom`` degrees of freedom."""
    table, z = (T_95, 1.644854) if one_sided else (T_975, 1.959964)
    if freedom <= len(table):
        return table[freedom - 1]
    return z + (z**3 + z) / (4.0 * freedom) + (5 * z**5 + 16 * z**3 + 3 * z) / (96.0 * freedom**2)


class Estimate(object):
    """The mean over replications, its standard error and its 95 % confidence interval
    (``None`` with one value)."""

    __slots__ = ("error", "high", "low", "mean", "values")

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        count = len(self.values)
        self.mean = sum(self.values) / count if count else None
        self.low = self.high = self.error = None
        if count >= 2 and self.mean is not None:
            variance = sum((value - self.mean) ** 2 for value in self.values) / (count - 1)
            self.error = math.sqrt(variance / count)
            half = t_quantile(count - 1) * self.error
            self.low, self.high = self.mean - half, self.mean + half

    def contains(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high


def estimates(rows: Sequence[Dict[str, Optional[float]]]) -> Dict[str, Estimate]:
    """Per metric, the estimate over the replications that measured it."""
    return {
        metric: Estimate([row[metric] for row in rows if row[metric] is not None])  # type: ignore[misc]
        for metric in METRICS
    }


class Result(object):
    """What the replications gave: per replication its figures, total and per interval."""

    def __init__(self, model: Model, replications: Sequence[Any]) -> None:
        """``replications``: each with its ``tallies`` and its ``unexpected`` count."""
        self.model = model
        self.replications = len(replications)
        operators = len(model.operator_ids)
        self.total_rows = []
        self.interval_rows: List[List[Dict[str, Optional[float]]]] = [[] for _ in range(model.buckets)]
        for replication in replications:
            total = Tally()
            for index, tally in enumerate(replication.tallies):
                total.add(tally)
                length = model.bucket_end(index) - model.bucket_start(index)
                self.interval_rows[index].append(tally.figures(operators * length))
            self.total_rows.append(total.figures(operators * (model.end - model.measured_from)))
        self.total = estimates(self.total_rows)
        self.intervals = [estimates(rows) for rows in self.interval_rows]
        self.unexpected = sum(replication.unexpected for replication in replications)


def replication_seed(seed: int, number: int) -> int:
    """Each replication's own seed: fixed by the run's seed, different for each replication."""
    return seed * 1000003 + number


def simulate(
    model: Model,
    replications: int = 1,
    seed: int = 1,
    transcript: Optional[Transcript] = None,
    listeners: Optional[Callable[[int], Any]] = None,
) -> Result:
    """Run the replications; ``transcript`` hears every line of the first one;
    ``listeners(number)``, when given, is a subscriber to the events of replication
    ``number`` (or None)."""
    if replications < 1:
        raise SimulationError("at least one replication is needed")
    runs = []
    for number in range(replications):
        listener = listeners(number) if listeners is not None else None
        run = Replication(model, replication_seed(seed, number), transcript if number == 0 else None, listener)
        runs.append(run.run())
    return Result(model, runs)
