"""Section "simulation": simulated calls per second of CPU time for one replication of a day
(24 h) with 200 operators at occupancy 0.9 (1 call/s, 180 s handle time) and callers who give
up after 300 s on average (M/M/c+M), side by side with a minimal SimPy model and ciw's model of
the same system (bench/queue_models.py), in the same run; then the simulator's peak memory
for 10^4, 10^5 and 10^6 calls, each in a child process of its own.

Ours runs the product's full rules: every call goes through the core's call, answer and hangup
(and the ring timer, 10 s as the product's default, started and cancelled on every ring).
CPU time, not wall time, so that other work on a shared machine does not count; the median of
the runs is kept.
"""

import json
import subprocess
import sys
import time

from bench.common import ROOT, log, summary
from bench.queue_models import ciw_model, simpy_model

OPERATORS = 200
HANDLE = 180.0
PATIENCE = 300.0
RATE = 0.9 * OPERATORS / HANDLE  # calls per second
DAY = 24 * 3600.0
MEMORY_CALLS = (10**4, 10**5, 10**6)


def ours(duration, seed, ring_timeout=10.0):
    from callcenter.core.center import operator_names
    from callcenter.sim.simulate import Model, Segment, simulate

    model = Model(
        [Segment(0.0, duration, RATE * 3600)],
        operator_names(OPERATORS),
        HANDLE,
        patience=PATIENCE,
        ring_timeout=ring_timeout,
    )
    result = simulate(model, 1, seed)
    row = result.total_rows[0]
    return int(row["offered"]), int(row["answered"]), int(row["offered"] - row["answered"])


def timed(function, *arguments):
    started = time.process_time()
    counts = function(*arguments)
    return counts, time.process_time() - started


# The child's peak from /proc (VmHWM): ru_maxrss would carry the parent's peak across exec.
MEMORY_CHILD = """
import json, sys
from bench.simulation import RATE, ours
calls = int(sys.argv[1])
counts = ours(calls / RATE, 1)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"calls": counts[0], "peak_rss": peak}))
"""


def memory(calls):
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(calls)], cwd=ROOT, stdout=subprocess.PIPE, check=True
    )
    return json.loads(done.stdout.decode())


def run(quick=False):
    runs = 1 if quick else 3
    duration = DAY / 4 if quick else DAY
    models = {
        "callcenter": lambda seed: ours(duration, seed),
        "callcenter_no_ring_timer": lambda seed: ours(duration, seed, 0.0),
        "simpy": lambda seed: simpy_model(OPERATORS, RATE, HANDLE, PATIENCE, duration, seed),
        "ciw": lambda seed: ciw_model(OPERATORS, RATE, HANDLE, PATIENCE, duration, seed),
    }
    results = {"operators": OPERATORS, "occupancy": 0.9, "patience": PATIENCE, "duration": duration, "models": {}}
    for name, model in models.items():
        rates, outcomes = [], []
        for seed in range(1, runs + 1):
            counts, seconds = timed(model, seed)
            rates.append(counts[0] / seconds)
            outcomes.append({"offered": counts[0], "answered": counts[1], "abandoned": counts[2], "cpu_s": seconds})
            log(
                "simulation: %s seed %d: %d calls, %.2f s CPU, %.0f calls/s"
                % (name, seed, counts[0], seconds, rates[-1])
            )
        results["models"][name] = {"calls_per_second": summary(rates), "runs": outcomes}
    results["memory"] = []
    for calls in MEMORY_CALLS[:2] if quick else MEMORY_CALLS:
        point = memory(calls)
        log("simulation: %d calls, peak RSS %.1f MB" % (point["calls"], point["peak_rss"] / 1e6))
        results["memory"].append(point)
    return results
