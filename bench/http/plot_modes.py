"""A before/after chart from a benchmark CSV with columns mode,round,route,rps,p99_ms.

    plot_modes.py CSV OUT.png TITLE

Two panels: throughput (req/s) and p99 latency (ms) per route, one bar per mode (the
order of first appearance in the CSV, e.g. off then on), the mean over rounds with
each round's value as a dot.
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path, out, title):
    rows = list(csv.DictReader(open(path, newline="")))
    if not rows:
        sys.exit(f"{path}: no rows")
    modes, routes = [], []
    for r in rows:
        if r["mode"] not in modes:
            modes.append(r["mode"])
        if r["route"] not in routes:
            routes.append(r["route"])
    vals = defaultdict(list)
    for r in rows:
        vals[(r["mode"], r["route"], "rps")].append(float(r["rps"]))
        vals[(r["mode"], r["route"], "p99_ms")].append(float(r["p99_ms"]))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(modes)
    for ax, metric, label in [
        (axes[0], "rps", "requests/s (higher is better)"),
        (axes[1], "p99_ms", "p99 latency, ms (lower is better)"),
    ]:
        for i, mode in enumerate(modes):
            xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(routes))]
            means = []
            for x, route in zip(xs, routes):
                v = vals[(mode, route, metric)]
                means.append(sum(v) / len(v) if v else 0)
                ax.scatter([x] * len(v), v, color="black", s=8, zorder=3)
            bars = ax.bar(xs, means, width, label=mode)
            ax.bar_label(bars, fmt="%.0f" if metric == "rps" else "%.1f", fontsize=8)
        ax.set_xticks(range(len(routes)), routes, rotation=15)
        ax.set_title(label)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
