"""``python -m bench [--quick] [--only SECTION ...] [--strict]``: the whole benchmark suite.

Prints each figure beside its target with PASS or FAIL, and writes JSON (one file a
section and summary.json) and throughput.png to bench/results/. Run it from the
repository root with the venv that has the app installed (see docs/performance.md).
"""

import argparse
import os
import sys
import time

from bench import (
    ami,
    chaos,
    client_shell,
    core_scaling,
    durability,
    ha,
    many_clients,
    plot,
    simulation,
    slow_reader,
    staffing,
    throughput,
    wallboard,
)
from bench.common import PINNING, RESULTS, log, machine, raise_nofile, verdict, write_json

SECTIONS = (
    "core",
    "throughput",
    "many",
    "client",
    "slow",
    "durability",
    "ha",
    "wallboard",
    "simulation",
    "staffing",
    "chaos",
    "ami",
)


def check_core(results):
    checks = []
    ratios = core_scaling.ratios(results)
    for dimension, label in (("queue", "10^6 vs 10^3 queued"), ("operators", "10^5 vs 10 operators")):
        for command in core_scaling.COMMANDS:
            ratio = ratios[dimension][command]
            checks.append(
                verdict(
                    "core: %s, %s" % (command, label),
                    "x%.2f" % ratio,
                    "<= x1.30",
                    "ratio",
                    ratio <= 1.3,
                )
            )
    # Routing: no strategy may grow faster than O(log n) per command (ring-all rings one here):
    # log(10^5) / log(10) = 5 is what a logarithm allows from 10 to 10^5 operators.
    for strategy, sizes in results.get("strategies", {}).items():
        for command in core_scaling.STRATEGY_COMMANDS:
            ratio = sizes["100000"][command]["median"] / sizes["10"][command]["median"]
            checks.append(
                verdict(
                    "core: %s %s, 10^5 vs 10 operators" % (strategy, command),
                    "x%.2f" % ratio,
                    "<= x5.00",
                    "ratio",
                    ratio <= 5.0,
                )
            )
    # Several queues: each command touches the queues an operator serves (3 here), at most.
    queues = results.get("queues", {})
    if "1" in queues and str(core_scaling.QUEUE_COUNT) in queues:
        for command in core_scaling.COMMANDS:
            ratio = queues[str(core_scaling.QUEUE_COUNT)][command]["median"] / queues["1"][command]["median"]
            checks.append(
                verdict(
                    "core: %s, %d queues (3 a member) vs 1" % (command, core_scaling.QUEUE_COUNT),
                    "x%.2f" % ratio,
                    "<= x%d.00" % core_scaling.QUEUES_SERVED,
                    "ratio",
                    ratio <= core_scaling.QUEUES_SERVED,
                )
            )
    per_call = results["memory"]["bytes_per_queued_call"]
    checks.append(verdict("core: memory per queued call", "%.0f B" % per_call, "<= 400 B", "bytes", per_call <= 400))
    return checks


def check_throughput(results):
    checks = []
    for point in results["points"]:
        name = "server: %s, %d connections" % (point["mode"], point["connections"])
        checks.append(
            verdict(
                name + ", throughput vs echo",
                "x%.2f" % point["throughput_ratio"],
                ">= x0.90",
                "ratio",
                point["throughput_ratio"] >= 0.9,
                "%.0f vs %.0f replies/s"
                % (point["callcenter"]["replies_per_second"]["median"], point["echo"]["replies_per_second"]["median"]),
            )
        )
        checks.append(
            verdict(
                name + ", p99 latency vs echo",
                "x%.2f" % point["p99_ratio"],
                "<= x1.20",
                "ratio",
                point["p99_ratio"] <= 1.2,
                "%.2f vs %.2f ms" % (point["callcenter"]["p99_ms"]["median"], point["echo"]["p99_ms"]["median"]),
            )
        )
    # The generator is not the bottleneck: at the reference point it could drive far more
    # than the echo server takes (its CPU per reply against the echo server's).
    reference = next(p for p in results["points"] if p["mode"] == "pipelined" and p["connections"] == 10)
    echo = reference["echo"]
    rate = echo["replies_per_second"]["median"]
    capacity = rate / echo["generator_cpu"]["median"]
    server_share = echo["server_cpu"]["median"]
    checks.append(
        verdict(
            "generator headroom (echo, 10 conn x 16 pipelined)",
            "x%.1f" % (capacity / rate),
            ">= x2.0",
            "ratio",
            capacity >= 2 * rate,
            "generator could send %.0f/s at 100%% of a core; echo took %.0f/s using %.0f%% of its core, "
            "generator %.0f%%" % (capacity, rate, 100 * server_share, 100 * echo["generator_cpu"]["median"]),
        )
    )
    return checks


