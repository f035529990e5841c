"""``callcenter staff``: the fewest operators per group and interval that meet every queue's target,
found by simulation (:mod:`callcenter.sim.staffing`), verified with other seeds.

Layer: sim. The options (those of ``callcenter erlang`` where they mean the same, ``--queues``,
``--replications``, ``--seed``, ``--workers``, ``--dask``), the profile with its queue column,
and the table, CSV, JSON and plot outputs.
"""

import csv
import io
import json
import sys
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from twisted.python import usage

from callcenter.cli.arguments import positive_count, read_text_option
from callcenter.core.center import DEFAULT_RING_TIMEOUT, DEFAULT_SERVICE_LEVEL
from callcenter.sim.parallel import Progress
from callcenter.sim.planning import (
    ParallelOptions,
    PlanningOptions,
    align,
    clock_label,
    duration,
    matplotlib_pyplot,
    number,
    read_profile,
    rounded,
)
from callcenter.sim.simulate import Estimate
from callcenter.sim.staffing import (
    MIN_CALLS,
    Interval,
    Problem,
    Staffed,
    StaffingError,
    parse_staff_queues,
    staff,
    verified_meets,
)

# Without a profile (--calls-per-hour), the one interval each replication measures.
DEFAULT_WINDOW = 3600.0
DEFAULT_REPLICATIONS = 10


class StaffOptions(PlanningOptions, ParallelOptions):
    synopsis = "Usage: callcenter staff [options]  (the fewest operators per group and interval, by simulation)"
    optParameters = [
        ["queues", None, None, "INI file of the queues (docs/queues.md), with handle times and targets per queue."],
        ["target", None, DEFAULT_SERVICE_LEVEL, "Answer time of the service level, seconds.", duration],
        [
            "service-level",
            None,
            None,
            "A share to reach (0.8) with 95% confidence, for the queues that set none.",
            number("service-level", 1e-9, 1),
        ],
        [
            "abandoned",
            None,
            None,
            "The most abandoned calls, in %, with 95% confidence, for the queues that set none.",
            number("abandoned", 0, 100),
        ],
        [
            "replications",
            "n",
            DEFAULT_REPLICATIONS,
            "Replications of each staffing tried (and of the check).",
            positive_count,
        ],
        [
            "replication-calls",
            None,
            MIN_CALLS,
            "Each replication of an interval plays at least this many calls: more, tighter plans.",
            positive_count,
        ],
        ["seed", None, 1, "Random seed: the same seed gives the same plan; the check uses other seeds.", int],
        ["plot", None, None, "Draw the staffing and each queue's service level across the day into FILE.png."],
    ]

    def postOptions(self) -> None:
        if (self["calls-per-hour"] is None) == (self["profile"] is None):
            raise usage.UsageError("give one of --calls-per-hour and --profile")
        self.check_runner()
        if self["replications"] < 2:
            raise usage.UsageError("--replications: at least 2 (a 95% interval needs two values)")
        if self["queues"] is not None:
            text = read_text_option("queues", self["queues"])
        else:
            text = "[default]\noperators = A\n"
        try:
            configs, targets = parse_staff_queues(
                text, self["handle-time"], self["target"], self["service-level"], self["abandoned"], self["patience"]
            )
        except StaffingError as error:
            where = "--queues: %s " % self["queues"] if self["queues"] is not None else ""
            raise usage.UsageError("%s%s" % (where, error)) from None
        names = [config.name for config in configs]
        if self["profile"] is not None:
            intervals = profile_intervals(self["profile"], names)
            self["labels"] = True
        else:
            intervals = [Interval(0.0, DEFAULT_WINDOW, [self["calls-per-hour"]] + [0.0] * (len(names) - 1))]
            self["labels"] = False
        if self["plot"] is not None:
            matplotlib_pyplot()  # before minutes of search, not after
        self["problem"] = Problem(configs, targets, intervals, DEFAULT_RING_TIMEOUT, self["replication-calls"])


