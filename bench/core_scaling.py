"""Section 1, core scaling: time per command against the queue length and the operator
count, and memory per queued call. In-process, on the pure state machine.

Ring timeouts are on (10 s) with a minimal O(1) scheduler standing in for the reactor's
``callLater`` (``task.Clock`` sorts its whole list on every call, which would time the
test double, not the call center): a timer fires when the benchmark calls it, as the
reactor would.

Queue scaling: 10 operators, all busy, N calls queued; one cycle times
  hangup of an answered call (its operator takes the head of the queue),
  reject (the call goes round to the same operator, the only one free),
  ring timeout (the same again, from the timer), answer,
  call (queued at the tail), hangup of a queued call chosen at random (missed), call,
which leaves the queue at N.
Operator scaling: M operators, all busy but one chosen at random, queue empty; one cycle
times call (rings the free one), reject, ring timeout, answer, hangup of a random busy call.
Strategy scaling (--strategy): M operators, half of them free (ring-all: one, as it rings
every free one), queue empty; one cycle times call (the strategy's pick), reject (its pick
among the others), ring timeout (again), answer, hangup of a random busy call, then pause
and unpause of the operator that hangup freed.
Queues scaling (--queues): 10^3 operators, all busy, 10^3 calls waiting; in one queue of every
operator, or in 10 queues where operator i serves queues i, i-1 and i-2 (mod 10), each call in
a random queue. One cycle times hangup of a waiting call chosen at random (missed), a call into
its queue, hangup of a random answered call (its operator takes the best head of the queues
it serves), reject and ring timeout (it rings again: nobody else is free), answer, and a call
into the queue the head left: every queue keeps its length.
"""

import gc
import random
import statistics
import time
import tracemalloc

from bench.common import log, summary
from callcenter.core.center import CallCenter, operator_names
from callcenter.core.queues import QueueConfig
from callcenter.core.strategies import RING_ALL, STRATEGIES

COMMANDS = ("call", "answer", "reject", "hangup", "ring timeout")
STRATEGY_COMMANDS = (*COMMANDS, "pause", "unpause")


class Timer(object):
    __slots__ = ("args", "cancelled", "function")

    def __init__(self, function, args):
        self.function = function
        self.args = args
        self.cancelled = False

    def cancel(self):
        self.cancelled = True

    def fire(self):
        self.function(*self.args)


class Scheduler(object):
    """``callLater``'s shape in O(1); ``last`` is the timer most recently scheduled."""

    def __init__(self):
        self.last = None

    def call_later(self, delay, function, *args):
        self.last = Timer(function, args)
        return self.last


class RandomSet(object):
    """Ids with O(1) add, remove and random choice (the benchmark's own bookkeeping)."""

    def __init__(self, items=()):
        self.items = list(items)
        self.where = {item: index for index, item in enumerate(self.items)}

    def add(self, item):
        self.where[item] = len(self.items)
        self.items.append(item)

    def remove(self, item):
        index = self.where.pop(item)
        last = self.items.pop()
        if index < len(self.items):
            self.items[index] = last
            self.where[last] = index

    def pop_random(self, rng):
        item = self.items[rng.randrange(len(self.items))]
        self.remove(item)
        return item