def check_many(results):
    per_conn = results["bytes_per_idle_connection"]["median"]
    to_all = results["event_to_all_ms"]["median"]
    p99 = results["active_p99_ms"]["median"]
    return [
        verdict(
            "many clients: memory per idle connection", "%.0f B" % per_conn, "< 20480 B", "bytes", per_conn < 20480
        ),
        verdict(
            "many clients: one event to 10,000 clients (median)",
            "%.1f ms" % to_all,
            "< 100 ms",
            "ms",
            to_all < 100,
            "worst event %.1f ms" % results["event_to_all_max_ms"]["max"],
        ),
        verdict(
            "many clients: active clients' p99 latency",
            "%.1f ms" % p99,
            "< 20 ms",
            "ms",
            p99 < 20,
            "3 clients, a command due every 2 ms each, open loop; %d requests a run"
            % results["active_requests"]["median"],
        ),
    ]


def check_client(results):
    ratio = results["client"]["median"] / results["shell"]["median"]
    startup = max(results["startup_shell"]["median"], results["startup_client"]["median"])
    return [
        verdict(
            "client: commands/s vs one-process shell",
            "x%.2f" % ratio,
            ">= x0.50",
            "ratio",
            ratio >= 0.5,
            "%.0f vs %.0f commands/s, outputs %s"
            % (
                results["client"]["median"],
                results["shell"]["median"],
                "identical" if results["identical"] else "DIFFER",
            ),
        ),
        verdict(
            "client: output identical to the shell's",
            "yes" if results["identical"] else "no",
            "yes",
            "bool",
            results["identical"],
        ),
        verdict(
            "start-up to first reply (slower of shell, client)",
            "%.3f s" % startup,
            "< 0.5 s",
            "s",
            startup < 0.5,
            "shell %.3f s, client %.3f s" % (results["startup_shell"]["median"], results["startup_client"]["median"]),
        ),
    ]


def check_slow(results):
    blocked, non_reader, stuck = results["blocked"], results["non_reader"], results["stuck"]
    wait = "reader waits %.0f s" % blocked["reader_wait"]
    checks = []
    for kind, label in (("shell", "shell"), ("client", "client (into a server)")):
        outcome = blocked[kind]
        checks.append(
            verdict(
                "slow reader: %s peak RSS, %d commands, %s" % (label, blocked["commands"], wait),
                "%.1f MB" % (outcome["peak_rss"] / 1e6),
                "< 80 MB",
                "bytes",
                outcome["peak_rss"] < 80e6,
                "into a file: %.1f MB (shell)" % (blocked["file"]["peak_rss"] / 1e6),
            )
        )
        checks.append(
            verdict(
                "slow reader: %s, every line arrives, bytes as into a file" % label,
                "%d lines" % outcome["lines"],
                "%d lines, same bytes" % blocked["expected_lines"],
                "bool",
                outcome["complete"],
                "%d bytes, %s, exit %s, %d error lines"
                % (
                    outcome["bytes"],
                    "same sha256" if outcome["sha256"] == blocked["file"]["sha256"] else "DIFFERENT bytes",
                    outcome["exit"],
                    outcome["error_lines"],
                ),
            )
        )
    growth = non_reader["rss_growth"]
    checks.append(
        verdict(
            "slow reader: server growth, one client not reading for %.0f s" % non_reader["seconds"],
            "%.1f MB" % (growth / 1e6),
            "< 50 MB",
            "bytes",
            growth < 50e6,
            "%.1f -> %.1f MB; %d requests sent"
            % (non_reader["rss_before"] / 1e6, non_reader["rss_peak"] / 1e6, non_reader["requests"]),
        )
    )
    beside, alone = non_reader["beside"], non_reader["alone"]
    checks.append(
        verdict(
            "slow reader: %d other clients' p99 meanwhile" % non_reader["other_clients"],
            "%.2f ms" % beside["p99_ms"],
            "< 50 ms",
            "ms",
            beside["p99_ms"] < 50,
            "%.2f ms without the non-reader; %.0f vs %.0f replies/s"
            % (alone["p99_ms"], beside["replies_per_second"], alone["replies_per_second"]),
        )
    )
    checks.append(
        verdict(
            "slow reader: one reply per request when it reads at last",
            "%d replies" % non_reader["replies"],
            "%d replies" % non_reader["requests"],
            "bool",
            non_reader["replies"] == non_reader["requests"],
        )
    )
    late = results["late"]
    checks.append(
        verdict(
            "late reader: every reply, server growth, after %.0f s unread beside %d queued calls"
            % (late["seconds"], late["calls"]),
            "%d of %d replies, +%.1f MB" % (late["replies"], late["requests"], late["rss_growth"] / 1e6),
            "all, < 50 MB",
            "bool",
            late["replies"] == late["requests"] and not late["reset"] and late["rss_growth"] < 50e6,
            "drained in %s; %.1f -> peak %.1f MB; caller p99 %.2f ms"
            % (
                "%.1f s" % late["reading_seconds"] if late["reading_seconds"] is not None else "- (reset)",
                late["rss_before"] / 1e6,
                late["rss_peak"] / 1e6,
                late["caller_p99_ms"],
            ),
        )
    )
    cut_off = stuck["seconds_to_cut_off"]
    checks.append(
        verdict(
            "stuck client: cut off past --max-output-buffer %s, one log line" % stuck["limit"],
            "%s, %d line(s)" % ("%.2f s" % cut_off if cut_off is not None else "never", len(stuck["log_lines"])),
            "cut off, 1 line",
            "bool",
            cut_off is not None and len(stuck["log_lines"]) == 1 and stuck["driver_served_after"],
            "server RSS %.1f -> peak %.1f MB; the reading client still served: %s"
            % (stuck["rss_before"] / 1e6, stuck["rss_peak"] / 1e6, "yes" if stuck["driver_served_after"] else "NO"),
        )
    )
    return checks