def profile_intervals(path: str, queues: Sequence[str]) -> List[Interval]:
    """The intervals of a profile (``start,calls_per_hour[,queue[,priority]]`` rows, as
    ``simulate`` reads them): one from each start any row has to the next; the rows of a queue
    and priority are a stream of calls whose rate holds until its next row (0 before its first);
    the last interval lasts as long as the one before it (30 minutes when there is one). Rows
    without a queue are the first queue's."""
    rows = read_profile(path)
    for _, _, queue, _, line in rows:
        if queue is not None and queue not in queues:
            raise usage.UsageError(
                "--profile %s, line %d: no queue %s: use one of %s" % (path, line, queue, ", ".join(queues))
            )
    # Each stream's rows, in the order the streams first appear.
    streams: Dict[Tuple[int, int], List[Tuple[float, float]]] = {}
    for start, rate, queue, priority, _ in rows:
        streams.setdefault((queues.index(queue or queues[0]), priority), []).append((start, rate))
    starts = sorted({row[0] for row in rows})
    ends = [*starts[1:], starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1 else 1800.0)]
    intervals = []
    for start, end in zip(starts, ends):
        rates = [0.0] * len(queues)
        arrivals = []
        for (index, priority), own in streams.items():
            rate = 0.0
            for row_start, row_rate in own:
                if row_start <= start:
                    rate = row_rate
            rates[index] += rate
            arrivals.append((index, priority, rate))
        intervals.append(Interval(start, end, rates, arrivals))
    return intervals


# Output.


def interval_label(options: StaffOptions, plan: Staffed) -> List[str]:
    return [clock_label(plan.interval.start)] if options["labels"] else []


def number_text(value: Optional[float], form: str) -> str:
    return "-" if value is None else form % value


def mean_text(estimate: Optional[Estimate], form: str) -> str:
    return "-" if estimate is None or estimate.mean is None else form % estimate.mean


def summary(options: StaffOptions) -> List[str]:
    problem = options["problem"]
    arrivals = "profile %s" % options["profile"] if options["profile"] else "%g calls/h" % options["calls-per-hour"]
    several = len(problem.targets) > 1
    lines = [
        "callcenter staff: %s%s, %d replications a staffing, seed %d; every queue meets its target with 95%% confidence"
        % (
            "%d queues, %d operator groups, " % (len(problem.targets), len(problem.groups)) if several else "",
            arrivals,
            options["replications"],
            options["seed"],
        )
    ]
    for target in problem.targets:
        lines.append(
            "%s%s, handle time %g s%s"
            % (
                "queue %s: " % target.name if several else "target: ",
                target.describe(),
                target.handle_time,
                ", patience %g s" % target.patience if target.patience else "",
            )
        )
    lines.append(
        "checked: the plan again with %d replications of other seeds (the 'checked' columns); met: the check"
        " does not show the target missed with 95%% confidence" % options["replications"]
    )
    return lines


