#!/usr/bin/env python3
"""Offline study of query *views* for reverse image search (not the service).

Embeds every indexed image of a prepare_hard.py set once (whole picture, as the
service stores it) and every query in several views (crops of the decoded query),
then reports recall@1/@5 per edit kind for view policies: a query ranks each stored
picture by its best score over the policy's views. It decides which views the service
embeds; the service's own numbers come from eval_http.py.

    python3 -m venv ~/.cache/fanone/exp-venv
    ~/.cache/fanone/exp-venv/bin/pip install numpy==2.4.6 pillow==13.0.0 onnxruntime==1.23.2
    ~/.cache/fanone/exp-venv/bin/python bench/image/views_study.py bench/image/hard

Embeddings are cached in DATA/views_cache.npz (delete it after changing the views).
Preprocessing is the model's (docs/image-embedding.md): alpha on white, RGB,
squash-resize to 224x224 (bilinear with a scaled support, like image-rs' Triangle),
ImageNet mean/std, NCHW. The views are computed as in pkg/embed (`views`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
Image.MAX_IMAGE_PIXELS = None


def load(path: Path) -> Image.Image:
    img = ImageOps.exif_transpose(Image.open(path))
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return img.convert("RGB")


def tensor(img: Image.Image) -> np.ndarray:
    small = img.resize((224, 224), Image.BILINEAR)
    x = np.asarray(small, dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return x.transpose(2, 0, 1)[None]


def trim_box(grey: np.ndarray, tol: float = 10.0) -> tuple[int, int, int, int]:
    """Rows/columns at the edges that stay within `tol` of the corner colour."""
    h, w = grey.shape
    ref = np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]))
    flat_r = np.abs(grey - ref).max(axis=1) <= tol
    flat_c = np.abs(grey - ref).max(axis=0) <= tol
    top = 0
    while top < h and flat_r[top]:
        top += 1
    bottom = h
    while bottom > top and flat_r[bottom - 1]:
        bottom -= 1
    left = 0
    while left < w and flat_c[left]:
        left += 1
    right = w
    while right > left and flat_c[right - 1]:
        right -= 1
    return left, top, right, bottom


def largest_component(mask: np.ndarray) -> tuple[int, int, int, int, int] | None:
    """The largest 4-connected group of True cells: (cells, row0, row1, col0, col1)."""
    gh, gw = mask.shape
    seen = np.zeros_like(mask)
    best = None
    for i in range(gh):
        for j in range(gw):
            if mask[i, j] and not seen[i, j]:
                stack = [(i, j)]
                seen[i, j] = True
                n, r0, r1, c0, c1 = 0, i, i, j, j
                while stack:
                    a, b = stack.pop()
                    n += 1
                    r0, r1, c0, c1 = min(r0, a), max(r1, a), min(c0, b), max(c1, b)
                    for da, db in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                        x, y = a + da, b + db
                        if 0 <= x < gh and 0 <= y < gw and mask[x, y] and not seen[x, y]:
                            seen[x, y] = True
                            stack.append((x, y))
                if best is None or n > best[0]:
                    best = (n, r0, r1, c0, c1)
    return best


def detect_box(img: Image.Image, cell: int = 8) -> tuple[float, float, float, float] | None:
    """The largest connected region of 'picture-like' cells, as fractions.

    On a grey thumbnail (longer side 256), a cell is picture-like when its pixels are
    not dominated by one value (UI: flat fills and text on a flat background) and it
    is not flat. Returns the bounding box of the largest 4-connected component when it
    covers 4-90 % of the image, else None.
    """
    w, h = img.size
    s = 256 / max(w, h)
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    g = np.asarray(img.convert("L").resize((tw, th), Image.BILINEAR), dtype=np.int16)
    gh, gw = th // cell, tw // cell
    if gh < 4 or gw < 4:
        return None
    mask = np.zeros((gh, gw), bool)
    for i in range(gh):
        for j in range(gw):
            c = g[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell].ravel()
            q = c // 4
            mode = np.bincount(q, minlength=64).max() / c.size
            mask[i, j] = mode < 0.5 and c.std() > 2.0
    best = largest_component(mask)
    if best is None:
        return None
    n, r0, r1, c0, c1 = best
    area = (r1 - r0 + 1) * (c1 - c0 + 1) / (gh * gw)
    if not 0.04 <= area <= 0.9:
        return None
    return (c0 / gw, r0 / gh, (c1 + 1) / gw, (r1 + 1) / gh)


def detect_fg(img: Image.Image, cell: int = 8) -> tuple[float, float, float, float] | None:
    """The largest solid region that differs from the background colour, as fractions.

    On a thumbnail (longer side 256): the background is the most common colour
    (16 levels a channel) of the outer ring; a pixel is foreground when a channel
    differs from it by more than 24; a cell is solid when 85 % of its pixels are
    foreground (text on a page is not); the answer is the bounding box of the largest
    4-connected group of solid cells when it covers 6-92 % of the image.
    """
    w, h = img.size
    s = 256 / max(w, h)
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    a = np.asarray(img.resize((tw, th), Image.BILINEAR), dtype=np.int16)
    ring = np.concatenate([a[:2].reshape(-1, 3), a[-2:].reshape(-1, 3), a[:, :2].reshape(-1, 3), a[:, -2:].reshape(-1, 3)])
    q = ring // 16
    keys = q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]
    mode = np.bincount(keys).argmax()
    sel = ring[keys == mode]
    bg = sel.mean(axis=0)
    fg = (np.abs(a - bg).max(axis=2) > 24)
    gh, gw = th // cell, tw // cell
    if gh < 4 or gw < 4:
        return None
    cells = fg[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).mean(axis=(1, 3)) >= 0.85
    best = largest_component(cells)
    if best is None:
        return None
    n, r0, r1, c0, c1 = best
    area = (r1 - r0 + 1) * (c1 - c0 + 1) / (gh * gw)
    if not 0.06 <= area <= 0.92:
        return None
    return (c0 / gw, r0 / gh, (c1 + 1) / gw, (r1 + 1) / gh)


def crop_frac(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    w, h = img.size
    l, t, r, b = box
    return img.crop((round(l * w), round(t * h), max(round(l * w) + 1, round(r * w)), max(round(t * h) + 1, round(b * h))))


def centre(f: float) -> tuple[float, float, float, float]:
    m = (1 - f) / 2
    return (m, m, 1 - m, 1 - m)


VIEWS = ["whole", "c80", "c60", "c45", "trim", "tl70", "tr70", "bl70", "br70", "detect", "fg", "fg_c85"]


def views(img: Image.Image) -> dict[str, Image.Image]:
    out = {"whole": img, "c80": crop_frac(img, centre(0.8)), "c60": crop_frac(img, centre(0.6)),
           "c45": crop_frac(img, centre(0.45))}
    grey = np.asarray(img.convert("L"), dtype=np.int16)
    l, t, r, b = trim_box(grey)
    w, h = img.size
    out["trim"] = img.crop((l, t, r, b)) if (r - l) * (b - t) > 0.05 * w * h else img
    out["tl70"] = crop_frac(img, (0, 0, 0.7, 0.7))
    out["tr70"] = crop_frac(img, (0.3, 0, 1, 0.7))
    out["bl70"] = crop_frac(img, (0, 0.3, 0.7, 1))
    out["br70"] = crop_frac(img, (0.3, 0.3, 1, 1))
    box = detect_box(img)
    out["detect"] = crop_frac(img, box) if box else img
    fb = detect_fg(img)
    out["fg"] = crop_frac(img, fb) if fb else img
    if fb:
        l, t, r, b = fb
        m = 0.075
        fb2 = (l + (r - l) * m, t + (b - t) * m, r - (r - l) * m, b - (b - t) * m)
        out["fg_c85"] = crop_frac(img, fb2)
    else:
        out["fg_c85"] = out["c80"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--model", default="models/effnet_lite0_emb.onnx")
    args = ap.parse_args()
    rows = [l.split("\t") for l in (args.data / "manifest.tsv").read_text().splitlines()[1:]]
    cache = args.data / "views_cache.npz"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(args.model, opts)

    def emb(img: Image.Image) -> np.ndarray:
        return sess.run(None, {"image": tensor(img)})[0][0]

    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        names, index, qkind, qbase, qv = (z[k] for k in ("names", "index", "qkind", "qbase", "qv"))
        names, qkind, qbase = list(names), list(qkind), list(qbase)
    else:
        names, index, qkind, qbase, qv = [], [], [], [], []
        for i, r in enumerate(rows):
            role, kind, name, path = r[0], r[1], r[2], r[3]
            img = load(args.data / path)
            if role in ("base", "distractor"):
                names.append(name)
                index.append(emb(img))
            else:
                vs = views(img)
                qkind.append(kind)
                qbase.append(name)
                qv.append(np.stack([emb(vs[v]) for v in VIEWS]))
            if i % 200 == 0:
                print(f"{i}/{len(rows)}", file=sys.stderr)
        index, qv = np.stack(index), np.stack(qv)
        np.savez(cache, names=np.array(names), index=index, qkind=np.array(qkind), qbase=np.array(qbase), qv=qv)

    pos = {n: i for i, n in enumerate(names)}
    truth = np.array([pos[b] for b in qbase])
    scores = np.einsum("qvd,nd->qvn", qv, index)  # query, view, index
    kinds = sorted(set(qkind))
    policies = {
        "whole": ["whole"],
        "issue (whole,c80,c60,trim)": ["whole", "c80", "c60", "trim"],
        "whole,detect": ["whole", "detect"],
        "whole,c60,detect": ["whole", "c60", "detect"],
        "whole,c80,c60,detect": ["whole", "c80", "c60", "detect"],
        "whole,c80,c60,trim,detect": ["whole", "c80", "c60", "trim", "detect"],
        "whole,c60,c45,detect": ["whole", "c60", "c45", "detect"],
        "whole,corners70": ["whole", "tl70", "tr70", "bl70", "br70"],
        "whole,c60,detect,corners70": ["whole", "c60", "detect", "tl70", "tr70", "bl70", "br70"],
        "whole,fg": ["whole", "fg"],
        "whole,fg,c80": ["whole", "fg", "c80"],
        "whole,fg,c80,c60": ["whole", "fg", "c80", "c60"],
        "whole,fg,fg_c85,c80": ["whole", "fg", "fg_c85", "c80"],
        "whole,fg,fg_c85,c80,c60": ["whole", "fg", "fg_c85", "c80", "c60"],
        "whole,trim,fg,c80,c60": ["whole", "trim", "fg", "c80", "c60"],
        "all": VIEWS,
    }
    qk = np.array(qkind)
    print("| policy | views | " + " | ".join(kinds) + " | R@1 | R@5 |")
    print("|---|---|" + "---|" * (len(kinds) + 2))
    for label, vs in policies.items():
        idx = [VIEWS.index(v) for v in vs]
        best = scores[:, idx, :].max(axis=1)
        t = best[np.arange(len(truth)), truth]
        rank = (best > t[:, None]).sum(axis=1)
        r1 = rank == 0
        r5 = rank < 5
        per = [f"{r1[qk == k].mean():.2f}" for k in kinds]
        print(f"| {label} | {len(vs)} | " + " | ".join(per) + f" | {r1.mean():.3f} | {r5.mean():.3f} |")


if __name__ == "__main__":
    main()
