"""``callcenter simulate`` and ``callcenter erlang``: planning a day, by simulation and by formula.

Layer: sim, its command-line half.

The options, the profile file, and the table, CSV, JSON and plot outputs. The models are
:mod:`callcenter.sim.simulate` and :mod:`callcenter.sim.erlang`; the shell's own options and
behaviour are not touched (``callcenter`` with no subcommand is the shell).
"""

import csv
import io
import json
import math
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from twisted.python import usage

from callcenter.cli.arguments import CallCenterOptions, VersionOption, parse_or_exit, positive_count, routing_options
from callcenter.cli.servers import ConnectOption
from callcenter.core.center import DEFAULT_SERVICE_LEVEL
from callcenter.core.model import PRIORITIES
from callcenter.core.strategies import LINEAR
from callcenter.sim import erlang
from callcenter.sim.parallel import Progress, RunnerError, make_runner, simulate_on
from callcenter.sim.simulate import METRICS, Estimate, Model, Result, Segment, SimulationError, Stream

DEFAULT_DURATION = 8 * 3600.0
FORMATS = ("table", "csv", "json")

# How each figure is named and shown: (label, format of a value).
LABELS = {
    "offered": ("offered calls", "%.1f"),
    "answered": ("answered calls", "%.1f"),
    "abandoned_pct": ("abandoned %", "%.2f"),
    "p_wait": ("P(wait)", "%.4f"),
    "service_level": ("service level", "%.4f"),
    "asa": ("ASA s", "%.2f"),
    "longest_wait": ("longest wait s", "%.1f"),
    "occupancy": ("occupancy", "%.4f"),
    "refused": ("refused", "%.1f"),
    "timed_out": ("timed out", "%.1f"),
    "rejected": ("rejected", "%.1f"),
    "waiting": ("waiting calls", "%.2f"),
}


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``8h`` or ``1h30m``."""
    rest, total, units = text.strip().lower(), 0.0, {"h": 3600.0, "m": 60.0, "s": 1.0}
    try:
        if rest and rest[-1].isdigit():
            rest += "s"
        while rest:
            cut = min(rest.index(unit) if unit in rest else len(rest) for unit in units)
            total += float(rest[:cut]) * units[rest[cut]]
            rest = rest[cut + 1 :]
    except (ValueError, IndexError, KeyError):
        raise usage.UsageError("expected a duration like 90, 90s, 30m, 8h or 1h30m, not %r" % (text,)) from None
    if not 0 <= total < float("inf"):
        raise usage.UsageError("expected a duration of 0 or more, not %r" % (text,))
    return total


def number(name: str, low: float = 0.0, high: float = float("inf")) -> Callable[[str], float]:
    def coerce(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise usage.UsageError("--%s takes a number, not %r" % (name, text)) from None
        if not low <= value < high:
            raise usage.UsageError("--%s must be at least %g and below %g, not %r" % (name, low, high, text))
        return value

    return coerce


def time_of_day(text: str) -> float:
    """A profile's start: ``8:30``, ``08:30:00`` or seconds since midnight."""
    parts = text.strip().split(":")
    try:
        if len(parts) == 1:
            return float(parts[0])
        if len(parts) in (2, 3):
            values = [int(part) for part in parts] + [0]
            return values[0] * 3600.0 + values[1] * 60.0 + values[2]
    except ValueError:
        pass
    raise ValueError("a start time like 08:30 or seconds, not %r" % (text,))


