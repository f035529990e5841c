"""Section 5: throughput and p99 latency against connection count, product beside ceiling."""

import os

from bench.common import RESULTS


def plot(throughput, machine, path=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = path or os.path.join(RESULTS, "throughput.png")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"callcenter": ("tab:blue", "callcenter-server"), "echo": ("tab:gray", "Twisted echo (ceiling)")}
    markers = {"pipelined": ("o", "-"), "one-at-a-time": ("s", "--")}
    for mode in ("pipelined", "one-at-a-time"):
        points = [p for p in throughput["points"] if p["mode"] == mode]
        counts = [p["connections"] for p in points]
        for kind in ("echo", "callcenter"):
            color, label = styles[kind]
            marker, line = markers[mode]
            for axis, key, scale in ((left, "replies_per_second", 1.0), (right, "p99_ms", 1.0)):
                med = [p[kind][key]["median"] * scale for p in points]
                low = [m - p[kind][key]["min"] * scale for m, p in zip(med, points)]
                high = [p[kind][key]["max"] * scale - m for m, p in zip(med, points)]
                axis.errorbar(
                    counts,
                    med,
                    yerr=[low, high],
                    color=color,
                    marker=marker,
                    linestyle=line,
                    capsize=3,
                    label="%s, %s" % (label, mode),
                )
    left.set_title("Throughput (replies/s, median and range of %d runs)" % throughput["repeats"])
    right.set_title("p99 reply latency (ms)")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("concurrent connections")
        axis.grid(True, which="both", alpha=0.3)
    right.set_yscale("log")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    figure.suptitle(
        "callcenter-server vs bare Twisted echo - %s, %s CPUs, Python %s, Twisted %s"
        % (machine.get("Model name", "?"), machine.get("cpus"), machine.get("python"), machine.get("twisted")),
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
