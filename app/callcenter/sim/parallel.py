"""Replications in this process, on every core of this machine, or as tasks on a Dask cluster.

Layer: sim. A runner computes ``[function(*item) for item in items]`` and hands the results back
in the order of the items, wherever they ran, so that what the simulator prints depends only on
the seed: each replication is seeded from the run's seed and its own index
(:func:`callcenter.sim.simulate.replication_seed`), never from the worker that runs it.

- :class:`SerialRunner`: in this process (``--workers 1``).
- :class:`ProcessRunner`: a ``multiprocessing`` pool of worker processes (the standard library,
  Python 3.6 included). Workers ignore SIGINT: Ctrl-C reaches the parent, which terminates and
  joins every worker before it goes, so no process is left behind.
- :class:`DaskRunner`: tasks on an existing Dask distributed cluster (``--dask ADDRESS``, the
  ``dask`` extra). The scheduler gives the tasks of a worker lost mid-run to another worker.

``function`` must be a module-level function (it is sent by name) and the items picklable.
"""

import math
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

from zope.interface import implementer

from callcenter.interfaces import IRunner
from callcenter.sim.simulate import Model, Replication, Result, SimulationError, Transcript, replication_seed

# Items per task: enough tasks that the workers finish together, few enough that the cost of
# sending each is small beside its work.
TASKS_PER_WORKER = 4
# How long a Dask client waits for the scheduler before the run is refused.
DASK_CONNECT_TIMEOUT = "10s"


class RunnerError(SimulationError):
    """A runner that cannot start (no Dask, no scheduler at the address): one line for the user."""