def timing_overhead():
    """Nanoseconds that one timed region costs when it times nothing."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(5):
        start = clock()
        total = 0
        for _ in range(20000):
            t = clock()
            total += clock() - t
        samples.append(total / 20000)
        del start
    return min(samples)


def queue_center(queued):
    scheduler = Scheduler()
    center = CallCenter(operator_names(10), scheduler.call_later, 10.0, now=time.time)
    busy = RandomSet()
    for n in range(10):
        call_id = "b%d" % n
        center.call(call_id)
        busy.add(call_id)
    for operator_id in operator_names(10):
        center.answer(operator_id)
    waiting = RandomSet()
    for n in range(queued):
        call_id = "q%d" % n
        center.call(call_id)
        waiting.add(call_id)
    return center, scheduler, busy, waiting


def queue_cycles(center, scheduler, busy, waiting, cycles, counter, rng, sums, counts):
    clock = time.perf_counter_ns
    for _ in range(cycles):
        gone = busy.pop_random(rng)
        t = clock()
        events = center.hangup(gone)
        sums["hangup"] += clock() - t
        head, operator = events[1].call, events[1].operator  # CallRinging
        waiting.remove(head)
        t = clock()
        center.reject(operator)
        sums["reject"] += clock() - t
        timer = scheduler.last
        t = clock()
        timer.fire()
        sums["ring timeout"] += clock() - t
        t = clock()
        center.answer(operator)
        sums["answer"] += clock() - t
        busy.add(head)
        for _ in range(2):
            counter[0] += 1
            call_id = "n%d" % counter[0]
            t = clock()
            center.call(call_id)
            sums["call"] += clock() - t
            waiting.add(call_id)
        missed = waiting.pop_random(rng)
        t = clock()
        center.hangup(missed)
        sums["hangup"] += clock() - t
        counts["call"] += 2
        counts["hangup"] += 2
        for command in ("reject", "ring timeout", "answer"):
            counts[command] += 1


def operator_center(operators, rng):
    scheduler = Scheduler()
    ids = operator_names(operators)
    center = CallCenter(ids, scheduler.call_later, 10.0, now=time.time)
    busy = RandomSet()
    for n in range(operators):
        call_id = "b%d" % n
        center.call(call_id)
        center.answer(ids[n])
        busy.add(call_id)
    center.hangup(busy.pop_random(rng))  # one operator free, at a random place
    return center, scheduler, busy


def operator_cycles(center, scheduler, busy, cycles, counter, rng, sums, counts):
    clock = time.perf_counter_ns
    for _ in range(cycles):
        counter[0] += 1
        call_id = "n%d" % counter[0]
        t = clock()
        events = center.call(call_id)
        sums["call"] += clock() - t
        operator = events[1].operator  # CallRinging
        t = clock()
        center.reject(operator)
        sums["reject"] += clock() - t
        timer = scheduler.last
        t = clock()
        timer.fire()
        sums["ring timeout"] += clock() - t
        t = clock()
        center.answer(operator)
        sums["answer"] += clock() - t
        busy.add(call_id)
        gone = busy.pop_random(rng)
        t = clock()
        center.hangup(gone)
        sums["hangup"] += clock() - t
    for command in COMMANDS:
        counts[command] += cycles


def strategy_center(strategy, operators, rng):
    """M operators under ``strategy``, half of them busy at random (all but one: ring-all)."""
    scheduler = Scheduler()
    ids = operator_names(operators)
    center = CallCenter(ids, scheduler.call_later, 10.0, now=time.time, strategy=strategy, seed=5)
    for operator_id in ids:  # all busy, in configured order whatever the strategy
        center.pause(operator_id)
    busy = RandomSet()
    for n, operator_id in enumerate(ids):
        center.unpause(operator_id)
        call_id = "b%d" % n
        center.call(call_id)
        center.answer(operator_id)
        busy.add(call_id)
    free = 1 if strategy == RING_ALL else operators // 2
    for _ in range(max(free, 1)):
        center.hangup(busy.pop_random(rng))
    return center, scheduler, busy


def strategy_cycles(center, scheduler, busy, cycles, counter, rng, sums, counts):
    clock = time.perf_counter_ns
    for _ in range(cycles):
        counter[0] += 1
        call_id = "n%d" % counter[0]
        t = clock()
        events = center.call(call_id)
        sums["call"] += clock() - t
        operator = events[1].operator  # CallRinging
        t = clock()
        events = center.reject(operator)
        sums["reject"] += clock() - t
        timer = scheduler.last
        operator = events[-1].operator  # CallRinging
        t = clock()
        timer.fire()
        sums["ring timeout"] += clock() - t
        ringing = center.calls[call_id].operator
        t = clock()
        center.answer(ringing.id)
        sums["answer"] += clock() - t
        busy.add(call_id)
        gone = busy.pop_random(rng)
        t = clock()
        events = center.hangup(gone)
        sums["hangup"] += clock() - t
        freed = events[0].operator  # CallFinished
        t = clock()
        center.pause(freed)
        sums["pause"] += clock() - t
        t = clock()
        center.unpause(freed)
        sums["unpause"] += clock() - t
    for command in STRATEGY_COMMANDS:
        counts[command] += cycles


QUEUE_COUNT = 10
QUEUES_SERVED = 3


def queues_center(queues, operators, queued, rng):
    """``operators`` busy, ``queued`` calls waiting; one queue, or ``queues`` of which each
    operator serves QUEUES_SERVED."""
    scheduler = Scheduler()
    ids = operator_names(operators)
    if queues == 1:
        center = CallCenter(ids, scheduler.call_later, 10.0, now=time.time)
    else:
        configs = [
            QueueConfig("q%d" % queue, [(ids[i], 0) for i in range(operators) if (queue - i) % queues < QUEUES_SERVED])
            for queue in range(queues)
        ]
        center = CallCenter((), scheduler.call_later, 10.0, now=time.time, queues=configs)
    names = center.queue_names()
    for operator_id in ids:
        center.pause(operator_id)
    busy = RandomSet()
    for n, operator_id in enumerate(ids):  # each operator rings for a call of its first queue
        center.unpause(operator_id)
        call_id = "b%d" % n
        center.call(call_id, 0, names[n % len(names)])
        center.answer(operator_id)
        busy.add(call_id)
    waiting = RandomSet()
    for n in range(queued):
        call_id = "q%d" % n
        center.call(call_id, 0, names[rng.randrange(len(names))])
        waiting.add(call_id)
    return center, scheduler, busy, waiting


def queues_cycles(center, scheduler, busy, waiting, cycles, counter, rng, sums, counts):
    clock = time.perf_counter_ns
    calls = center.calls
    for _ in range(cycles):
        missed = waiting.pop_random(rng)
        queue = calls[missed].queue.name
        t = clock()
        center.hangup(missed)
        sums["hangup"] += clock() - t
        counter[0] += 1
        call_id = "n%d" % counter[0]
        t = clock()
        center.call(call_id, 0, queue)
        sums["call"] += clock() - t
        waiting.add(call_id)
        gone = busy.pop_random(rng)
        t = clock()
        events = center.hangup(gone)
        sums["hangup"] += clock() - t
        head, operator = events[1].call, events[1].operator  # CallRinging
        waiting.remove(head)
        queue = calls[head].queue.name
        t = clock()
        center.reject(operator)
        sums["reject"] += clock() - t
        timer = scheduler.last
        t = clock()
        timer.fire()
        sums["ring timeout"] += clock() - t
        t = clock()
        center.answer(operator)
        sums["answer"] += clock() - t
        busy.add(head)
        counter[0] += 1
        call_id = "n%d" % counter[0]
        t = clock()
        center.call(call_id, 0, queue)
        sums["call"] += clock() - t
        waiting.add(call_id)
        counts["call"] += 2
        counts["hangup"] += 2
        for command in ("reject", "ring timeout", "answer"):
            counts[command] += 1


def measure(run_round, rounds, cycles, overhead, commands=COMMANDS):
    """Per command: mean ns per call in each round, then the median over rounds."""
    per_round = {command: [] for command in commands}
    for _ in range(rounds):
        sums = dict.fromkeys(commands, 0)
        counts = dict.fromkeys(commands, 0)
        gc.collect()
        run_round(cycles, sums, counts)
        for command in commands:
            per_round[command].append(sums[command] / counts[command] - overhead)
    return {command: summary(values) for command, values in per_round.items()}


class SteppingClock(object):
    """A clock that moves one second each time it is read: calls that never share a received-at time."""

    def __init__(self):
        self.time = 0.0

    def __call__(self):
        self.time += 1.0
        return self.time


def memory_per_queued_call(queued, spread=False):
    """Traced bytes per queued call, its id string included (ids like q123456). The calls
    arrive as fast as the loop makes them (a burst, on the real clock), or with ``spread``
    each at a time of its own (each with its own received-at float)."""
    center, _scheduler, _busy, _waiting = queue_center(0)
    if spread:
        center.now = SteppingClock()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(queued):
        center.call("q%d" % n)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(center.queue) == queued
    return (after - before) / queued


def run(quick=False):
    rng = random.Random(5)
    rounds, cycles = (3, 4000) if quick else (5, 20000)
    overhead = timing_overhead()
    log("core: timing overhead %.0f ns per timed region (subtracted)" % overhead)
    results = {"overhead_ns": overhead, "rounds": rounds, "cycles_per_round": cycles, "queue": {}, "operators": {}}
    counter = [0]
    for queued in (10**3, 10**5, 10**6):
        center, scheduler, busy, waiting = queue_center(queued)

        def run_round(n, sums, counts, center=center, scheduler=scheduler, busy=busy, waiting=waiting):
            queue_cycles(center, scheduler, busy, waiting, n, counter, rng, sums, counts)

        results["queue"][str(queued)] = measure(run_round, rounds, cycles, overhead)
        assert len(center.queue) == queued
        log("core: %d queued: %s" % (queued, brief(results["queue"][str(queued)])))
        del center, scheduler, busy, waiting, run_round
        gc.collect()
    for operators in (10, 10**3, 10**5):
        center, scheduler, busy = operator_center(operators, rng)

        def run_round(n, sums, counts, center=center, scheduler=scheduler, busy=busy):
            operator_cycles(center, scheduler, busy, n, counter, rng, sums, counts)

        results["operators"][str(operators)] = measure(run_round, rounds, cycles, overhead)
        log("core: %d operators: %s" % (operators, brief(results["operators"][str(operators)])))
        del center, scheduler, busy, run_round
        gc.collect()
    results["strategies"] = {}
    for strategy in STRATEGIES:
        results["strategies"][strategy] = {}
        for operators in (10, 10**3, 10**5):
            center, scheduler, busy = strategy_center(strategy, operators, rng)

            def run_round(n, sums, counts, center=center, scheduler=scheduler, busy=busy):
                strategy_cycles(center, scheduler, busy, n, counter, rng, sums, counts)

            figures = measure(run_round, rounds, cycles // 2, overhead, STRATEGY_COMMANDS)
            results["strategies"][strategy][str(operators)] = figures
            log("core: %s, %d operators: %s" % (strategy, operators, brief(figures, STRATEGY_COMMANDS)))
            del center, scheduler, busy, run_round
            gc.collect()
    results["queues"] = {}
    for queues in (1, QUEUE_COUNT):
        center, scheduler, busy, waiting = queues_center(queues, 10**3, 10**3, rng)

        def run_round(n, sums, counts, center=center, scheduler=scheduler, busy=busy, waiting=waiting):
            queues_cycles(center, scheduler, busy, waiting, n, counter, rng, sums, counts)

        results["queues"][str(queues)] = measure(run_round, rounds, cycles, overhead)
        assert len(center.queue) == 10**3
        log("core: %d queue(s), 10^3 operators: %s" % (queues, brief(results["queues"][str(queues)])))
        del center, scheduler, busy, waiting, run_round
        gc.collect()
    queued = 10**5 if quick else 10**6
    results["memory"] = {
        "queued": queued,
        "bytes_per_queued_call": memory_per_queued_call(queued),
        "bytes_per_queued_call_spread": memory_per_queued_call(queued, spread=True),
    }
    log(
        "core: %.0f bytes per queued call (%d queued in a burst), %.0f when each arrives at a time of its own"
        % (results["memory"]["bytes_per_queued_call"], queued, results["memory"]["bytes_per_queued_call_spread"])
    )
    return results


def brief(stats, commands=COMMANDS):
    return ", ".join("%s %.0f ns" % (command, stats[command]["median"]) for command in commands)


def ratios(results):
    """Worst per-command ratio of each dimension: big over small."""
    out = {}
    for dimension, small, big in (("queue", "1000", "1000000"), ("operators", "10", "100000")):
        per_command = {
            command: results[dimension][big][command]["median"] / results[dimension][small][command]["median"]
            for command in COMMANDS
        }
        out[dimension] = per_command
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=1))
    del statistics