def check_durability(results):
    """With --state-dir the server keeps at least half its in-memory throughput, pipelined."""
    checks = []
    for point in results["throughput"]:
        if point["mode"] != "pipelined":
            continue
        ratio = point["throughput_ratio"]
        checks.append(
            verdict(
                "durable: pipelined, %d connections, throughput vs in-memory" % point["connections"],
                "x%.2f" % ratio,
                ">= x0.50",
                "ratio",
                ratio >= 0.5,
                "%.0f vs %.0f replies/s, %.0f fdatasync/s on %s"
                % (
                    point["durable"]["replies_per_second"]["median"],
                    point["memory"]["replies_per_second"]["median"],
                    point["fsyncs_per_second"],
                    results["filesystem"],
                ),
            )
        )
    return checks


def check_chaos(results):
    """kill -9, disk full and disk freed at random moments: no acknowledged change lost."""
    if not results["ran"]:
        return [verdict("chaos: acknowledged changes lost", "not run", "0", "count", False, results["why"])]
    return [
        verdict(
            "chaos: acknowledged changes lost",
            "%d" % results["lost"],
            "0",
            "count",
            results["lost"] == 0 and results["phantom"] == 0,
            "%.0f s, seed %d: %d sent, %d acknowledged, %d refused, %d unanswered, %d phantom; "
            "%d kills, %d fills, %d frees"
            % (
                results["seconds"],
                results["seed"],
                results["sent"],
                results["acknowledged"],
                results["refused"],
                results["unanswered"],
                results["phantom"],
                results["moments"]["kill"],
                results["moments"]["fill"],
                results["moments"]["free"],
            ),
        )
    ]


