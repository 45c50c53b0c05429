#!/usr/bin/env python3
"""Reverse image search, measured end to end through the HTTP API.

Takes a set made by bench/image/prepare_hard.py and a running FanOne gateway:

  1. every base and every distractor becomes the avatar of a freshly registered user
     (`POST /user/register`, `POST /user/login` -> `Access-Token`/`Refresh-Token`
     headers, `PUT /user/avatar/upload` with the file in `data`); the returned
     `avatar_url` is remembered for each picture;
  2. waits until the (asynchronous, event-driven) index holds them all: polls with
     the picture uploaded last, printing progress, then searches every uploaded
     picture with its own bytes and checks its own URL comes back (`--verify`);
  3. sends every query (`POST /user/image/search`, `data` + `top_k=5`) and reports
     R@1 and R@5 per edit kind and overall, what the rank-1 misses lost to (another
     base or a distractor), the numbers of queries and distractors, and the latency
     of the search requests (p50/p99, nearest rank; one client by default, so the
     latency has no queueing in it).

Commands (a fresh standalone server on free loopback ports, see
scripts/standalone.sh; the venv is the one prepare_hard.py makes):

    ~/.cache/fanone/tools/eval-venv/bin/python bench/image/prepare_hard.py bench/image/hard
    bash -c 'source scripts/standalone.sh
             data=$(mktemp -d); trap stop_standalone EXIT
             start_standalone target/release/fanone "$data" "$data.log"
             ~/.cache/fanone/tools/eval-venv/bin/python bench/image/eval_http.py \\
                 --gateway "$gateway" --data bench/image/hard \\
                 --out bench/image/hard/results.csv --markdown'

Outputs: `--out` (default DATA/results.csv) has one row per query (kind, base, rank
of the true base or 0, the top hit and its role, scores, latency, answer code);
`<out>-summary.csv` one row per kind; DATA/uploads.tsv maps every avatar URL to its
picture. With `--reuse-uploads` that file is read instead of uploading again (for a
server whose data directory already holds the uploads). The summary table goes to
stdout (markdown with `--markdown`).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

VENV = Path.home() / ".cache" / "fanone" / "tools" / "eval-venv"

if __name__ == "__main__":
    try:
        import requests  # noqa: F401
    except ImportError:
        py = VENV / "bin" / "python"
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run(
                [str(py), "-m", "pip", "install", "-q", "pillow==13.0.0", "numpy==2.4.6", "requests==2.34.2"],
                check=True,
            )
        os.execv(str(py), [str(py), *sys.argv])

import requests  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

OK = 10000
PASSWORD = "eval-pass-2026"
TIMEOUT = 120


# ------------------------------------------------------------------------------- HTTP


class Api:
    """The few gateway routes the evaluation needs; one session per thread."""

    def __init__(self, gateway: str, concurrency: int) -> None:
        self.gateway = gateway.rstrip("/")
        self.concurrency = concurrency
        self.local = threading.local()

    def session(self) -> requests.Session:
        s = getattr(self.local, "s", None)
        if s is None:
            s = requests.Session()
            s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency))
            self.local.s = s
        return s

    def call(self, method: str, path: str, **kw) -> tuple[dict, requests.Response]:
        """One request, retried on connection errors and internal errors (10001)."""
        for attempt in range(6):
            try:
                r = self.session().request(method, self.gateway + path, timeout=TIMEOUT, **kw)
                body = r.json()
                if body.get("base", {}).get("code") != 10001 or attempt == 5:
                    return body, r
            except (requests.ConnectionError, requests.Timeout, ValueError):
                if attempt == 5:
                    raise
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def register_and_login(self, username: str) -> dict[str, str]:
        form = {"username": username, "password": PASSWORD}
        body, _ = self.call("POST", "/user/register", data=form)
        if body["base"]["code"] not in (OK, 10003):  # 10003: exists (a retried run)
            raise RuntimeError(f"register {username}: {body}")
        body, r = self.call("POST", "/user/login", data=form)
        if body["base"]["code"] != OK:
            raise RuntimeError(f"login {username}: {body}")
        return {"Access-Token": r.headers["Access-Token"], "Refresh-Token": r.headers["Refresh-Token"]}

    def upload_avatar(self, tokens: dict[str, str], path: Path) -> str:
        files = {"data": (path.name, path.read_bytes(), mime(path))}
        body, _ = self.call("PUT", "/user/avatar/upload", files=files, headers=tokens)
        if body["base"]["code"] != OK:
            raise RuntimeError(f"avatar {path}: {body}")
        return body["data"]["avatar_url"]

    def search(self, data: bytes, name: str, top_k: int) -> tuple[dict, float]:
        """(answer, seconds) of one search; only the request itself is timed."""
        files = {"data": (name, data, mime(Path(name)))}
        t0 = time.perf_counter()
        body, _ = self.call("POST", "/user/image/search", files=files, data={"top_k": str(top_k)})
        return body, time.perf_counter() - t0


def mime(path: Path) -> str:
    return {".png": "image/png", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")


def hits(body: dict) -> list[dict]:
    if body.get("base", {}).get("code") != OK:
        return []
    return body.get("data", {}).get("items", [])


# ---------------------------------------------------------------------------- the set


@dataclass
class Item:
    role: str  # base | distractor | query
    kind: str
    name: str
    path: Path
    url: str = ""
    done_at: float = 0.0


@dataclass
class Result:
    kind: str
    base: str
    path: str
    size: int
    rank: int
    top_name: str
    top_role: str
    top_score: float
    true_score: float
    latency: float
    code: int


def read_manifest(data: Path) -> list[Item]:
    with open(data / "manifest.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [Item(r["role"], r["kind"], r["name"], data / r["path"]) for r in rows]


def run_pool(fn, items, concurrency: int, label: str, every: int = 100):
    """Maps fn over items with `concurrency` threads, printing progress."""
    out, t0 = [], time.time()
    with ThreadPoolExecutor(concurrency) as ex:
        for i, r in enumerate(ex.map(fn, items), 1):
            out.append(r)
            if i % every == 0 or i == len(items):
                rate = i / max(1e-9, time.time() - t0)
                print(f"  {label}: {i}/{len(items)} ({rate:.1f}/s)", file=sys.stderr, flush=True)
    return out


# ----------------------------------------------------------------------------- upload


def upload_all(api: Api, items: list[Item], concurrency: int) -> None:
    run = secrets.token_hex(3)

    def one(arg):
        i, item = arg
        tokens = api.register_and_login(f"ev{run}_{i:05d}")
        item.url = api.upload_avatar(tokens, item.path)
        item.done_at = time.time()

    print(f"uploading {len(items)} avatars (users ev{run}_*)", file=sys.stderr)
    run_pool(one, list(enumerate(items)), concurrency, "uploaded")
    urls = {it.url for it in items}
    if len(urls) != len(items):
        print(f"warning: {len(items) - len(urls)} uploads share a URL", file=sys.stderr)


def save_uploads(path: Path, items: list[Item]) -> None:
    with open(path, "w") as f:
        f.write("role\tname\turl\n")
        f.writelines(f"{it.role}\t{it.name}\t{it.url}\n" for it in sorted(items, key=lambda i: i.done_at))


def load_uploads(path: Path, items: list[Item]) -> list[Item]:
    """Fills `url` from a previous run; returns the items in upload order."""
    by_key = {(it.role, it.name): it for it in items}
    order = []
    with open(path) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            it = by_key[(r["role"], r["name"])]
            it.url = r["url"]
            order.append(it)
    return order


# ------------------------------------------------------------------------------- wait


def self_found(api: Api, item: Item, top_k: int = 1) -> int:
    """Rank (1-based, 0 = absent) of the picture's own URL when searched by itself."""
    body, _ = api.search(item.path.read_bytes(), item.path.name, top_k)
    urls = [h["url"] for h in hits(body)]
    return urls.index(item.url) + 1 if item.url in urls else 0