def staff_table(options: StaffOptions, plans: Sequence[Staffed]) -> List[str]:
    problem = options["problem"]
    groups = problem.groups
    start = ["start"] if options["labels"] else []
    lines = [*summary(options), ""]
    several_groups = len(groups) > 1
    header = start + ([group.label for group in groups] + ["total"] if several_groups else ["operators"])
    header.append("Erlang C alone" if not any(target.patience for target in problem.targets) else "Erlang alone")
    rows = [header]
    for plan in plans:
        counts = [str(count) for count in plan.counts]
        rows.append(
            interval_label(options, plan)
            + ([*counts, str(sum(plan.counts))] if several_groups else counts)
            + [str(sum(plan.alone))]
        )
    lines += align(rows) if options["labels"] else align_right_only(rows)
    lines += ["", "per queue: the search's mean and 95% bound, and the check's mean:"]
    several = len(problem.targets) > 1
    header = start + (["queue"] if several else [])
    header += ["calls/h", "service level", "95% at least", "checked", "abandoned %", "95% at most", "checked", "met"]
    rows = [header]
    for plan in plans:
        for index, target in enumerate(problem.targets):
            verified = plan.verified
            assert verified is not None
            met = verified_meets(plan, problem, index)
            rows.append(
                interval_label(options, plan)
                + ([target.name] if several else [])
                + [
                    "%g" % plan.interval.rates[index],
                    mean_text(plan.evaluation.service_level[index], "%.4f"),
                    number_text(plan.evaluation.service_bound[index], "%.4f"),
                    mean_text(verified.service_level[index], "%.4f"),
                    mean_text(plan.evaluation.abandoned[index], "%.2f"),
                    number_text(plan.evaluation.abandoned_bound[index], "%.2f"),
                    mean_text(verified.abandoned[index], "%.2f"),
                    "-" if met is None else ("yes" if met else "NO"),
                ]
            )
    lines += align(rows) if (options["labels"] or several) else align_right_only(rows)
    total = sum(sum(plan.counts) for plan in plans)
    alone = sum(sum(plan.alone) for plan in plans)
    lines += ["", "operator-intervals: %d by simulation, %d by Erlang per queue alone" % (total, alone)]
    return lines