def check_ha(results):
    """With etcd: the takeover after a SIGKILL under 5 s, no acknowledged change lost to faults."""
    checks = []
    takeover = results["takeover_seconds"]
    checks.append(
        verdict(
            "ha: takeover, SIGKILL of the leader to a reply of the new one (max)",
            "%.2f s" % takeover["max"] if takeover["max"] is not None else "never",
            "< 5 s",
            "s",
            takeover["max"] is not None and takeover["max"] < 5 and results["takeovers_failed"] == 0,
            "median %.2f s of %d, the default 3 s lease" % (takeover["median"] or 0, len(takeover["runs"])),
        )
    )
    shaken = results["chaos"]
    checks.append(
        verdict(
            "ha: chaos, acknowledged changes lost",
            "%d" % shaken["lost"],
            "0",
            "count",
            shaken["lost"] == 0,
            "%d acknowledged, %d unanswered; %s; longest without a reply %.1f s"
            % (
                shaken["acknowledged"],
                shaken["unanswered"],
                ", ".join(shaken["faults"]),
                shaken["longest_without_reply_s"],
            ),
        )
    )
    for point in results["throughput"]:
        etcd, state_dir = point["etcd"], point["state-dir"]
        checks.append(
            verdict(
                "ha: %s, %d connections, etcd vs --state-dir" % (point["mode"], point["connections"]),
                "x%.2f" % point["throughput_ratio"],
                "(figure)",
                "ratio",
                True,
                "%.0f vs %.0f replies/s, p99 %.2f vs %.2f ms"
                % (
                    etcd["replies_per_second"]["median"],
                    state_dir["replies_per_second"]["median"],
                    etcd["p99_ms"]["median"],
                    state_dir["p99_ms"]["median"],
                ),
            )
        )
    return checks