def indexed_prefix(api: Api, order: list[Item]) -> int:
    """Binary search for how many of `order` (upload order) are indexed already,
    assuming the index follows the upload order (a queue)."""
    lo, hi = 0, len(order)  # order[:lo] indexed, order[hi:] not known to be
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if self_found(api, order[mid - 1], 5):
            lo = mid
        else:
            hi = mid - 1
    return lo


def wait_indexed(api: Api, order: list[Item], timeout: float) -> None:
    print(f"waiting for the index to hold all {len(order)} pictures", file=sys.stderr)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if self_found(api, order[-1], 5):
            print(f"  the last upload is indexed after {time.time() - t0:.0f} s", file=sys.stderr)
            return
        n = indexed_prefix(api, order)
        el = time.time() - t0
        print(f"  indexed ~{n}/{len(order)} after {el:.0f} s", file=sys.stderr, flush=True)
        time.sleep(5)
    sys.exit(f"the index did not catch up within {timeout:.0f} s")


def verify(api: Api, items: list[Item], concurrency: int, timeout: float) -> tuple[int, int]:
    """Searches every picture by itself until each shows up in its own top 5.

    Returns (found at rank 1, found in top 5)."""
    t0, pending, ranks = time.time(), list(items), {}
    while pending:
        got = run_pool(lambda it: self_found(api, it, 5), pending, concurrency, "self-check", 200)
        for it, r in zip(pending, got, strict=True):
            ranks[it.url] = r
        pending = [it for it, r in zip(pending, got, strict=True) if r == 0]
        if pending:
            if time.time() - t0 > timeout:
                print(
                    f"warning: {len(pending)} pictures never found themselves, e.g. {pending[0].path}", file=sys.stderr
                )
                break
            print(f"  {len(pending)} not found yet; retrying in 10 s", file=sys.stderr)
            time.sleep(10)
    return sum(r == 1 for r in ranks.values()), sum(r > 0 for r in ranks.values())


