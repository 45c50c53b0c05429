#!/usr/bin/env python3
"""Offline study: cheap re-ranking of the best-of top-K with a stored colour layout.

Baseline (as the service): the whole query is embedded; if its best cosine is
>= 0.7 that ranking is the answer, else the views fg (picture found in a frame),
centre 60 % and 45 % are embedded too and each stored picture scores its best view.
Embeddings come from views_study.py's cache (DATA/views_cache.npz; run it first).

Re-rank studied here ("colour layout"): every stored picture keeps an 8 x 8 grid of
mean RGB colours (192 bytes), the means of the 28 x 28 blocks of the 224 x 224 model
input the embedder already makes (bilinear squash-resize). A query computes the same
grid from each view's 224 x 224 input. Only on the multi-view path (whole best < 0.7),
each of the top-K candidates by best-of cosine gets

    score = best_of_cosine + w * max(0, 1 - D / tau)
    D     = min over views v (whole, fg, c60, c45) and mirror m of
            quantile_0.7 over the 64 cells of |(q_v,m - median(q_v)) - (c - median(c))|

(per-channel median over the 64 cells removed from both grids, Euclidean RGB distance
per cell, numpy's linear-interpolated quantile). A low quantile ignores the cells a
sticker covers; the bonus form adds nothing where no layout matches (phone photos),
so it cannot push the right answer down. Winner: w = 0.3, tau = 60, K = 100.
Parameters were tuned on the bases whose md5(name) is even ("train") and are reported
on the others ("test") and on all; `--tune` repeats the grid search.
Also shown: a penalty form (score = cosine - w * D / tau), other K, whole view only.

    ~/.cache/fanone/exp-venv/bin/python bench/image/views_study.py bench/image/hard
    ~/.cache/fanone/exp-venv/bin/python bench/image/rerank_study.py bench/image/hard

Grids are cached in DATA/rerank_cache.npz (32x32 RGB means per stored picture and per
query view; coarser grids are averaged from them).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from views_study import VIEWS, centre, crop_frac, detect_fg, load  # noqa: E402

QVIEWS = ["whole", "fg", "c60", "c45"]
G0 = 32  # cached grid side: 224 / 32 = 7 px blocks


def grid224(img: Image.Image, g: int = G0) -> np.ndarray:
    """Mean RGB of g x g blocks of the 224x224 bilinear model input (uint8 values as f32)."""
    a = np.asarray(img.resize((224, 224), Image.BILINEAR), dtype=np.float32)
    b = 224 // g
    return a.reshape(g, b, g, b, 3).mean(axis=(1, 3))


def qviews(img: Image.Image) -> list[Image.Image]:
    fb = detect_fg(img)
    return [img, crop_frac(img, fb) if fb else img, crop_frac(img, centre(0.6)), crop_frac(img, centre(0.45))]


def build_cache(data: Path, names: list[str], qkind: list[str], qbase: list[str]) -> tuple[np.ndarray, np.ndarray]:
    cache = data / "rerank_cache.npz"
    if cache.exists():
        z = np.load(cache)
        return z["igrid"], z["qgrid"]
    rows = [l.split("\t") for l in (data / "manifest.tsv").read_text().splitlines()[1:]]
    ig, qg = {}, []
    qi = 0
    for i, r in enumerate(rows):
        role, kind, name, path = r[0], r[1], r[2], r[3]
        img = load(data / path)
        if role in ("base", "distractor"):
            ig[name] = grid224(img)
        else:
            assert qkind[qi] == kind and qbase[qi] == name
            qg.append(np.stack([grid224(v) for v in qviews(img)]))
            qi += 1
        if i % 200 == 0:
            print(f"grids {i}/{len(rows)}", file=sys.stderr)
    igrid = np.stack([ig[n] for n in names]).astype(np.float32)
    qgrid = np.stack(qg).astype(np.float32)
    np.savez(cache, igrid=igrid, qgrid=qgrid)
    return igrid, qgrid



SPLIT_NOTE = "train = md5(base name) even, test = odd"


def lay_grid(g32: np.ndarray, g: int = 8) -> np.ndarray:
    """The stored/query layout: g x g block means from the cached 32 x 32 means."""
    f = G0 // g
    sh = g32.shape[:-3]
    return g32.reshape(*sh, g, f, g, f, 3).mean(axis=(-4, -2))


def layout_dist(qgrids: np.ndarray, cand: np.ndarray, quant: float) -> np.ndarray:
    """D for one query: qgrids (views, g, g, 3), cand (K, g, g, 3) -> (views*2, K)."""
    v, g = qgrids.shape[0], qgrids.shape[1]
    q = np.concatenate([qgrids, qgrids[:, :, ::-1]]).reshape(2 * v, g * g, 3)
    c = cand.reshape(len(cand), g * g, 3)
    q = q - np.median(q, axis=1, keepdims=True)
    c = c - np.median(c, axis=1, keepdims=True)
    d = np.sqrt(((q[:, None] - c[None]) ** 2).sum(-1))
    return np.quantile(d, quant, axis=-1)


class Study:
    def __init__(self, data: Path) -> None:
        z = np.load(data / "views_cache.npz", allow_pickle=True)
        names, index, qkind, qbase, qv = (z[k] for k in ("names", "index", "qkind", "qbase", "qv"))
        self.names, qbase = list(names), list(qbase)
        self.qk = np.array(qkind)
        igrid, qgrid = build_cache(data, self.names, list(qkind), qbase)
        pos = {n: i for i, n in enumerate(self.names)}
        self.truth = np.array([pos[b] for b in qbase])
        vi = [VIEWS.index(v) for v in QVIEWS]
        self.S = np.einsum("qvd,nd->qvn", qv[:, vi], index)
        self.gated = self.S[:, 0].max(axis=1) < 0.7
        self.best = np.where(self.gated[:, None], self.S.max(axis=1), self.S[:, 0])
        self.train = np.array([int(hashlib.md5(b.encode()).hexdigest(), 16) % 2 == 0 for b in qbase])
        self.kinds = sorted(set(qkind))
        self.order = np.argsort(-self.best, axis=1)
        # stored side: u8 as it would be stored; query side: floats
        self.ilay = {g: np.round(lay_grid(igrid, g)) for g in (8, 16)}
        self.qlay = {g: lay_grid(qgrid, g) for g in (8, 16)}
        self._d: dict = {}

    def dists(self, g: int, quant: float, views: tuple[int, ...]) -> dict[int, np.ndarray]:
        """Per gated query: D to every stored picture (min over views and mirrors)."""
        key = (g, quant, views)
        if key not in self._d:
            out = {}
            for qi in np.where(self.gated)[0]:
                d = layout_dist(self.qlay[g][qi, list(views)], self.ilay[g], quant)
                out[qi] = d.min(axis=0)
            self._d[key] = out
        return self._d[key]

    def rerank(self, g=8, quant=0.7, views=(0, 1, 2, 3), form="bonus", w=0.3, tau=60.0, k=100) -> np.ndarray:
        score = self.best.copy()
        D = self.dists(g, quant, views)
        for qi, d in D.items():
            c = self.order[qi, :k]
            if form == "bonus":
                score[qi, c] = self.best[qi, c] + w * np.maximum(0.0, 1.0 - d[c] / tau)
            else:
                score[qi, c] = self.best[qi, c] - w * d[c] / tau + 10.0
        return score

    def ranks(self, score: np.ndarray) -> np.ndarray:
        t = score[np.arange(len(self.truth)), self.truth]
        return (score > t[:, None]).sum(axis=1)

    def row(self, label: str, r: np.ndarray, mask: np.ndarray) -> str:
        cells = [f"{(r[mask & (self.qk == k)] == 0).mean():.2f}/{(r[mask & (self.qk == k)] < 5).mean():.2f}" for k in self.kinds]
        return f"| {label} | " + " | ".join(cells) + f" | {(r[mask] == 0).mean():.3f} | {(r[mask] < 5).mean():.3f} |"


VARIANTS = {
    "baseline best-of (whole; +fg,c60,c45 if whole<0.7)": None,
    "WINNER layout8 rgb q0.7 bonus w0.3 tau60 K100": dict(),
    "layout8 bonus w0.3 tau60 K20": dict(k=20),
    "layout8 bonus w0.3 tau60 K50": dict(k=50),
    "layout8 bonus w0.3 tau60 K=all": dict(k=10**6),
    "layout8 bonus, whole view only, K100": dict(views=(0,)),
    "layout8 bonus, whole+fg only, K100": dict(views=(0, 1)),
    "layout16 bonus q0.7 w0.3 tau60 K100": dict(g=16),
    "layout8 penalty q0.7 w0.3 (score=cos-w*D/121) K100": dict(form="pen", w=0.3, tau=121.0),
}


def tune(st: Study) -> None:
    res = []
    for g in (8,):
        for quant in (0.6, 0.7, 0.8):
            for views in ((0, 1, 2, 3), (0,)):
                for k in (50, 100):
                    for tau in (45.0, 60.0, 90.0):
                        for w in (0.2, 0.3, 0.5):
                            r = st.ranks(st.rerank(g, quant, views, "bonus", w, tau, k))
                            tr = st.train
                            res.append(((r[tr] == 0).mean(), min((r[tr & (st.qk == kd)] == 0).mean() for kd in st.kinds),
                                        g, quant, views, k, tau, w, (r[~tr] == 0).mean(),
                                        min((r[~tr & (st.qk == kd)] == 0).mean() for kd in st.kinds)))
    res.sort(key=lambda x: (-x[0], -x[1]))
    print("(the wider search behind the chosen point: 8/16 grids, RGB/YCbCr/Lab, quantiles 0.25-0.8, penalty vs bonus, K 20..all)")
    print("train R@1, train min-kind R@1, grid, quantile, views, K, tau, w, test R@1, test min-kind R@1")
    for x in res[:25]:
        print(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--tune", action="store_true", help="grid search on the train half")
    args = ap.parse_args()
    st = Study(args.data)
    if args.tune:
        tune(st)
        return
    head = "| variant | " + " | ".join(st.kinds) + " | R@1 | R@5 |"
    sep = "|---|" + "---|" * (len(st.kinds) + 2)
    for label, mask in (("held-out half (test)", ~st.train), ("all queries", np.ones_like(st.train))):
        print(f"\n{label}: {mask.sum()} queries; per kind R@1/R@5 ({SPLIT_NOTE})\n")
        print(head)
        print(sep)
        for name, kw in VARIANTS.items():
            score = st.best if kw is None else st.rerank(**kw)
            print(st.row(name, st.ranks(score), mask))


if __name__ == "__main__":
    main()