def align_right_only(rows: Sequence[Sequence[str]]) -> List[str]:
    """Every column to the right (no label column to hold on the left)."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def figures_columns(prefix: str) -> List[str]:
    names = []
    for figure in ("service_level", "abandoned_pct"):
        names += [prefix + figure, prefix + figure + "_bound", prefix + "checked_" + figure]
    return names


def staff_csv(options: StaffOptions, plans: Sequence[Staffed]) -> List[str]:
    problem = options["problem"]
    several = len(problem.targets) > 1
    groups = problem.groups
    header = (["start"] if options["labels"] else []) + ["operators"]
    if len(groups) > 1:
        header += ["operators_" + group.label for group in groups]
    header.append("erlang_operators")
    for target in problem.targets:
        prefix = target.name + "_" if several else ""
        header += [prefix + "calls_per_hour", *figures_columns(prefix), prefix + "met"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for plan in plans:
        row = [*interval_label(options, plan), str(sum(plan.counts))]
        if len(groups) > 1:
            row += [str(count) for count in plan.counts]
        row.append(str(sum(plan.alone)))
        verified = plan.verified
        assert verified is not None
        for index in range(len(problem.targets)):
            row.append("%g" % plan.interval.rates[index])
            evaluation = plan.evaluation
            for values in (
                (
                    evaluation.service_level[index].mean,
                    evaluation.service_bound[index],
                    verified.service_level[index].mean,
                ),
                (evaluation.abandoned[index].mean, evaluation.abandoned_bound[index], verified.abandoned[index].mean),
            ):
                row += ["" if value is None else "%.6g" % value for value in values]
            met = verified_meets(plan, problem, index)
            row.append("" if met is None else ("yes" if met else "no"))
        writer.writerow(row)
    return out.getvalue().rstrip("\n").split("\n")


def estimate_dict(estimate: Estimate) -> Dict[str, Any]:
    return {"mean": rounded(estimate.mean), "low": rounded(estimate.low), "high": rounded(estimate.high)}


def staff_json(options: StaffOptions, plans: Sequence[Staffed]) -> List[str]:
    problem = options["problem"]
    intervals = []
    for plan in plans:
        verified = plan.verified
        assert verified is not None
        entry: Dict[str, Any] = {}
        if options["labels"]:
            entry["start"] = clock_label(plan.interval.start)
        entry["operators"] = sum(plan.counts)
        entry["groups"] = {group.label: count for group, count in zip(problem.groups, plan.counts)}
        entry["erlang_alone"] = {target.name: count for target, count in zip(problem.targets, plan.alone)}
        entry["queues"] = {
            target.name: {
                "calls_per_hour": plan.interval.rates[index],
                "service_level": dict(
                    estimate_dict(plan.evaluation.service_level[index]),
                    at_least=rounded(plan.evaluation.service_bound[index]),
                ),
                "abandoned_pct": dict(
                    estimate_dict(plan.evaluation.abandoned[index]),
                    at_most=rounded(plan.evaluation.abandoned_bound[index]),
                ),
                "checked": {
                    "service_level": estimate_dict(verified.service_level[index]),
                    "abandoned_pct": estimate_dict(verified.abandoned[index]),
                },
                "met": verified_meets(plan, problem, index),
            }
            for index, target in enumerate(problem.targets)
        }
        intervals.append(entry)
    document = {
        "replications": options["replications"],
        "seed": options["seed"],
        "queues": [
            {
                "name": target.name,
                "handle_time": target.handle_time,
                "patience": target.patience,
                "target_seconds": target.target,
                "service_level": target.service_level,
                "abandoned_pct": target.abandoned,
            }
            for target in problem.targets
        ],
        "groups": [
            {"name": group.label, "skills": [list(skill) for skill in group.skills]} for group in problem.groups
        ],
        "intervals": intervals,
    }
    return json.dumps(document, indent=2).split("\n")


def staff_plot(options: StaffOptions, plans: Sequence[Staffed], path: str) -> None:
    """The operators of each group (stacked) and each queue's checked service level, across the day."""
    pyplot = matplotlib_pyplot()
    problem = options["problem"]
    starts = [plan.interval.start / 3600.0 for plan in plans]
    widths = [(plan.interval.end - plan.interval.start) / 3600.0 for plan in plans]
    figure, (top, bottom) = pyplot.subplots(2, 1, sharex=True, figsize=(9.5, 5.5), dpi=80)
    base = [0] * len(plans)
    colours = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"]
    for group in problem.groups:
        counts = [plan.counts[group.index] for plan in plans]
        top.bar(
            starts,
            counts,
            width=[width * 0.9 for width in widths],
            bottom=base,
            align="edge",
            color=colours[group.index % len(colours)],
            label=group.label,
        )
        base = [low + count for low, count in zip(base, counts)]
    alone = [sum(plan.alone) for plan in plans]
    top.step(
        [*starts, starts[-1] + widths[-1]],
        alone + alone[-1:],
        where="post",
        color="black",
        linestyle="--",
        label="Erlang, each queue alone",
    )
    top.set_ylabel("operators")
    top.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    centres = [start + width / 2 for start, width in zip(starts, widths)]
    lowest = 100.0
    for index, target in enumerate(problem.targets):
        # A queue's line in the colour of its own group's bars.
        colour = colours[problem.own_group(target.name).index % len(colours)]
        levels = [plan.verified.service_level[index].mean for plan in plans if plan.verified is not None]
        shown = [100 * level if level is not None else float("nan") for level in levels]
        bottom.plot(centres, shown, marker="o", color=colour, label="%s (checked)" % target.name)
        lowest = min([lowest] + [value for value in shown if value == value])
        if target.service_level is not None:
            bottom.axhline(100 * target.service_level, color=colour, linestyle=":", linewidth=1)
            lowest = min(lowest, 100 * target.service_level)
    bottom.set_ylabel("answered within target (%)")
    bottom.set_xlabel("hour of the day")
    bottom.set_ylim(max(0.0, lowest - 10), 101)
    bottom.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.set_title("staffing by simulation, %d replications a staffing" % options["replications"])
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    pyplot.close(figure)


def run_staff(options: StaffOptions, stdout: TextIO) -> None:
    formatter = {"table": staff_table, "csv": staff_csv, "json": staff_json}[options["format"]]
    runner = options.runner()
    progress = Progress(sys.stderr)
    try:
        plans = staff(options["problem"], runner, options["replications"], options["seed"], progress)
    except StaffingError as error:
        raise usage.UsageError(str(error)) from None
    finally:
        progress.finish()
        runner.close()
    if options["plot"] is not None:
        staff_plot(options, plans, options["plot"])
    stdout.write("\n".join(formatter(options, plans)) + "\n")