def ha_markdown(results):
    lines = [
        "",
        "| mode | connections | etcd replies/s | --state-dir replies/s | ratio | etcd p50 / p99 ms"
        " | --state-dir p50 / p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for point in results["throughput"]:
        etcd, state_dir = point["etcd"], point["state-dir"]
        lines.append(
            "| %s | %d | %.0f (±%.0f%%) | %.0f (±%.0f%%) | x%.2f | %.2f / %.2f | %.2f / %.2f |"
            % (
                point["mode"],
                point["connections"],
                etcd["replies_per_second"]["median"],
                100 * etcd["replies_per_second"]["spread"],
                state_dir["replies_per_second"]["median"],
                100 * state_dir["replies_per_second"]["spread"],
                point["throughput_ratio"],
                etcd["p50_ms"]["median"],
                etcd["p99_ms"]["median"],
                state_dir["p50_ms"]["median"],
                state_dir["p99_ms"]["median"],
            )
        )
    return lines


def check_wallboard(results):
    """The page follows a command within 200 ms; 100 open wallboards cost under 10 %."""
    latency, load = results["latency"], results["throughput"]
    medians = load["replies_per_second"]
    kinds = wallboard.KINDS
    readers = load["readers"]
    return [
        verdict(
            "wallboard: command reply to the page's change, through Chromium (p90)",
            "%.1f ms" % latency["p90_ms"],
            "< 200 ms",
            "ms",
            latency["p90_ms"] < 200,
            "median %.1f ms, max %.1f ms, %d samples, clocks matched within %.1f ms"
            % (latency["median_ms"], latency["max_ms"], latency["samples"], latency["clock_uncertainty_ms"]),
        ),
        verdict(
            "wallboard: throughput with %d wallboards open vs none" % load["wallboards"],
            "x%.2f" % load["ratio"],
            ">= x0.90",
            "ratio",
            load["ratio"] >= 0.9,
            "%.0f vs %.0f replies/s (%.0f without --web), %d x %d pipelined; the streams got %.1f MB, %d cut off"
            % (
                medians[kinds[2]],
                medians[kinds[1]],
                medians[kinds[0]],
                load["connections"],
                load["window"],
                readers["bytes"] / 1e6,
                readers["closed"],
            ),
        ),
        verdict(
            "wallboard: server CPU per reply with %d wallboards open vs none" % load["wallboards"],
            "x%.2f" % load["cpu_ratio"],
            "<= x1.10",
            "ratio",
            load["cpu_ratio"] <= 1.1,
            "%.1f vs %.1f us (%.1f without --web)"
            % tuple(load["cpu_us_per_reply"][kind] for kind in (kinds[2], kinds[1], kinds[0])),
        ),
    ]


def check_simulation(results):
    """Simulated calls per CPU second: at least twice the minimal SimPy model's; memory flat."""
    models = results["models"]
    ours = models["callcenter"]["calls_per_second"]["median"]
    simpy = models["simpy"]["calls_per_second"]["median"]
    ratio = ours / simpy
    memory = results["memory"]
    growth = memory[-1]["peak_rss"] - memory[0]["peak_rss"]
    return [
        verdict(
            "simulation: calls/s vs SimPy M/M/c+M, 200 operators at 0.9",
            "x%.2f" % ratio,
            ">= x2.00",
            "ratio",
            ratio >= 2.0,
            "%.0f vs %.0f calls/s (ciw %.0f; without the ring timer %.0f)"
            % (
                ours,
                simpy,
                models["ciw"]["calls_per_second"]["median"],
                models["callcenter_no_ring_timer"]["calls_per_second"]["median"],
            ),
        ),
        verdict(
            "simulation: peak memory growth, %d to %d calls" % (memory[0]["calls"], memory[-1]["calls"]),
            "%.1f MB" % (growth / 1e6),
            "< 10 MB",
            "bytes",
            growth < 10e6,
            ", ".join("%d calls %.1f MB" % (point["calls"], point["peak_rss"] / 1e6) for point in memory),
        ),
    ]


def cpu_per_replication(results):
    """The CPU seconds a replication took on 1 and on 2 workers, and the load average around."""
    cpu = results.get("cpu_per_replication")
    if not cpu:
        return "no CPU figures"
    return "CPU a replication %.3f s on 1 worker, %.3f s on 2 (x%.2f); load average %s" % (
        cpu["1"]["median"],
        cpu["2"]["median"],
        cpu["2"]["median"] / cpu["1"]["median"],
        " to ".join("%.1f" % value for value in results["load_average"]),
    )


def check_staffing(results):
    """Two worker processes at least 1.7 times one; Dask's figure and the day's staffing time shown."""
    one = results["workers"]["1"]["median"]
    two = results["workers"]["2"]["median"]
    checks = [
        verdict(
            "staffing: replications/s, 2 worker processes vs 1",
            "x%.2f" % (two / one),
            ">= x1.70",
            "ratio",
            two / one >= 1.7,
            "%.2f vs %.2f replications/s of an 8 h day; %s" % (two, one, cpu_per_replication(results)),
        )
    ]
    if results.get("dask"):
        dask = results["dask"]["median"]
        checks.append(
            verdict(
                "staffing: replications/s, local Dask cluster of 2 workers vs 1 process",
                "x%.2f" % (dask / one),
                ">= x1.50",
                "ratio",
                dask / one >= 1.5,
                "%.2f replications/s" % dask,
            )
        )
    staff = results["staff"]
    checks.append(
        verdict(
            "staffing: %d intervals of %d queues, 2 workers" % (staff["intervals"], staff["queues"]),
            "%.0f s" % staff["seconds"],
            "< 600 s",
            "seconds",
            staff["seconds"] < 600,
            "%d operator-intervals, %d with Erlang per queue alone"
            % (staff["operator_intervals"], staff["erlang_alone_operator_intervals"]),
        )
    )
    return checks


def check_ami(results):
    """The JSON port's throughput with 100 AMI clients listening: within 10 % of none."""
    ratio = results["throughput_ratio"]
    return [
        verdict(
            "ami: JSON port throughput, %d AMI clients listening vs none" % results["listeners"],
            "x%.2f" % ratio,
            ">= x0.90",
            "ratio",
            ratio >= 0.9,
            "%.0f vs %.0f replies/s; the AMI clients received %.0f events/s in all"
            % (
                results["throughput_listening"]["median"],
                results["throughput_none"]["median"],
                results["events_per_second"]["median"],
            ),
        ),
    ]


def durability_markdown(results):
    lines = [
        "",
        "| mode | connections | in-memory replies/s | durable replies/s | ratio | in-memory p99 ms | durable p99 ms"
        " | fdatasync/s | records per fdatasync |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for point in results["throughput"]:
        memory, durable = point["memory"], point["durable"]
        lines.append(
            "| %s | %d | %.0f (±%.0f%%) | %.0f (±%.0f%%) | x%.2f | %.2f | %.2f | %.0f | %.1f |"
            % (
                point["mode"],
                point["connections"],
                memory["replies_per_second"]["median"],
                100 * memory["replies_per_second"]["spread"],
                durable["replies_per_second"]["median"],
                100 * durable["replies_per_second"]["spread"],
                point["throughput_ratio"],
                memory["p99_ms"]["median"],
                durable["p99_ms"]["median"],
                point["fsyncs_per_second"],
                point["records_per_fsync"] or 0,
            )
        )
    lines += [
        "",
        "| queued calls | kept in | restore (logged) s | process start to status reply s |",
        "|---|---|---|---|",
    ]
    for point in results["restore"]:
        lines.append(
            "| %d | %s | %.2f | %.2f |"
            % (
                point["queued"],
                point["kind"],
                point["restore_s"]["median"],
                point["start_to_status_s"]["median"],
            )
        )
    lines.append("")
    lines.append("State directories on %s." % results["filesystem"])
    return lines


def cpu_per_reply(server):
    """Median over runs of the server's CPU microseconds per reply: steadier than replies/s."""
    import statistics

    return statistics.median(run["server_cpu"] / run["replies_per_second"] * 1e6 for run in server["runs"])


def write_markdown(summary, outcomes, folder=None):
    """summary.md: the verdicts and the throughput table, ready for docs/performance.md."""
    info = summary["machine"]
    lines = [
        "Machine: %s, %s CPUs (%s), %s memory; Python %s, Twisted %s; %s; pinning %s."
        % (
            info.get("Model name"),
            info.get("cpus"),
            info.get("Hypervisor vendor", "bare metal"),
            info.get("memory"),
            info.get("python"),
            info.get("twisted"),
            info.get("platform"),
            "on" if info.get("pinning") else "off",
        ),
        "",
        "| target | measured | goal | |",
        "|---|---|---|---|",
    ]
    for check in summary["checks"]:
        detail = " (%s)" % check["detail"] if check["detail"] else ""
        lines.append(
            "| %s | %s%s | %s | %s |"
            % (check["name"], check["measured"], detail, check["target"], "PASS" if check["pass"] else "**FAIL**")
        )
    if "throughput" in outcomes:
        lines += [
            "",
            "| mode | connections | callcenter replies/s | echo replies/s | callcenter p50 / p99 / max ms"
            " | echo p50 / p99 / max ms | server CPU µs per reply, callcenter / echo |",
            "|---|---|---|---|---|---|---|",
        ]
        for point in outcomes["throughput"]["points"]:
            cc, echo = point["callcenter"], point["echo"]
            lines.append(
                "| %s | %d | %.0f (±%.0f%%) | %.0f (±%.0f%%) | %.2f / %.2f / %.1f | %.2f / %.2f / %.1f | %.1f / %.1f |"
                % (
                    point["mode"],
                    point["connections"],
                    cc["replies_per_second"]["median"],
                    100 * cc["replies_per_second"]["spread"],
                    echo["replies_per_second"]["median"],
                    100 * echo["replies_per_second"]["spread"],
                    cc["p50_ms"]["median"],
                    cc["p99_ms"]["median"],
                    cc["max_ms"]["median"],
                    echo["p50_ms"]["median"],
                    echo["p99_ms"]["median"],
                    echo["max_ms"]["median"],
                    cpu_per_reply(cc),
                    cpu_per_reply(echo),
                )
            )
    if "core" in outcomes:
        core = outcomes["core"]
        lines += [
            "",
            "| core: ns per command | " + " | ".join(core_scaling.COMMANDS) + " |",
            "|---" * (len(core_scaling.COMMANDS) + 1) + "|",
        ]
        for dimension, label in (("queue", "queued"), ("operators", "operators")):
            for size, stats in core[dimension].items():
                lines.append(
                    "| %s %s | %s |"
                    % (size, label, " | ".join("%.0f" % stats[c]["median"] for c in core_scaling.COMMANDS))
                )
    if "core" in outcomes and "queues" in outcomes["core"]:
        heading = "| core: ns per command, 10^3 operators, 10^3 waiting | " + " | ".join(core_scaling.COMMANDS) + " |"
        lines += ["", heading]
        lines.append("|---" * (len(core_scaling.COMMANDS) + 1) + "|")
        for count, stats in outcomes["core"]["queues"].items():
            figures = " | ".join("%.0f" % stats[c]["median"] for c in core_scaling.COMMANDS)
            lines.append("| %s queue%s | %s |" % (count, "" if count == "1" else "s", figures))
    if "core" in outcomes and "strategies" in outcomes["core"]:
        commands = core_scaling.STRATEGY_COMMANDS
        lines += ["", "| core: ns per command, by strategy | " + " | ".join(commands) + " |"]
        lines.append("|---" * (len(commands) + 1) + "|")
        for strategy, sizes in outcomes["core"]["strategies"].items():
            for size, stats in sizes.items():
                figures = " | ".join("%.0f" % stats[c]["median"] for c in commands)
                lines.append("| %s, %s operators | %s |" % (strategy, size, figures))
    if "durability" in outcomes:
        lines += durability_markdown(outcomes["durability"])
    if "ha" in outcomes:
        lines += ha_markdown(outcomes["ha"])
    with open(os.path.join(folder or RESULTS, "summary.md"), "w") as out:
        out.write("\n".join(lines) + "\n")


def render(folder):
    """Verdicts, summary.md and the plot again from the JSON of an earlier run."""
    import json

    files = {
        "core": "core.json",
        "throughput": "throughput.json",
        "many": "many_clients.json",
        "client": "client_shell.json",
        "slow": "slow_reader.json",
        "durability": "durability.json",
        "ha": "ha.json",
        "wallboard": "wallboard.json",
        "simulation": "simulation.json",
        "staffing": "staffing.json",
        "chaos": "chaos.json",
        "ami": "ami.json",
    }
    checkers = {
        "core": check_core,
        "throughput": check_throughput,
        "many": check_many,
        "client": check_client,
        "slow": check_slow,
        "durability": check_durability,
        "ha": check_ha,
        "wallboard": check_wallboard,
        "simulation": check_simulation,
        "staffing": check_staffing,
        "chaos": check_chaos,
        "ami": check_ami,
    }
    outcomes = {}
    for section, filename in files.items():
        path = os.path.join(folder, filename)
        if os.path.exists(path):
            with open(path) as data:
                outcomes[section] = json.load(data)
    with open(os.path.join(folder, "summary.json")) as data:
        summary = json.load(data)
    summary["checks"] = []
    for section in outcomes:
        summary["checks"] += checkers[section](outcomes[section])
    write_markdown(summary, outcomes, folder)
    if "throughput" in outcomes:
        plot.plot(outcomes["throughput"], summary["machine"], os.path.join(folder, "throughput.png"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (under 2 minutes)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--render", metavar="DIR", help="only redo the verdicts, summary.md and the plot from DIR")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)
    sections = args.only or SECTIONS
    raise_nofile(many_clients.NOFILE)
    started = time.monotonic()
    info = machine()
    log("machine: %s; pinning %s" % (info, "on (generator core 0, server core 1)" if PINNING else "off"))
    summary = {"machine": info, "quick": args.quick, "sections": {}, "checks": []}
    checks = []
    runners = {
        "core": (core_scaling.run, check_core, "core.json"),
        "throughput": (throughput.run, check_throughput, "throughput.json"),
        "many": (many_clients.run, check_many, "many_clients.json"),
        "client": (client_shell.run, check_client, "client_shell.json"),
        "slow": (slow_reader.run, check_slow, "slow_reader.json"),
        "durability": (durability.run, check_durability, "durability.json"),
        "ha": (ha.run, check_ha, "ha.json"),
        "wallboard": (wallboard.run, check_wallboard, "wallboard.json"),
        "simulation": (simulation.run, check_simulation, "simulation.json"),
        "staffing": (staffing.run, check_staffing, "staffing.json"),
        "chaos": (chaos.run, check_chaos, "chaos.json"),
        "ami": (ami.run, check_ami, "ami.json"),
    }
    outcomes = {}
    for section in sections:
        run, _check, filename = runners[section]
        began = time.monotonic()
        log("%s: running%s" % (section, " (quick)" if args.quick else ""))
        results = run(quick=args.quick)
        results["seconds"] = time.monotonic() - began
        results["machine"] = info
        outcomes[section] = results
        write_json(filename, results)
    print("\n== callcenter benchmarks%s: targets ==" % (" (quick)" if args.quick else ""), flush=True)
    for section in sections:
        checks += runners[section][1](outcomes[section])
    if "throughput" in outcomes:
        path = plot.plot(outcomes["throughput"], info)
        log("plot: %s" % os.path.relpath(path))
    summary["checks"] = checks
    summary["sections"] = {section: runners[section][2] for section in sections}
    summary["seconds"] = time.monotonic() - started
    write_json("summary.json", summary)
    write_markdown(summary, outcomes)
    failed = [c for c in checks if not c["pass"]]
    print(
        "== %d of %d targets met; results in %s (%.0f s) =="
        % (len(checks) - len(failed), len(checks), os.path.relpath(RESULTS), summary["seconds"])
    )
    if args.strict and failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
