"""Section "staffing": replications per second of wall time on 1 and 2 worker processes and on a
local Dask cluster of 2 workers (one thread each), and the time to staff a 48-interval day of
three queues (bench/data/three-queues.ini and three-queues-day.csv) with ``callcenter staff``'s
search on 2 worker processes.

A replication here is a day (8 h) of one queue at 300 calls an hour, 18 operators, 180 s handle
time, as ``callcenter simulate`` runs it. Wall time, not CPU time: what parallel runs buy is
elapsed time; 1 and 2 workers are measured in turns, and the CPU seconds a replication took
(here and in the workers) are shown beside, which the machine's other work changes less:
their ratio is what the workers add to the work. The Dask cluster is started here on loopback
(``dask scheduler``, ``dask worker`` from this venv) and stopped at the end.
"""

import os
import subprocess
import sys
import time

from bench.common import ROOT, log, stop, summary

DATA = os.path.join(ROOT, "bench", "data")
QUEUES = os.path.join(DATA, "three-queues.ini")
DAY = os.path.join(DATA, "three-queues-day.csv")


def day_model():
    from callcenter.core.center import operator_names
    from callcenter.sim.simulate import Model, Segment

    return Model([Segment(0.0, 8 * 3600.0, 300.0)], operator_names(18), 180.0, patience=300.0)


def cpu_seconds():
    """CPU time of this process and of its children that have ended (the pool's workers, once
    joined)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def replications_per_second(runner, replications, seed=1):
    """Replications per second of wall time, the figures' total offered calls, and the CPU
    seconds a replication took here and in the runner's processes (none for Dask: its workers
    are not ours); the runner is closed."""
    from callcenter.sim.parallel import simulate_on

    cpu = cpu_seconds()
    started = time.monotonic()
    try:
        result = simulate_on(runner, day_model(), replications, seed)
    finally:
        runner.close()
    seconds = time.monotonic() - started
    return replications / seconds, result.total["offered"].mean, (cpu_seconds() - cpu) / replications


class LocalDask(object):
    """A scheduler and two single-threaded workers on loopback, in process groups of their own."""

    def __init__(self):
        import socket

        from distributed import Client

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = "tcp://127.0.0.1:%d" % port
        bin_dir = os.path.dirname(os.path.abspath(sys.executable))
        dask = os.path.join(bin_dir, "dask")
        self.processes = [self.start([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])]
        for name in ("one", "two"):
            self.processes.append(
                self.start(
                    [
                        dask,
                        "worker",
                        self.address,
                        "--name",
                        name,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--death-timeout",
                        "60",
                        "--local-directory",
                        "/tmp",
                    ]
                )
            )
        client = Client(self.address, timeout="30s", set_as_default=False)
        client.wait_for_workers(2, timeout=60)
        client.close()

    @staticmethod
    def start(argv):
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def stop(self):
        for process in reversed(self.processes):
            stop(process, timeout=15)


def staff_day(intervals):
    from callcenter.cli.arguments import read_text_option
    from callcenter.sim.parallel import ProcessRunner
    from callcenter.sim.staff_command import profile_intervals
    from callcenter.sim.staffing import Problem, parse_staff_queues, staff

    configs, targets = parse_staff_queues(read_text_option("queues", QUEUES), None, 20.0, None, None, None)
    day = profile_intervals(DAY, [config.name for config in configs])[:intervals]
    problem = Problem(configs, targets, day)
    runner = ProcessRunner(2)
    started = time.monotonic()
    try:
        plans = staff(problem, runner, 10, 1)
    finally:
        runner.close()
    seconds = time.monotonic() - started
    return {
        "intervals": len(plans),
        "queues": len(targets),
        "groups": [group.label for group in problem.groups],
        "seconds": seconds,
        "operator_intervals": sum(sum(plan.counts) for plan in plans),
        "erlang_alone_operator_intervals": sum(sum(plan.alone) for plan in plans),
    }


def run(quick=False):
    from callcenter.sim.parallel import ProcessRunner, SerialRunner

    # Enough replications that starting and joining the workers (a tenth of a second) is small
    # beside the work: a replication here takes about 0.035 s of CPU.
    replications = 48 if quick else 120
    runs = 3 if quick else 5
    results = {"replications": replications, "workers": {}, "cpu_per_replication": {}}
    offered = {}
    rates = {1: [], 2: []}
    cpu = {1: [], 2: []}
    load = [os.getloadavg()[0]]
    # 1 and 2 workers in turns, so that the machine's other work falls on both.
    for _ in range(runs):
        for workers in (1, 2):
            runner = SerialRunner() if workers == 1 else ProcessRunner(workers)
            rate, offered[workers], seconds = replications_per_second(runner, replications)
            rates[workers].append(rate)
            cpu[workers].append(seconds)
            log(
                "staffing: %d worker%s: %.2f replications/s, %.3f s of CPU a replication"
                % (workers, "" if workers == 1 else "s", rate, seconds)
            )
    load.append(os.getloadavg()[0])
    for workers in (1, 2):
        results["workers"][str(workers)] = summary(rates[workers])
        results["cpu_per_replication"][str(workers)] = summary(cpu[workers])
    results["load_average"] = load
    assert offered[1] == offered[2], "the same replications give the same figures"
    try:
        cluster = LocalDask()
    except ImportError:
        log("staffing: no Dask in this venv: the Dask figure is left out")
        results["dask"] = None
    else:
        from callcenter.sim.parallel import DaskRunner

        try:
            dask_rates = []
            for _ in range(runs):
                rate, dask_offered, _ = replications_per_second(DaskRunner(cluster.address), replications)
                assert dask_offered == offered[1]
                dask_rates.append(rate)
                log("staffing: Dask, 2 workers: %.2f replications/s" % rate)
            results["dask"] = summary(dask_rates)
        finally:
            cluster.stop()
    intervals = 12 if quick else 48
    results["staff"] = staff_day(intervals)
    log(
        "staffing: %d intervals of %d queues staffed in %.0f s on 2 workers (%d operator-intervals, %d by Erlang alone)"
        % (
            intervals,
            results["staff"]["queues"],
            results["staff"]["seconds"],
            results["staff"]["operator_intervals"],
            results["staff"]["erlang_alone_operator_intervals"],
        )
    )
    return results