# ---------------------------------------------------------------------------- queries


def run_queries(api: Api, queries: list[Item], index: list[Item], top_k: int, concurrency: int) -> list[Result]:
    by_url = {it.url: it for it in index}
    base_url = {it.name: it.url for it in index if it.role == "base"}

    def one(q: Item) -> Result:
        data = q.path.read_bytes()
        body, secs = api.search(data, q.path.name, top_k)
        hs = hits(body)
        urls = [h["url"] for h in hs]
        want = base_url[q.name]
        rank = urls.index(want) + 1 if want in urls else 0
        top = by_url.get(urls[0]) if urls else None
        return Result(
            kind=q.kind, base=q.name, path=str(q.path), size=len(data), rank=rank,
            top_name=top.name if top else (urls[0] if urls else ""),
            top_role=top.role if top else ("unknown" if urls else ""),
            top_score=hs[0]["score"] if hs else 0.0,
            true_score=hs[rank - 1]["score"] if rank else 0.0,
            latency=secs, code=body.get("base", {}).get("code", -1),
        )  # fmt: skip

    return run_pool(one, queries, concurrency, "queries", 200)


# ---------------------------------------------------------------------------- summary


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))] if s else float("nan")


def summarize(results: list[Result], kinds: list[str]) -> list[dict]:
    rows = []
    for kind in kinds + ["overall"]:
        rs = [r for r in results if kind in ("overall", r.kind)]
        if not rs:
            continue
        lat = [r.latency * 1000 for r in rs]
        rows.append({
            "kind": kind, "queries": len(rs),
            "r1": sum(r.rank == 1 for r in rs) / len(rs),
            "r5": sum(r.rank >= 1 for r in rs) / len(rs),
            "errors": sum(r.code != OK for r in rs),
            "miss_base": sum(r.rank != 1 and r.top_role == "base" for r in rs),
            "miss_distractor": sum(r.rank != 1 and r.top_role == "distractor" for r in rs),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
        })  # fmt: skip
    return rows