def cpu_count() -> int:
    """The cores this process may run on: ``--workers``'s default."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Progress(object):
    """Work done and the time left, on one line of a terminal that it rewrites; silent when
    ``stream`` is not a terminal (piped or redirected). ``clock`` is a monotonic clock in seconds."""

    # Redrawn at most this often, in seconds.
    EVERY = 0.25

    def __init__(self, stream: Optional[TextIO], clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None and _is_terminal(stream) else None
        self.clock = clock
        self.started = clock()
        self.shown = 0.0
        self.done = 0
        self.total = 0
        self.note = ""
        self.width = 0

    @property
    def enabled(self) -> bool:
        return self.stream is not None

    def expect(self, count: int) -> None:
        """``count`` more items are on their way."""
        self.total += count
        self.draw()

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.draw()

    def say(self, note: str) -> None:
        """A word on what is being done (shown after the counts)."""
        self.note = note
        self.draw(force=True)

    def restart(self, note: str) -> None:
        """A new stage of unknown size (a search's round): the counts and the time left are its own."""
        self.done = self.total = 0
        self.started = self.clock()
        self.say(note)

    def draw(self, force: bool = False) -> None:
        if self.stream is None:
            return
        now = self.clock()
        if not force and now - self.shown < self.EVERY and self.done < self.total:
            return
        self.shown = now
        elapsed = now - self.started
        left = ""
        if 0 < self.done < self.total:
            left = ", %s left" % clock_text(elapsed * (self.total - self.done) / self.done)
        line = "%d/%d replications%s%s" % (self.done, self.total, left, ", " + self.note if self.note else "")
        self._write(line)

    def _write(self, line: str) -> None:
        assert self.stream is not None
        padding = " " * max(0, self.width - len(line))
        self.width = len(line)
        self.stream.write("\r" + line + padding)
        self.stream.flush()

    def finish(self) -> None:
        """Clear the line: what follows is printed where it was."""
        if self.stream is not None and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def clock_text(seconds: float) -> str:
    """``0:42``, ``12:05`` or ``1:02:03``."""
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    return "%d:%02d:%02d" % (hours, rest // 60, rest % 60) if hours else "%d:%02d" % (rest // 60, rest % 60)


def call_each(function: Callable[..., Any], chunk: Sequence[Sequence[Any]]) -> List[Any]:
    """One task's work: ``function(*item)`` for each item of its chunk."""
    return [function(*item) for item in chunk]


def chunks(items: Sequence[Any], slots: int) -> List[Sequence[Any]]:
    """The items in consecutive chunks, about TASKS_PER_WORKER for each of ``slots`` workers."""
    size = max(1, len(items) // (max(1, slots) * TASKS_PER_WORKER))
    return [items[start : start + size] for start in range(0, len(items), size)]


def _ignore_interrupts() -> None:
    """A worker's start: Ctrl-C is the parent's to handle (it terminates the workers). The
    worker was forked with SIGINT blocked (``ProcessRunner._started``), so a Ctrl-C that came
    before this line is dropped here rather than killing the worker inside the pool's locks,
    which left ``Pool.terminate`` waiting for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _call_chunk(task: Any) -> Any:
    index, function, chunk = task
    return index, call_each(function, chunk)


class ChunkedRunner(object):
    """A runner that sends the items elsewhere in chunks (:func:`chunks`) and puts the results
    back in the items' order; ``run_chunks`` runs the chunks."""

    workers = 1

    def map(
        self, function: Callable[..., Any], items: Sequence[Sequence[Any]], progress: Optional[Progress] = None
    ) -> List[Any]:
        if progress is not None:
            progress.expect(len(items))
        if not items:
            return []
        parts = self.run_chunks(function, chunks(items, self.workers), progress)
        return [result for part in parts for result in part]

    def run_chunks(
        self, function: Callable[..., Any], parts: List[Sequence[Any]], progress: Optional[Progress]
    ) -> List[List[Any]]:
        """Each part's results, in the order of the parts."""
        raise NotImplementedError


@implementer(IRunner)
class SerialRunner(ChunkedRunner):
    """Everything in this process, one item after the other."""

    def run_chunks(
        self, function: Callable[..., Any], parts: List[Sequence[Any]], progress: Optional[Progress]
    ) -> List[List[Any]]:
        done = []
        for part in parts:
            results = []
            for item in part:
                results.append(function(*item))
                if progress is not None:
                    progress.advance()
            done.append(results)
        return done

    def close(self) -> None:
        pass


@implementer(IRunner)
class ProcessRunner(ChunkedRunner):
    """A pool of ``workers`` processes of this machine, started on the first map and kept for the
    next ones (a search maps many times)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise RunnerError("--workers must be 1 or more")
        self.workers = workers
        self._pool: Any = None

    def _started(self) -> Any:
        if self._pool is None:
            import multiprocessing

            # fork where there is one: the workers start at once, with the parent's modules loaded.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            # SIGINT blocked while the pool forks its workers and starts its threads, which
            # inherit the mask; a Ctrl-C meanwhile reaches this process once it is unblocked.
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self._pool = context.Pool(self.workers, initializer=_ignore_interrupts)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return self._pool

    def run_chunks(
        self, function: Callable[..., Any], parts: List[Sequence[Any]], progress: Optional[Progress]
    ) -> List[List[Any]]:
        tasks = [(index, function, part) for index, part in enumerate(parts)]
        done: Dict[int, List[Any]] = {}
        try:
            for index, results in self._started().imap_unordered(_call_chunk, tasks):
                done[index] = results
                if progress is not None:
                    progress.advance(len(results))
        except BaseException:
            self.terminate()
            raise
        return [done[index] for index in range(len(tasks))]

    def terminate(self) -> None:
        """Stop every worker now and wait for each to be gone."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()
            pool.join()

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
            pool.join()


def dask_missing() -> str:
    """Why ``--dask`` cannot run here: the line a user reads."""
    if sys.version_info < (3, 10):
        return (
            "--dask needs Dask, which needs Python 3.10 or newer (this is Python %d.%d): use --workers here"
            % (sys.version_info[:2])
        )
    return "--dask needs Dask's distributed: pip install 'callcenter[dask]' (or pip install distributed)"


@implementer(IRunner)
class DaskRunner(ChunkedRunner):
    """Tasks on the Dask distributed cluster whose scheduler is at ``address`` (``tcp://host:8786``).

    Its workers need this package installed (the function is sent by name). A worker lost while it
    runs a task costs that task being run again on another worker (the scheduler's own rule, up to
    its ``allowed-failures``), not the run."""

    def __init__(self, address: str) -> None:
        try:
            import distributed
        except ImportError:
            raise RunnerError(dask_missing()) from None
        try:
            self.client = distributed.Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise RunnerError("--dask: no Dask scheduler answers at %s: %s" % (address, error)) from None
        self.workers = max(1, sum(self.client.nthreads().values()))

    def run_chunks(
        self, function: Callable[..., Any], parts: List[Sequence[Any]], progress: Optional[Progress]
    ) -> List[List[Any]]:
        futures = self.client.map(call_each, [function] * len(parts), parts, pure=False)
        results = []
        try:
            for future, part in zip(futures, parts):
                results.append(future.result())
                if progress is not None:
                    progress.advance(len(part))
        except BaseException:
            self.client.cancel(futures)
            raise
        return results

    def close(self) -> None:
        self.client.close()


def make_runner(workers: Optional[int] = None, dask: Optional[str] = None) -> Any:
    """The runner the options ask for: Dask at ``dask``, else ``workers`` processes (1: this one)."""
    if dask is not None:
        return DaskRunner(dask)
    count = cpu_count() if workers is None else workers
    return SerialRunner() if count == 1 else ProcessRunner(count)


class Outcome(object):
    """What the parent needs of one replication (what :class:`Result` reads): its tallies and the
    count of commands the core refused."""

    __slots__ = ("tallies", "unexpected")

    def __init__(self, tallies: List[Any], unexpected: int) -> None:
        self.tallies = tallies
        self.unexpected = unexpected


def replicate(
    model: Model, seed: int, transcript: Optional[Transcript] = None, listener: Optional[Any] = None
) -> Outcome:
    """One replication, as a worker runs it (without a transcript or listener) or this process."""
    run = Replication(model, seed, transcript, listener).run()
    return Outcome(run.tallies, run.unexpected)


def simulate_on(
    runner: Any,
    model: Model,
    replications: int = 1,
    seed: int = 1,
    transcript: Optional[Transcript] = None,
    listeners: Optional[Callable[[int], Any]] = None,
    progress: Optional[Progress] = None,
) -> Result:
    """:func:`callcenter.sim.simulate.simulate` on ``runner``: the same result, and the same
    lines heard, for any runner. A replication that something hears (the transcript the first,
    ``listeners(number)`` any it gives a subscriber for) runs in this process, in its turn, as
    ``simulate`` runs it; the others go to the runner."""
    if replications < 1:
        raise SimulationError("at least one replication is needed")
    here: Dict[int, Any] = {}
    elsewhere = []
    for number in range(replications):
        listener = listeners(number) if listeners is not None else None
        written = transcript if number == 0 else None
        if listener is None and written is None:
            elsewhere.append(number)
            continue
        if progress is not None:
            progress.expect(1)
        here[number] = replicate(model, replication_seed(seed, number), written, listener)
        if progress is not None:
            progress.advance()
    items = [(model, replication_seed(seed, number)) for number in elsewhere]
    done = dict(zip(elsewhere, runner.map(replicate, items, progress)))
    done.update(here)
    return Result(model, [done[number] for number in range(replications)])
