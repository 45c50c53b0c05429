"""Charts of a Kitex-vs-Volo run, drawn from its CSV (bench/kitex-vs-volo/run.sh).

    plot.py results.csv OUTDIR

One PNG per workload (echo_128.png, echo_1024.png, echo_16384.png, mget.png):
throughput, p99 latency and the server's QPS per CPU-second against the number of
concurrent callers, one line per server/client/transport. Plus server_rss.png: the
server's resident memory at the highest concurrency of each workload.
"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "kitex": {"color": "tab:blue"},
    "volo": {"color": "tab:orange"},
}
MARKER = {"go": "o", "rust": "s"}
DASH = {"pool": "-", "mux": "--"}


def label(key):
    server, client, mode = key
    return f"{server} server / {client} client / {mode}"


def workload_name(method, size):
    return "mget" if method == "mget" else f"echo_{size}"


def title(method, size):
    if method == "mget":
        return "MGetUsers (20 users from memory)"
    return f"Echo, {int(size):,} B payload"


def main(csv_path, out):
    out = Path(out)
    rows = list(csv.DictReader(open(csv_path, newline="")))
    if not rows:
        sys.exit(f"{csv_path}: no rows")
    by_workload = defaultdict(lambda: defaultdict(list))
    for r in rows:
        w = (r["method"], r["payload_bytes"])
        by_workload[w][(r["server"], r["client"], r["mode"])].append(r)

    written = []
    for (method, size), series in sorted(by_workload.items()):
        fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
        for key, pts in sorted(series.items()):
            pts.sort(key=lambda r: int(r["concurrency"]))
            c = [int(r["concurrency"]) for r in pts]
            qps = [float(r["qps"]) for r in pts]
            p99 = [float(r["p99_us"]) / 1000 for r in pts]
            per_cpu = [
                float(r["qps"]) / (float(r["server_cpu_pct"]) / 100)
                if float(r["server_cpu_pct"]) > 0
                else 0
                for r in pts
            ]
            kw = dict(
                color=STYLE[key[0]]["color"],
                marker=MARKER[key[1]],
                linestyle=DASH[key[2]],
                label=label(key),
            )
            axes[0].plot(c, qps, **kw)
            axes[1].plot(c, p99, **kw)
            axes[2].plot(c, per_cpu, **kw)
        for ax, ylabel in zip(
            axes,
            ["requests / s", "p99 latency (ms)", "requests per server CPU-second"],
        ):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrent callers")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
        axes[1].set_yscale("log")
        axes[0].set_ylim(bottom=0)
        axes[2].set_ylim(bottom=0)
        axes[0].legend(fontsize=8)
        fig.suptitle(
            f"{title(method, size)} — server pinned to 1 CPU, client to another"
        )
        fig.tight_layout()
        path = out / f"{workload_name(method, size)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # server RSS at the highest concurrency of each workload
    fig, ax = plt.subplots(figsize=(11, 5))
    keys = sorted({(r["server"], r["client"], r["mode"]) for r in rows})
    workloads = sorted(by_workload)
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        vals = []
        for w in workloads:
            pts = by_workload[w].get(key, [])
            top = max(pts, key=lambda r: int(r["concurrency"]), default=None)
            vals.append(float(top["server_rss_mb"]) if top else 0)
        xs = [j + i * width for j in range(len(workloads))]
        ax.bar(
            xs,
            vals,
            width,
            color=STYLE[key[0]]["color"],
            alpha=0.55 if key[2] == "mux" else 0.95,
            hatch="//" if key[1] == "rust" else None,
            label=label(key),
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(workloads))])
    ax.set_xticklabels([workload_name(*w) for w in workloads])
    ax.set_ylabel("server RSS (MiB) at the highest concurrency")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path = out / "server_rss.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    for p in written:
        print(p)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py results.csv OUTDIR")
    main(sys.argv[1], sys.argv[2])