def clock_label(seconds: float) -> str:
    whole = math.floor(seconds)
    return (
        "%02d:%02d" % (whole // 3600, whole // 60 % 60)
        if whole % 60 == 0
        else "%02d:%02d:%02d"
        % (
            whole // 3600,
            whole // 60 % 60,
            whole % 60,
        )
    )


# A profile row: (start, calls per hour, its queue (None: not named), its priority, its line).
ProfileRow = Tuple[float, float, Optional[str], int, int]


def read_profile(path: str) -> List[ProfileRow]:
    """The rows of a profile CSV: ``start,calls_per_hour[,queue[,priority]]``, a header line
    allowed. The rows of one queue and priority are one stream of calls: their starts go up."""
    rows: List[ProfileRow] = []
    last_start: Dict[Tuple[Optional[str], int], float] = {}
    try:
        with open(path, newline="") as source:
            for number_, row in enumerate(csv.reader(source), 1):
                if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                    continue
                try:
                    start, rate = time_of_day(row[0]), float(row[1])
                    priority = int(row[3]) if len(row) > 3 and row[3].strip() else 0
                    if not 0 <= priority < PRIORITIES:
                        raise ValueError("a priority from 0 to %d, not %d" % (PRIORITIES - 1, priority))
                except (ValueError, IndexError) as error:
                    if number_ == 1 and not rows:
                        continue  # a header
                    raise usage.UsageError("--profile %s, line %d: %s" % (path, number_, error)) from None
                queue = row[2].strip() if len(row) > 2 and row[2].strip() else None
                stream = (queue, priority)
                if stream in last_start and start <= last_start[stream]:
                    raise usage.UsageError("--profile %s, line %d: the starts must go up" % (path, number_))
                last_start[stream] = start
                rows.append((start, rate, queue, priority, number_))
    except OSError as error:
        raise usage.UsageError("--profile: cannot read %s: %s" % (path, error.strerror)) from None
    if not rows:
        raise usage.UsageError("--profile %s has no rows (start,calls_per_hour)" % (path,))
    return rows


def streams_of(rows: Sequence[ProfileRow], length: Optional[float]) -> List[Stream]:
    """One stream of piecewise-constant arrivals for each queue and priority of the profile's
    rows, in the order they first appear. The day starts at the first row and ends after the
    last start as long as between the last two starts, unless ``length`` says where; before
    its first row, a stream has no calls."""
    starts = sorted({row[0] for row in rows})
    first = starts[0]
    if length is None:
        if len(starts) < 2:
            raise usage.UsageError("a one-row profile needs --duration")
        end = starts[-1] + (starts[-1] - starts[-2])
    else:
        end = first + length
    by_stream: Dict[Tuple[Optional[str], int], List[Tuple[float, float]]] = {}
    for start, rate, queue, priority, _ in rows:
        by_stream.setdefault((queue, priority), []).append((start, rate))
    streams = []
    for (queue, priority), own in by_stream.items():
        segments = [Segment(first, own[0][0], 0.0)] if own[0][0] > first else []
        for index, (start, rate) in enumerate(own):
            stop = min(own[index + 1][0] if index + 1 < len(own) else end, end)
            if stop > start:
                segments.append(Segment(start, stop, rate))
        if segments:
            streams.append(Stream(segments, queue, priority))
    return streams


class PlanningOptions(VersionOption):
    synopsis = "Usage: callcenter <command> [options]"

    def getSynopsis(self) -> str:
        """The command's own synopsis, also as ``callcenter``'s sub-command (Twisted would put
        the shell's in front of it)."""
        return self.synopsis

    def opt_calls_per_hour(self, text: str) -> None:
        """Calls arriving per hour (a Poisson process)."""
        self["calls-per-hour"] = number("calls-per-hour")(text)

    def opt_handle_time(self, text: str) -> None:
        """Mean handle (talk) time of a call, in seconds."""
        self["handle-time"] = number("handle-time", 1e-9)(text)

    def opt_patience(self, text: str) -> None:
        """Mean patience of a waiting caller, seconds (exponential); none: callers never give up."""
        self["patience"] = number("patience", 1e-9)(text)

    def opt_profile(self, path: str) -> None:
        """A day profile, CSV rows start,calls_per_hour[,queue] (start 08:30 or seconds)."""
        self["profile"] = path

    def opt_format(self, text: str) -> None:
        """table, csv or json [default: table]."""
        if text not in FORMATS:
            raise usage.UsageError("--format takes table, csv or json, not %r" % (text,))
        self["format"] = text

    def __init__(self) -> None:
        super().__init__()
        self["calls-per-hour"] = None
        self["handle-time"] = None
        self["patience"] = None
        self["profile"] = None
        self["format"] = "table"

    def check_traffic(self) -> None:
        if self["handle-time"] is None:
            raise usage.UsageError("--handle-time is needed")
        if (self["calls-per-hour"] is None) == (self["profile"] is None):
            raise usage.UsageError("give one of --calls-per-hour and --profile")


class ParallelOptions(usage.Options):
    """Where the replications run: ``--workers N`` processes of this machine, or ``--dask ADDRESS``."""

    def opt_workers(self, text: str) -> None:
        """Processes running replications at once [default: one a core]; 1 runs them in this one."""
        try:
            self["workers"] = positive_count(text)
        except (usage.UsageError, ValueError):
            raise usage.UsageError("--workers takes a positive whole number, not %r" % (text,)) from None

    def opt_dask(self, address: str) -> None:
        """Run the replications as tasks on the Dask scheduler at ADDRESS (tcp://host:8786)."""
        self["dask"] = address

    def __init__(self) -> None:
        super().__init__()
        self["workers"] = None
        self["dask"] = None

    def check_runner(self) -> None:
        if self["workers"] is not None and self["dask"] is not None:
            raise usage.UsageError("give --workers or --dask, not both")

    def runner(self) -> Any:
        """The runner of the replications; close it when done."""
        try:
            return make_runner(self["workers"], self["dask"])
        except RunnerError as error:
            raise usage.UsageError(str(error)) from None


class SimulateOptions(PlanningOptions, ParallelOptions, CallCenterOptions, ConnectOption):
    """The call center's own options (--operators, --ring-timeout, --service-level), and the traffic's."""

    synopsis = "Usage: callcenter simulate [options]  (a day of traffic through the call center, in virtual time)"
    optParameters = [
        ["handle-distribution", None, "exponential", "exponential, lognormal:CV (like lognormal:0.5) or fixed."],
        ["answer-delay", None, 0.0, "Mean seconds (exponential) a ringing operator takes to answer.", duration],
        ["reject-rate", None, 0.0, "Share of rings an operator rejects (0 to below 1).", number("reject-rate", 0, 1)],
        ["duration", None, None, "Length of the day (8h, 30m, 90s) [default: 8h, or the profile's]."],
        ["warm-up", None, 0.0, "Time at the start that is simulated but not counted.", duration],
        ["interval", None, None, "Figures per interval too, e.g. 30m (a plot without it uses 30m)."],
        ["replications", "n", 5, "Independent runs; the figures are their means with 95% intervals.", positive_count],
        ["seed", None, 1, "Random seed: the same seed gives the same output.", int],
        ["transcript", None, None, "Write every line the core printed, with its virtual time, to FILE."],
        ["plot", None, None, "Draw waiting calls and service level across the day into FILE.png (matplotlib)."],
        ["auth-token-file", None, None, "With --connect: the file holding the server's token, sent first."],
        ["speed", None, 1.0, "With --connect: virtual seconds per real second.", number("speed", 1e-6)],
        ["queue-log", None, None, "Write the simulated days as Asterisk's queue_log to FILE (docs/ami.md)."],
        ["start", None, None, "With --queue-log: when the first day starts, local time (2026-12-01T08:00)."],
        ["days", None, None, "With --queue-log: days to simulate, one a replication [default: 1].", positive_count],
    ]

    def opt_connect(self, endpoint: str) -> None:
        """Play the traffic against a running server at this endpoint instead; several
        --connect: the servers of one call center, the leader is used and followed."""
        ConnectOption.opt_connect(self, endpoint)

    def postOptions(self) -> None:
        self["connect"] = ",".join(self["servers"]) if self.get("servers") else None
        self.check_traffic()
        self.check_runner()
        if self["connect"] is not None and (self["workers"] is not None or self["dask"] is not None):
            raise usage.UsageError("--connect plays one day in real time: no --workers or --dask")
        self.check_queue_log()
        CallCenterOptions.postOptions(self)
        distribution, _, cv = self["handle-distribution"].partition(":")
        if distribution not in ("exponential", "lognormal", "fixed") or bool(cv) != (distribution == "lognormal"):
            raise usage.UsageError(
                "--handle-distribution takes exponential, lognormal:CV or fixed, not %r"
                % (self["handle-distribution"],)
            )
        self["handle-cv"] = number("handle-distribution lognormal:CV", 1e-9)(cv) if cv else 1.0
        self["handle-distribution"] = distribution
        length = duration(self["duration"]) if self["duration"] is not None else None
        if length is not None and length <= 0:
            raise usage.UsageError("--duration must be longer than 0")
        if self["profile"] is not None:
            self["streams"] = streams_of(self.queued(read_profile(self["profile"])), length)
        else:
            self["streams"] = [Stream([Segment(0.0, length or DEFAULT_DURATION, self["calls-per-hour"])])]
        interval = self["interval"]
        if interval is None and self["plot"] is not None:
            interval = "30m"
        self["interval"] = duration(interval) if interval is not None else None
        if self["interval"] is not None and self["interval"] <= 0:
            raise usage.UsageError("--interval must be longer than 0")

    def check_queue_log(self) -> None:
        """--queue-log, --start and --days: epoch seconds of the start in ``start-epoch``."""
        self["start-epoch"] = None
        if self["queue-log"] is None:
            for name in ("start", "days"):
                if self[name] is not None:
                    raise usage.UsageError("--%s goes with --queue-log FILE" % name)
            return
        if self["connect"] is not None:
            raise usage.UsageError(
                "--queue-log and --connect: the server writes its own (callcenter-server --queue-log)"
            )
        if self["start"] is None:
            raise usage.UsageError("--queue-log needs --start, the time the first day starts (like 2026-12-01T08:00)")
        self["start-epoch"] = start_epoch(self["start"])
        if self["days"] is not None:
            if self["replications"] not in (self.defaults["replications"], self["days"]):
                raise usage.UsageError("--days and --replications: with --queue-log a day is a replication")
            self["replications"] = self["days"]
        elif self["replications"] == self.defaults["replications"]:
            self["replications"] = 1

    def queued(self, rows: List[ProfileRow]) -> List[ProfileRow]:
        """The profile's rows with their queue checked: without --queues, one queue may be named
        (the one there is); with it, each row's queue must be one of the file's."""
        if self["queues"] is None:
            if len({queue for _, _, queue, _, _ in rows if queue is not None}) > 1:
                raise usage.UsageError("--profile %s names several queues: give them with --queues" % self["profile"])
            return [(start, rate, None, priority, line) for start, rate, _, priority, line in rows]
        names = [config.name for config in self["queues"]]
        for _, _, queue, _, line in rows:
            if queue is not None and queue not in names:
                raise usage.UsageError(
                    "--profile %s, line %d: no queue %s in --queues (%s)"
                    % (self["profile"], line, queue, ", ".join(names))
                )
        return rows

    def model(self) -> Model:
        try:
            return Model(
                self["streams"][0].segments,
                self["operators"],
                self["handle-time"],
                handle_distribution=self["handle-distribution"],
                handle_cv=self["handle-cv"],
                answer_delay=self["answer-delay"],
                reject_rate=self["reject-rate"],
                patience=self["patience"],
                ring_timeout=self["ring-timeout"],
                service_level=self["service-level"],
                warm_up=self["warm-up"],
                interval=self["interval"],
                streams=self["streams"],
                routing=routing_options(self),
            )
        except SimulationError as error:
            raise usage.UsageError(str(error)) from None


class ErlangOptions(PlanningOptions):
    synopsis = "Usage: callcenter erlang [options]  (Erlang C, or Erlang A with --patience)"
    optParameters = [
        ["operators", "o", None, "Operators: a count (13) or a range (10..20)."],
        ["target", None, DEFAULT_SERVICE_LEVEL, "Answer time of the service level, seconds.", duration],
        [
            "service-level",
            None,
            None,
            "A share to reach (0.8): the fewest operators that reach it, per profile row.",
            number("service-level", 1e-9, 1),
        ],
    ]

    def postOptions(self) -> None:
        self.check_traffic()
        if (self["operators"] is None) == (self["service-level"] is None):
            raise usage.UsageError("give one of --operators and --service-level")
        if self["operators"] is not None:
            try:
                self["operators"] = erlang.parse_operator_range(self["operators"])
            except erlang.ErlangError as error:
                raise usage.UsageError(str(error)) from None
        if self["profile"] is not None:
            rows = read_profile(self["profile"])
            if len({(queue, priority) for _, _, queue, priority, _ in rows}) > 1:
                raise usage.UsageError(
                    "--profile %s names several queues or priorities: erlang plans one stream of calls"
                    % self["profile"]
                )
            self["rows"] = [(start, rate) for start, rate, _, _, _ in rows]
        else:
            self["rows"] = [(None, self["calls-per-hour"])]


# Output of simulate.

# Routing options whose effect Erlang C and A leave out: no theory beside the figures with them.
THEORY_BREAKERS = ("queues", "wrap_up", "max_no_answer", "max_queue", "max_wait")


def model_summary(options: SimulateOptions, model: Model) -> str:
    segments = model.segments
    rates = {segment.calls_per_hour for segment in segments}
    one_rate = len(rates) == 1 and len(model.streams) == 1
    arrivals = "%g calls/h" % segments[0].calls_per_hour if one_rate else "profile %s" % options["profile"]
    distribution = model.handle_distribution
    if distribution == "lognormal":
        distribution += " CV %g" % model.handle_cv
    parts = [
        "%d operators" % len(model.operator_ids),
        arrivals,
        "handle time %g s (%s)" % (model.handle_time, distribution),
        "ring timeout %s" % ("off" if not model.ring_timeout else "%g s" % model.ring_timeout),
        "service level within %g s" % model.service_level,
    ]
    if model.answer_delay:
        parts.append("answer delay %g s" % model.answer_delay)
    if model.reject_rate:
        parts.append("reject rate %g" % model.reject_rate)
    if model.patience:
        parts.append("patience %g s" % model.patience)
    return ", ".join(parts + routing_summary(model.routing))


def routing_summary(routing: Dict[str, Any]) -> List[str]:
    """The routing options that are not the assignment's, as the summary line shows them."""
    parts = []
    queues = routing.get("queues")
    if queues:
        parts.append("queues %s" % ", ".join("%s (%s)" % (config.name, config.strategy) for config in queues))
    elif routing.get("strategy", LINEAR) != LINEAR:
        parts.append("strategy %s" % routing["strategy"])
    for name, label in (("max_queue", "max queue %g"), ("max_wait", "max wait %g s")):
        if not queues and routing.get(name):
            parts.append(label % routing[name])
    if routing.get("wrap_up"):
        parts.append("wrap-up %g s" % routing["wrap_up"])
    if routing.get("max_no_answer"):
        parts.append("paused after %d ring timeouts in a row" % routing["max_no_answer"])
    return parts


def theory_for(model: Model) -> Optional[Tuple[str, Dict[str, Optional[float]]]]:
    """Erlang C (or A) for the model's one rate, to set beside the simulation's figures; none
    for what the formulas do not model (several streams or queues, limits, wrap-up, pauses)."""
    rates = {segment.calls_per_hour for segment in model.segments}
    if len(rates) != 1 or len(model.streams) != 1 or any(model.routing.get(name) for name in THEORY_BREAKERS):
        return None
    try:
        figures = erlang.figures(
            rates.pop(), model.handle_time, len(model.operator_ids), model.service_level, model.patience
        )
    except erlang.ErlangError:
        return None
    values: Dict[str, Optional[float]] = {
        "p_wait": figures.p_wait,
        "service_level": figures.service_level,
        "asa": figures.asa,
        "occupancy": figures.occupancy,
        "abandoned_pct": 100.0 * figures.p_abandon,
    }
    return ("Erlang A" if model.patience else "Erlang C"), values


def shown(metric: str, value: Optional[float]) -> str:
    return "-" if value is None else LABELS[metric][1] % value


def simulate_table(options: SimulateOptions, model: Model, result: Result) -> List[str]:
    lines = [
        "callcenter simulate: %s" % model_summary(options, model),
        "%d replication%s, seed %d; measured %s to %s%s"
        % (
            result.replications,
            "" if result.replications == 1 else "s",
            options["seed"],
            clock_label(model.measured_from),
            clock_label(model.end),
            ", after a warm-up of %g s" % model.warm_up if model.warm_up else "",
        ),
        "",
    ]
    theory = theory_for(model)
    header = ["figure", "mean", "95% CI"] + ([theory[0]] if theory else [])
    rows = [header]
    for metric in METRICS:
        estimate = result.total[metric]
        interval = (
            "-" if estimate.low is None else "%s .. %s" % (shown(metric, estimate.low), shown(metric, estimate.high))
        )
        row = [LABELS[metric][0], shown(metric, estimate.mean), interval]
        if theory:
            row.append(shown(metric, theory[1].get(metric)) if metric in theory[1] else "")
        rows.append(row)
    lines += align(rows)
    if options["interval"] is not None:
        lines += ["", "per interval (means over the replications):"]
        columns = ("offered", "answered", "abandoned_pct", "p_wait", "service_level", "asa", "occupancy", "waiting")
        rows = [["interval"] + [LABELS[metric][0] for metric in columns]]
        for index, estimates in enumerate(result.intervals):
            rows.append(
                [clock_label(model.bucket_start(index))] + [shown(metric, estimates[metric].mean) for metric in columns]
            )
        lines += align(rows)
    return lines


def align(rows: Sequence[Sequence[str]]) -> List[str]:
    """The first column to the left, the others to the right, two spaces between."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join([row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]).rstrip()
        for row in rows
    ]


def rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 6)


def estimate_dict(estimate: Estimate) -> Dict[str, Any]:
    return {"mean": rounded(estimate.mean), "low": rounded(estimate.low), "high": rounded(estimate.high)}


def simulate_json(options: SimulateOptions, model: Model, result: Result) -> List[str]:
    theory = theory_for(model)
    document = {
        "model": model_summary(options, model),
        "replications": result.replications,
        "seed": options["seed"],
        "measured": [rounded(model.measured_from), rounded(model.end)],
        "total": {metric: estimate_dict(result.total[metric]) for metric in METRICS},
        "intervals": [
            dict(
                [("start", clock_label(model.bucket_start(index)))]
                + [(metric, estimate_dict(estimates[metric])) for metric in METRICS]
            )
            for index, estimates in enumerate(result.intervals)
        ]
        if options["interval"] is not None
        else [],
    }
    if theory:
        document["theory"] = {"model": theory[0], "figures": {k: rounded(v) for k, v in sorted(theory[1].items())}}
    return json.dumps(document, indent=2, sort_keys=False).split("\n")


def simulate_csv(options: SimulateOptions, model: Model, result: Result) -> List[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["interval"]
    for metric in METRICS:
        header += [metric, metric + "_low", metric + "_high"]
    writer.writerow(header)
    scopes = []
    if options["interval"] is not None:
        scopes = [
            (clock_label(model.bucket_start(index)), estimates) for index, estimates in enumerate(result.intervals)
        ]
    scopes.append(("total", result.total))
    for label, estimates in scopes:
        row = [label]
        for metric in METRICS:
            estimate = estimates[metric]
            row += ["" if value is None else "%.6g" % value for value in (estimate.mean, estimate.low, estimate.high)]
        writer.writerow(row)
    return out.getvalue().rstrip("\n").split("\n")


def matplotlib_pyplot() -> Any:
    """matplotlib's pyplot drawing to files (``--plot``), or one error line saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise usage.UsageError(
            "--plot needs matplotlib: pip install 'callcenter[plot]' (or pip install matplotlib)"
        ) from None
    return pyplot