def print_table(rows: list[dict], markdown: bool) -> None:
    head = ["kind", "queries", "R@1", "R@5", "top-1 miss: base/distractor", "errors", "p50 ms", "p99 ms"]
    body = [
        [r["kind"], str(r["queries"]), f"{r['r1']:.3f}", f"{r['r5']:.3f}",
         f"{r['miss_base']}/{r['miss_distractor']}", str(r["errors"]), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}"]
        for r in rows
    ]  # fmt: skip
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        for b in body:
            b = [f"**{c}**" if b[0] == "overall" else c for c in b]
            print("| " + " | ".join(b) + " |")
    else:
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        for b in [head] + body:
            print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(b, widths, strict=True))))


def write_csv(path: Path, results: list[Result], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "base", "query", "bytes", "rank", "top_name", "top_role", "top_score",
                    "true_score", "latency_ms", "code"])  # fmt: skip
        for r in results:
            w.writerow([r.kind, r.base, r.path, r.size, r.rank, r.top_name, r.top_role,
                        f"{r.top_score:.4f}", f"{r.true_score:.4f}", f"{r.latency * 1000:.1f}", r.code])  # fmt: skip
    summary = path.with_name(path.stem + "-summary.csv")
    with open(summary, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# ------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gateway", required=True, help="e.g. http://127.0.0.1:8080")
    ap.add_argument("--data", required=True, type=Path, help="the directory prepare_hard.py wrote")
    ap.add_argument("--out", type=Path, help="per-query CSV (default DATA/results.csv)")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--concurrency", type=int, default=4, help="for uploads and self-checks")
    ap.add_argument("--query-concurrency", type=int, default=1,
                    help="for the timed queries (1: latency without queueing)")  # fmt: skip
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--wait-timeout", type=float, default=1800, help="seconds to wait for indexing")
    ap.add_argument("--verify", choices=["all", "bases", "none"], default="all",
                    help="search uploaded pictures by themselves before the queries")  # fmt: skip
    ap.add_argument("--reuse-uploads", action="store_true", help="read DATA/uploads.tsv, upload nothing")
    args = ap.parse_args()
    api = Api(args.gateway, max(args.concurrency, args.query_concurrency))
    items = read_manifest(args.data)
    index = [it for it in items if it.role in ("base", "distractor")]
    queries = [it for it in items if it.role == "query"]
    uploads = args.data / "uploads.tsv"
    t0 = time.time()
    if args.reuse_uploads:
        order = load_uploads(uploads, index)
    else:
        upload_all(api, index, args.concurrency)
        save_uploads(uploads, index)
        order = sorted(index, key=lambda it: it.done_at)
    t_up = time.time() - t0
    wait_indexed(api, order, args.wait_timeout)
    t_ix = time.time() - t0
    check = {"all": index, "bases": [it for it in index if it.role == "base"], "none": []}[args.verify]
    self1, self5 = verify(api, check, args.concurrency, args.wait_timeout) if check else (0, 0)
    print(f"running {len(queries)} queries (top_k={args.top_k})", file=sys.stderr)
    results = run_queries(api, queries, index, args.top_k, args.query_concurrency)
    kinds = list(dict.fromkeys(q.kind for q in queries))
    rows = summarize(results, kinds)
    out = args.out or args.data / "results.csv"
    write_csv(out, results, rows)
    n_base = sum(it.role == "base" for it in index)
    print(f"gateway {args.gateway}: {n_base} bases + {len(index) - n_base} distractors indexed "
          f"(uploaded in {t_up:.0f} s, all indexed after {t_ix:.0f} s); {len(queries)} queries, "
          f"top_k={args.top_k}, {args.query_concurrency} client(s) for the queries")  # fmt: skip
    if check:
        print(f"self-check: {self1}/{len(check)} uploaded pictures find themselves at rank 1, {self5} in the top 5")
    print()
    print_table(rows, args.markdown)
    print(f"\nper-query results: {out}")


if __name__ == "__main__":
    main()
