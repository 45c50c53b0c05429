#!/usr/bin/env python3
"""Builds the reverse-image-search evaluation set (git-ignored, never committed).

    python3 -m venv /tmp/v
    /tmp/v/bin/pip install pillow numpy scikit-image scikit-learn matplotlib
    /tmp/v/bin/python bench/image/prepare.py [bench/image/data]

Every source image ships inside a PyPI package (nothing is downloaded):
scikit-image `skimage.data`, scikit-learn `load_sample_images()` and matplotlib's
sample data. Each source is scaled so its longer side is at most 800 px and cut into
two halves across its longer side; **both halves are indexed as distinct base
images**, so each is a hard negative for the other (same camera, colours, texture).

Layout written to the output directory:

    index/<base>.png            the originals (lossless)
    query/<edit>/<base>.jpg     one edited copy of every base per edit
    manifest.tsv                edit, base, query path

Edits (deterministic, seed 7): resize (50 %), jpeg30 (JPEG quality 30), crop80
(centre 80 % of each side), hflip, brighten (x1.4), darken (x0.6), gray, rotate10
(10 degrees, black corners, same canvas), noise (Gaussian, sigma 15 levels), caption
(white band, 18 % of the height, with black text, added below), overlay
(semi-transparent text watermark across the middle), combo (crop 80 % + hflip +
resize 60 % + JPEG quality 50). Queries are stored as JPEG quality 90 unless the edit
says otherwise.
"""

import os
import sys

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps
from skimage import data
from sklearn.datasets import load_sample_images

MAX_SIDE = 800
SEED = 7


def sources() -> dict[str, Image.Image]:
    out: dict[str, Image.Image] = {}
    colour = [
        "astronaut", "chelsea", "coffee", "colorwheel", "hubble_deep_field",
        "immunohistochemistry", "logo", "retina", "rocket",
    ]  # fmt: skip
    grey = [
        "brick", "camera", "cell", "clock", "coins", "grass", "gravel", "horse",
        "moon", "page", "text",
    ]  # fmt: skip
    for name in colour + grey:
        a = getattr(data, name)()
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        out[name] = Image.fromarray(a)
    out["motorcycle"] = Image.fromarray(data.stereo_motorcycle()[0])  # left view only
    china, flower = load_sample_images().images
    out["china"] = Image.fromarray(china)
    out["flower"] = Image.fromarray(flower)
    sample = os.path.join(matplotlib.get_data_path(), "sample_data")
    for name, file in [
        ("grace_hopper", "grace_hopper.jpg"),
        ("minduka", "Minduka_Present_Blue_Pack.png"),
        ("mpl_logo", "logo2.png"),
    ]:
        out[name] = Image.open(os.path.join(sample, file))
    for name, img in out.items():
        if img.mode in ("RGBA", "LA", "P"):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        out[name] = img.convert("RGB")
    return out


def halves(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    s = min(1.0, MAX_SIDE / max(w, h))
    if s < 1.0:
        img = img.resize((round(w * s), round(h * s)), Image.LANCZOS)
        w, h = img.size
    if w >= h:
        return [img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))]
    return [img.crop((0, 0, w, h // 2)), img.crop((0, h // 2, w, h))]


def crop80(img: Image.Image) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * 0.1), round(h * 0.1)
    return img.crop((dx, dy, w - dx, h - dy))


def scale(img: Image.Image, f: float) -> Image.Image:
    w, h = img.size
    return img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.LANCZOS)


def caption(img: Image.Image) -> Image.Image:
    w, h = img.size
    band = max(16, round(h * 0.18))
    out = Image.new("RGB", (w, h + band), (255, 255, 255))
    out.paste(img, (0, 0))
    font = ImageFont.load_default(size=max(10, band // 2))
    ImageDraw.Draw(out).text((8, h + band // 4), "FanOne: look at this!", fill=(0, 0, 0), font=font)
    return out


def overlay(img: Image.Image) -> Image.Image:
    w, h = img.size
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    font = ImageFont.load_default(size=max(12, h // 8))
    draw = ImageDraw.Draw(layer)
    draw.text((w // 12, h // 2 - h // 16), "@fanone 2026", fill=(255, 255, 255, 150), font=font)
    draw.rectangle((w - w // 5, h - h // 8, w - 4, h - 4), fill=(255, 40, 40, 170))
    return Image.alpha_composite(base, layer).convert("RGB")


def noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(img, dtype=np.float32)
    a = a + rng.normal(0.0, 15.0, a.shape)
    return Image.fromarray(np.clip(a.round(), 0, 255).astype(np.uint8))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    rng = np.random.default_rng(SEED)
    os.makedirs(os.path.join(out, "index"), exist_ok=True)
    bases: dict[str, Image.Image] = {}
    for name, img in sources().items():
        for suffix, half in zip("ab", halves(img)):
            bases[f"{name}_{suffix}"] = half
    edits = {
        "resize": lambda im: (scale(im, 0.5), 90),
        "jpeg30": lambda im: (im, 30),
        "crop80": lambda im: (crop80(im), 90),
        "hflip": lambda im: (ImageOps.mirror(im), 90),
        "brighten": lambda im: (ImageEnhance.Brightness(im).enhance(1.4), 90),
        "darken": lambda im: (ImageEnhance.Brightness(im).enhance(0.6), 90),
        "gray": lambda im: (im.convert("L"), 90),
        "rotate10": lambda im: (im.rotate(10, resample=Image.BILINEAR, fillcolor=(0, 0, 0)), 90),
        "noise": lambda im: (noise(im, rng), 90),
        "caption": lambda im: (caption(im), 90),
        "overlay": lambda im: (overlay(im), 90),
        "combo": lambda im: (scale(ImageOps.mirror(crop80(im)), 0.6), 50),
    }
    rows = []
    for base, img in sorted(bases.items()):
        img.save(os.path.join(out, "index", f"{base}.png"), optimize=False)
        for edit, fn in edits.items():
            q, quality = fn(img)
            d = os.path.join(out, "query", edit)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, f"{base}.jpg")
            q.save(path, quality=quality)
            rows.append(f"{edit}\t{base}\tquery/{edit}/{base}.jpg")
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("edit\tbase\tquery\n" + "\n".join(rows) + "\n")
    print(f"{len(bases)} base images from {len(bases) // 2} sources, {len(edits)} edits, {len(rows)} queries -> {out}")


if __name__ == "__main__":
    main()