def plot(model: Model, result: Result, path: str) -> None:
    """Waiting calls and service level per interval, across the day, as a PNG."""
    pyplot = matplotlib_pyplot()
    starts = [model.bucket_start(index) / 3600.0 for index in range(model.buckets)]
    width = model.interval / 3600.0
    figure, (top, bottom) = pyplot.subplots(2, 1, sharex=True, figsize=(8, 5), dpi=80)
    waiting = [estimates["waiting"].mean or 0.0 for estimates in result.intervals]
    top.bar(starts, waiting, width=width * 0.9, align="edge", color="#4477aa")
    top.set_ylabel("waiting calls (mean)")
    levels = [estimates["service_level"] for estimates in result.intervals]
    centres = [start + width / 2 for start in starts]
    means = [100 * (level.mean if level.mean is not None else float("nan")) for level in levels]
    bottom.plot(centres, means, marker="o", color="#228833")
    lows = [100 * level.low if level.low is not None else mean for level, mean in zip(levels, means)]
    highs = [100 * level.high if level.high is not None else mean for level, mean in zip(levels, means)]
    bottom.fill_between(centres, lows, highs, color="#228833", alpha=0.2)
    bottom.set_ylabel("answered within %g s (%%)" % model.service_level)
    bottom.set_xlabel("hour of the day")
    bottom.set_ylim(0, 105)
    top.set_title("%d operators, %d replications" % (len(model.operator_ids), result.replications))
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    pyplot.close(figure)


def transcript_writer(target: TextIO) -> Callable[[float, str], None]:
    def write(when: float, line: str) -> None:
        whole = int(when)
        target.write(
            "%02d:%02d:%02d.%03d %s\n"
            % (whole // 3600, whole // 60 % 60, whole % 60, round((when - whole) * 1000) % 1000, line)
        )

    return write


DAY = 86400.0


def start_epoch(text: str) -> float:
    """``2026-12-01T08:00`` (or with seconds, or a space for the T) in local time, as epoch
    seconds; usage.UsageError when it is not such a time."""
    import time

    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return time.mktime(time.strptime(text.strip(), pattern))
        except ValueError:
            continue
    raise usage.UsageError("--start takes a local time like 2026-12-01T08:00, not %r" % (text[:80],))


def queue_log_days(options: SimulateOptions, model: Model, output: Any) -> Callable[[int], Any]:
    """The queue_log subscriber of each simulated day: day ``number`` placed ``number`` days
    after ``--start``, its lines written to ``output``."""
    from callcenter.core.asterisk import Membership
    from callcenter.net.amiqueue import default_configs
    from callcenter.store.queuelog import QueueLog, QueueLogLines, queue_start

    membership = Membership(default_configs(options["operators"], "linear", 0, 0.0))

    def day(number: int) -> Any:
        offset = options["start-epoch"] + number * DAY - model.start
        output.write([queue_start(offset + model.start)])
        return QueueLog(QueueLogLines(membership, offset=offset), output)

    return day


class LinesTo(object):
    """Where a simulation's queue_log lines go: a text file, as they come."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, lines: List[str]) -> None:
        self.stream.writelines(lines)


def run_simulate(options: SimulateOptions, stdout: TextIO) -> None:
    formatter = {"table": simulate_table, "csv": simulate_csv, "json": simulate_json}[options["format"]]

    def show(model: Model, result: Result) -> None:
        if options["plot"] is not None:
            plot(model, result, options["plot"])
        stdout.write("\n".join(formatter(options, model, result)) + "\n")

    if options["connect"] is not None:
        from callcenter.sim.live import play

        play(options, show)
        return
    model = options.model()
    transcript_file = queue_log_file = None
    try:
        listeners = None
        if options["queue-log"] is not None:
            try:
                queue_log_file = open(options["queue-log"], "a", encoding="utf-8")
            except OSError as error:
                raise usage.UsageError(
                    "--queue-log: cannot write %s: %s" % (options["queue-log"], error.strerror)
                ) from None
            listeners = queue_log_days(options, model, LinesTo(queue_log_file))
        if options["transcript"] is not None:
            try:
                transcript_file = open(options["transcript"], "w", encoding="utf-8")
            except OSError as error:
                raise usage.UsageError(
                    "--transcript: cannot write %s: %s" % (options["transcript"], error.strerror)
                ) from None
        writer = transcript_writer(transcript_file) if transcript_file is not None else None
        runner = options.runner()
        progress = Progress(sys.stderr)
        try:
            result = simulate_on(runner, model, options["replications"], options["seed"], writer, listeners, progress)
        finally:
            progress.finish()
            runner.close()
    finally:
        for opened in (transcript_file, queue_log_file):
            if opened is not None:
                opened.close()
    show(model, result)


# Output of erlang.

ERLANG_COLUMNS = ("operators", "load", "occupancy", "p_wait", "service_level", "asa", "p_abandon")


def erlang_rows(options: ErlangOptions) -> List[Tuple[Optional[float], float, erlang.Figures]]:
    """(start or None, calls per hour, figures) for each staffing asked for."""
    handle, target, patience = options["handle-time"], options["target"], options["patience"]
    rows = []
    for start, rate in options["rows"]:
        if options["service-level"] is not None:
            rows.append(
                (start, rate, erlang.fewest_operators(rate, handle, target, options["service-level"], patience))
            )
        else:
            for count in options["operators"]:
                rows.append((start, rate, erlang.figures(rate, handle, count, target, patience)))
    return rows


def erlang_output(options: ErlangOptions) -> List[str]:
    try:
        rows = erlang_rows(options)
    except erlang.ErlangError as error:
        raise usage.UsageError(str(error)) from None
    columns = list(ERLANG_COLUMNS) if options["patience"] is not None else list(ERLANG_COLUMNS[:-1])
    profile = options["profile"] is not None
    if options["format"] == "json":
        document = [
            dict(
                ([("start", clock_label(start))] if start is not None else [])
                + [("calls_per_hour", rate)]
                + [(name, rounded(getattr(figures, name))) for name in columns]
            )
            for start, rate, figures in rows
        ]
        return json.dumps(document, indent=2).split("\n")
    formats = {"load": "%.2f", "occupancy": "%.4f", "p_wait": "%.4f", "service_level": "%.4f", "asa": "%.2f"}
    formats["p_abandon"] = "%.4f"

    def cell(name: str, value: Any) -> str:
        if name == "operators":
            return str(value)
        return "-" if value is None else formats[name] % value

    body = [
        ([clock_label(start or 0.0)] if profile else [])
        + ["%g" % rate]
        + [cell(name, getattr(figures, name)) for name in columns]
        for start, rate, figures in rows
    ]
    headings = {
        "load": "load (E)",
        "p_wait": "P(wait)",
        "service_level": "service level",
        "asa": "ASA s",
        "p_abandon": "P(abandon)",
    }
    header = (["start"] if profile else []) + ["calls/h"] + [headings.get(name, name) for name in columns]
    if options["format"] == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((["start"] if profile else []) + ["calls_per_hour"] + columns)
        writer.writerows(body)
        return out.getvalue().rstrip("\n").split("\n")
    title = "%s: handle time %g s, service level within %g s%s" % (
        "Erlang A" if options["patience"] is not None else "Erlang C",
        options["handle-time"],
        options["target"],
        ", patience %g s" % options["patience"] if options["patience"] is not None else "",
    )
    if options["service-level"] is not None:
        title += "; fewest operators for %g" % options["service-level"]
    return [title, "", *align([header, *body])]


def run(command: str, options: Any, stdout: Optional[TextIO] = None) -> None:
    """Run ``callcenter simulate``, ``erlang`` or ``staff`` with its parsed options; a mistake
    found while running is one error line and exit 2, Ctrl-C exit 130."""
    out = stdout if stdout is not None else sys.stdout
    try:
        if command == "simulate":
            run_simulate(options, out)
        elif command == "staff":
            from callcenter.sim.staff_command import run_staff

            run_staff(options, out)
        else:
            out.write("\n".join(erlang_output(options)) + "\n")
    except usage.UsageError as error:
        sys.stderr.write("callcenter %s: error: %s\n" % (command, error))
        sys.exit(2)
    except KeyboardInterrupt:
        # The runner has stopped its workers on the way here.
        sys.stderr.write("callcenter %s: interrupted\n" % (command,))
        sys.exit(130)


def command_options(command: str) -> Any:
    """The options of ``callcenter simulate``, ``erlang`` or ``staff``."""
    if command == "staff":
        from callcenter.sim.staff_command import StaffOptions  # it imports this module

        return StaffOptions()
    return SimulateOptions() if command == "simulate" else ErlangOptions()


def main(argv: List[str], stdout: Optional[TextIO] = None) -> None:
    """``callcenter simulate|erlang|staff ...``: ``argv`` starts with the subcommand."""
    command, arguments = argv[0], argv[1:]
    options = command_options(command)
    parse_or_exit(options, arguments)
    run(command, options, stdout)
