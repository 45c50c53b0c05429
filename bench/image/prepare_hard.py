#!/usr/bin/env python3
"""Builds the *hard* reverse-image-search evaluation set (git-ignored, never committed).

Commands (Debian 12 bookworm, Python 3.11; run from the repository root):

    sudo apt-get update        # once, so that `apt-get download` knows the packages
    python3 -m venv ~/.cache/fanone/tools/eval-venv
    ~/.cache/fanone/tools/eval-venv/bin/pip install pillow==13.0.0 numpy==2.4.6 requests==2.34.2
    ~/.cache/fanone/tools/eval-venv/bin/python bench/image/prepare_hard.py bench/image/hard

The script makes the venv itself when it is run by another interpreter and the venv is
missing (it then re-runs itself inside it). It fetches its images with
`apt-get download` (no root needed, nothing is installed on the system) into
~/.cache/fanone/tools/debs and unpacks them with `dpkg-deb -x` into
~/.cache/fanone/tools/debroot/<package>; both are reused on the next run. Nothing is
downloaded from anywhere else. The package versions actually used are written to
OUT_DIR/sources.tsv (the ones below are bookworm's of 2026-12; a newer point release is
used, with a warning, when the pinned one is gone from the mirror).

Sources (none of them was used to tune the model or the service; the old set,
bench/image/prepare.py, uses scikit-image, scikit-learn and matplotlib samples):

  bases (100: wallpapers, photos and artwork; one file per wallpaper, the largest
  landscape rendition, light variant only; "candidates -> bases" of the 2026-12 build):
    gnome-backgrounds 43.1-1                        8 -> 6   (*-l.webp)
    mate-backgrounds 1.26.0-1                      28 -> 17  (transparent overlays are
                                                              flat on white; colour variants)
    plasma-workspace-wallpapers 4:5.27.5-2         33 -> 30  (contents/images/ only)
    lomiri-wallpapers{,-16.04,-20.04} 20.04.0-2    20 -> 19
    ukui-wallpapers 20.04.3-1.1                    12 -> 12
    sway-backgrounds 1.7-6                          1 -> 1
    desktop-base 12.0.6+nmu1~deb12u1                8 -> 5   (<theme>-theme/grub/grub-16x9.png)
    wesnoth-1.16-data 1:1.16.9-1 story art         18 -> 10  (data/core/images/story/*.jpg,
                                                              tops the wallpapers up to 100)
  Flat pictures and near-duplicates (colour variants of one design: correlation of
  32x32 grey thumbnails > 0.92, mirrored too) are dropped; the first N_BASES
  survivors (wallpapers in a seeded shuffle, then story art) are the bases, the
  remaining 7 become (hard) distractors.

  distractors (1,268: distinct pictures, min side >= 128 px, transparent borders
  trimmed and alpha composited on white, flat ones and near-duplicates dropped):
    stellarium-data 0.22.2-1        150 deep-sky photos (nebulae/default), 200
                                    constellation drawings (skycultures/*), 51 random
                                    non-overlapping crops of the landscape panoramas
    tuxpaint-stamps-default 2022.06.04-1   286 object photos and drawings (stamps)
    openclipart-png 1:0.18+dfsg-19  260 clip art of pictorial categories (no icons,
                                    signs, flags, arrows, gradients, buttons)
    wesnoth-1.16-data 1:1.16.9-1    200 painted portraits and scenery, and the 7
                                    story paintings not needed as bases
    hedgewars-data 1.0.2-6          70 theme art (skies, horizons, props)
    supertux-data 0.6.3-2           44 background paintings
  Images of the same pools that are neither bases nor distractors (never indexed)
  serve as the "other thumbnails" of the screenshot edit.

  fonts: fonts-noto-color-emoji 2.042-0+deb12u1 (emoji stickers), fonts-dejavu-core
  2.37-6 (DejaVuSans-Bold: captions), fonts-lato 2.0-2.1 (UI text).

Edit kinds (one query per base per kind; parameters drawn from a generator seeded by
SEED and the base's name, so each query is reproducible on its own):

  crop80      a random 80 % x 80 % window                          JPEG q90
  resize50    50 % of each side (Lanczos)                          JPEG q90
  jpeg25      JPEG quality 25
  hflip       mirrored                                             JPEG q90
  rotate15    +-15 degrees, same canvas, black corners             JPEG q90
  bright      brightness x1.5 or x0.6                              JPEG q90
  grey        greyscale                                            JPEG q90
  screenshot  the picture inside a synthetic UI page (1280x800 .. 1920x1080; window
              title bar, address bar, side bar with items, text lines, buttons and
              3-6 thumbnails of never-indexed images), the picture covering 25-60 %
              of the page at a random free position; PNG (2/3) or JPEG q85-92 (1/3)
  phone       a phone photo of a monitor showing the picture: picture fitted on a
              dark viewer background, dark bezel, stand, wall and desk colours,
              screen glare and a pixel grid (aliases into moire), perspective tilt
              (corners +-7 %), rotation +-5 degrees, Gaussian blur, brightness and
              colour cast, sensor noise, JPEG q70-85, 1200-3000 px longer side
  text        meme captions: bold white text with a black outline, 9-14 % of the
              height, top, bottom or both; re-encoded at 600-1000 px, JPEG q88
  emoji       3-6 colour emoji stickers (Noto Color Emoji), 12-28 % of the shorter
              side, rotated +-30 degrees, plus 0-2 drawn badge stickers; JPEG q88
  combo       a random 75 % crop, 50 % resize, JPEG quality 35

Every query file is at most 1,000,000 bytes (MAX_QUERY_BYTES; the service accepts
10 MiB): a larger one is re-encoded as JPEG at a lower quality (not below 60), then
scaled down by 10 % steps.

Layout written to OUT_DIR:

    index/bases/<base>.jpg            the bases (longer side <= 1024 px, JPEG q92)
    index/distractors/<name>.jpg      the distractors (longer side <= 800 px, q90)
    query/<kind>/<base>.jpg|png       the queries
    manifest.tsv                      role, kind, name, path, bytes, width, height,
                                      source (package:path)
    sources.tsv                       package, version of every .deb used (and of
                                      Python, Pillow, numpy)
"""

from __future__ import annotations

import argparse
import functools
import io
import math
import os
import random
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

CACHE = Path.home() / ".cache" / "fanone" / "tools"
VENV = CACHE / "eval-venv"
PIP_PACKAGES = ["pillow==13.0.0", "numpy==2.4.6", "requests==2.34.2"]  # pinned: the bytes depend on them


def ensure_venv() -> None:
    """Re-executes this script inside VENV (created when missing)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PIP_PACKAGES], check=True)
    os.execv(str(py), [str(py), *sys.argv])


if __name__ == "__main__":
    try:
        import numpy  # noqa: F401
        from PIL import Image  # noqa: F401
    except ImportError:
        ensure_venv()

import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps  # noqa: E402

Image.MAX_IMAGE_PIXELS = None  # packaged artwork, trusted; some panoramas are huge

SEED = 20261202
N_BASES = 100
BASE_MAX_SIDE = 1024
DISTRACTOR_MAX_SIDE = 800
MIN_SIDE = 128
MAX_QUERY_BYTES = 1_000_000
NEAR_CORRELATION = 0.92  # grey 32x32 correlation above which two pictures are one

PACKAGES = {
    "gnome-backgrounds": "43.1-1",
    "mate-backgrounds": "1.26.0-1",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "lomiri-wallpapers": "20.04.0-2",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
    "ukui-wallpapers": "20.04.3-1.1",
    "sway-backgrounds": "1.7-6",
    "desktop-base": "12.0.6+nmu1~deb12u1",
    "stellarium-data": "0.22.2-1",
    "tuxpaint-stamps-default": "2022.06.04-1",
    "openclipart-png": "1:0.18+dfsg-19",
    "wesnoth-1.16-data": "1:1.16.9-1",
    "hedgewars-data": "1.0.2-6",
    "supertux-data": "0.6.3-2",
    "fonts-noto-color-emoji": "2.042-0+deb12u1",
    "fonts-dejavu-core": "2.37-6",
    "fonts-lato": "2.0-2.1",
}

# Distractor pools: (label, package, path glob(s) under the package root, quota).
# Quotas add up to more than 1,000 so that the near-duplicate filter can drop some.
DISTRACTOR_POOLS = [
    ("nebula", "stellarium-data", ["usr/share/stellarium/nebulae/default/*.png"], 150),
    ("sky", "stellarium-data", ["usr/share/stellarium/skycultures/*/*.png",
                                "usr/share/stellarium/skycultures/*/*/*.png"], 200),
    ("stamp", "tuxpaint-stamps-default", ["usr/share/tuxpaint/stamps/**/*.png"], 300),
    ("clip", "openclipart-png", ["usr/share/openclipart/png/**/*.png"], 260),
    ("wesnoth", "wesnoth-1.16-data", ["usr/share/games/wesnoth/1.16/data/core/images/portraits/**/*.png",
                                      "usr/share/games/wesnoth/1.16/data/core/images/scenery/*.png"], 200),
    ("hedge", "hedgewars-data", ["usr/share/games/hedgewars/Data/Themes/*/*.png",
                                 "usr/share/games/hedgewars/Data/Graphics/Missions/**/*.png"], 70),
    ("tux", "supertux-data", ["usr/share/games/supertux2/images/background/**/*.png",
                              "usr/share/games/supertux2/images/background/**/*.jpg"], 50),
]  # fmt: skip
# Random non-overlapping crops of large photos that are not bases.
CROP_POOLS = [
    ("land", "stellarium-data", ["usr/share/stellarium/landscapes/*/*.png",
                                 "usr/share/stellarium/landscapes/*/*.jpg"], 60),
]  # fmt: skip
# Path parts of openclipart (and others) that hold icons, symbols and other poor
# distractors (flat, tiny, or many near-identical variants).
SKIP_PARTS = {
    "icons", "signs_and_symbols", "special", "shapes", "computer", "flags", "roadsigns",
    "aiga-symbols", "buttons", "arrows", "gradients", "map_symbols", "alphabets",
    "asl", "money", "borders", "frames", "patterns", "fonts", "lines", "decorations",
}  # fmt: skip
N_THUMBS = 120  # never-indexed images for the screenshot thumbnails

CAPTIONS = [
    "WHEN THE CODE COMPILES", "ON THE FIRST TRY", "NOBODY:", "ME AT 3 AM",
    "ONE DOES NOT SIMPLY", "UPLOAD AN AVATAR", "THIS IS FINE", "SUCH WOW",
    "MUCH SEARCH", "MONDAY MORNING", "EXPECTATION", "REALITY", "BRB",
    "IT WORKS ON MY MACHINE", "TOP 10 WALLPAPERS", "NOT AGAIN", "SEND HELP",
    "FRIDAY DEPLOY", "WAIT FOR IT", "LOOK AT THIS VIEW",
]  # fmt: skip
EMOJI = "😂😍🔥👍💯🎉😎🤔❤⭐🐱🍕🚀🌈😱👀🥳🙈✨🤣"
WORDS = (
    "video feed like comment share follow popular search upload channel watch later "
    "playlist settings profile home trending music games news live sports learning "
    "fashion beauty cooking travel views ago subscribe notifications history library"
).split()


# ----------------------------------------------------------------------------- sources


@dataclass
class Source:
    """One picture of a package: `crop` cuts a window out of a large image."""

    name: str
    package: str
    path: Path
    root: Path
    crop: tuple[int, int, int, int] | None = None

    @property
    def ref(self) -> str:
        rel = self.path.relative_to(self.root)
        return f"{self.package}:{rel}" + (f"#crop={','.join(map(str, self.crop))}" if self.crop else "")


def fetch_package(package: str, version: str) -> tuple[Path, str]:
    """Downloads (once) and unpacks (once) one .deb; returns its root and version."""
    debs, roots = CACHE / "debs", CACHE / "debroot"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        r = subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=debs)
        if r.returncode != 0:
            print(f"warning: {package}={version} is gone, taking the current one", file=sys.stderr)
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    deb = found[-1]
    got = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    root = roots / package
    marker = root / ".unpacked"
    if not marker.exists() or marker.read_text() != deb.name:
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        marker.write_text(deb.name)
    return root, got.stdout.strip()


def fetch_all() -> tuple[dict[str, Path], dict[str, str]]:
    roots, versions = {}, {}
    for package, version in PACKAGES.items():
        roots[package], versions[package] = fetch_package(package, version)
    return roots, versions


def files(root: Path, patterns: list[str]) -> list[Path]:
    out: set[Path] = set()
    for pattern in patterns:
        out.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(out)


def slug(text: str) -> str:
    s = "".join(c if c.isalnum() else "_" for c in text.lower())
    return "_".join(filter(None, s.split("_")))[:48]


def story_candidates(roots: dict[str, Path]) -> list[Source]:
    """Wesnoth's painted story art: tops the bases up to N_BASES."""
    r = roots["wesnoth-1.16-data"]
    story = "usr/share/games/wesnoth/1.16/data/core/images/story/*.jpg"
    return [Source(f"wesnoth_{slug(p.stem)}", "wesnoth-1.16-data", p, r) for p in files(r, [story])]


def base_candidates(roots: dict[str, Path]) -> list[Source]:
    """Every wallpaper once: the largest landscape rendition of its light variant."""
    out: list[Source] = []

    def add(package: str, path: Path, name: str) -> None:
        out.append(Source(f"{slug(package.split('-')[0])}_{slug(name)}", package, path, roots[package]))

    r = roots["gnome-backgrounds"]
    for p in files(r, ["usr/share/backgrounds/gnome/*-l.webp"]):
        add("gnome-backgrounds", p, p.stem[:-2])
    r = roots["mate-backgrounds"]
    for p in files(r, ["usr/share/backgrounds/mate/*/*.jpg", "usr/share/backgrounds/mate/*/*.png"]):
        if "Elephants_" not in p.name:  # the same picture at other sizes
            add("mate-backgrounds", p, p.stem)
    r = roots["plasma-workspace-wallpapers"]
    for d in sorted((r / "usr/share/wallpapers").iterdir()):
        imgs = files(d, ["contents/images/*.png", "contents/images/*.jpg"])
        landscape = [p for p in imgs if _wh(p.stem)[0] >= _wh(p.stem)[1]]
        if landscape:
            add("plasma-workspace-wallpapers", max(landscape, key=lambda p: _wh(p.stem)[0]), d.name)
    for package in ["lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "ukui-wallpapers"]:
        for p in files(roots[package], ["usr/share/backgrounds/*.jpg", "usr/share/backgrounds/*.png"]):
            add(package, p, p.stem.split("_by_")[0])
    r = roots["sway-backgrounds"]
    add("sway-backgrounds", r / "usr/share/backgrounds/sway/Sway_Wallpaper_Blue_1920x1080.png", "blue")
    r = roots["desktop-base"]
    for p in files(r, ["usr/share/desktop-base/*-theme/grub/grub-16x9.png"]):
        add("desktop-base", p, p.parent.parent.name.removesuffix("-theme"))
    return out


def _wh(stem: str) -> tuple[int, int]:
    try:
        w, h = stem.split("x")
        return int(w), int(h)
    except ValueError:
        return 0, 0


def pool_candidates(roots: dict[str, Path], pools: list) -> dict[str, list[Source]]:
    out: dict[str, list[Source]] = {}
    for label, package, patterns, _ in pools:
        root = roots[package]
        srcs = []
        for p in files(root, patterns):
            parts = set(p.relative_to(root).parts)
            if parts & SKIP_PARTS or "icon" in p.stem.lower():
                continue
            srcs.append(Source(f"{label}_{slug(p.stem)}", package, p, root))
        out[label] = srcs
    return out


def crop_candidates(src: Source, rng: random.Random, per_image: int = 3) -> list[Source]:
    """Non-overlapping windows (a grid of cells) of one large picture."""
    with Image.open(src.path) as im:
        w, h = im.size
    cols = max(1, min(6, round(w / max(h, 1) * 2)))
    rows = 2
    cw, ch = w // cols, h // rows
    if min(cw, ch) < 2 * MIN_SIDE:
        return []
    cells = [(c, r) for c in range(cols) for r in range(rows)]
    rng.shuffle(cells)
    out = []
    for c, r in cells[:per_image]:
        fw, fh = rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0)
        x0 = c * cw + int(rng.uniform(0, 1 - fw) * cw)
        y0 = r * ch + int(rng.uniform(0, 1 - fh) * ch)
        box = (x0, y0, x0 + int(cw * fw), y0 + int(ch * fh))
        out.append(Source(f"{src.name}_c{c}{r}", src.package, src.path, src.root, box))
    return out


# ------------------------------------------------------------------------ image basics


def flatten(img: Image.Image, trim: bool) -> Image.Image:
    """RGB on white; with `trim`, transparent borders are cut off first."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        if trim:
            box = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
            if box:
                rgba = rgba.crop(box)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def fit(img: Image.Image, max_side: int) -> Image.Image:
    w, h = img.size
    s = max_side / max(w, h)
    if s >= 1:
        return img
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


@functools.lru_cache(maxsize=1)
def panorama(path: Path) -> Image.Image:
    """The whole decoded picture that consecutive crops are cut from."""
    with Image.open(path) as im:
        return flatten(im, trim=False)


def load(src: Source, max_side: int) -> Image.Image:
    if src.crop:
        return fit(panorama(src.path).crop(src.crop), max_side)
    with Image.open(src.path) as im:
        if im.format == "JPEG":
            im.draft("RGB", (max_side * 2, max_side * 2))
        return fit(flatten(im, trim=True), max_side)


def signature(img: Image.Image) -> np.ndarray:
    """A 32x32 grey thumbnail, zero mean, unit length: the dot product of two is
    their correlation (colour variants of one design correlate ~0.99)."""
    g = np.asarray(img.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float32).ravel()
    g -= g.mean()
    return g / (np.linalg.norm(g) + 1e-6)


def is_flat(img: Image.Image) -> bool:
    """Nearly one colour (blank sky, an overlay meant for a coloured desktop)."""
    g = np.asarray(img.convert("L").resize((64, 64)), dtype=np.float32)
    return float(g.std()) < 12.0 or float((np.abs(g - np.median(g)) > 12).mean()) < 0.05


class NearDuplicates:
    """Signatures (and mirrored ones) of everything accepted so far."""

    def __init__(self) -> None:
        self.sigs = np.zeros((0, 1024), dtype=np.float32)

    def near(self, img: Image.Image) -> bool:
        return bool(len(self.sigs)) and float((self.sigs @ signature(img)).max()) > NEAR_CORRELATION

    def add(self, img: Image.Image) -> None:
        new = np.stack([signature(img), signature(ImageOps.mirror(img))])
        self.sigs = np.concatenate([self.sigs, new])


def accept(src: Source, max_side: int, seen: NearDuplicates) -> Image.Image | None:
    try:
        with Image.open(src.path) as im:
            w, h = im.size
        if src.crop is None and min(w, h) < MIN_SIDE:
            return None
        img = load(src, max_side)
    except (OSError, ValueError) as e:
        print(f"skip {src.ref}: {e}", file=sys.stderr)
        return None
    if min(img.size) < MIN_SIDE or is_flat(img) or seen.near(img):
        return None
    seen.add(img)
    return img


# --------------------------------------------------------------------------- selection


def select_bases(roots, rng: random.Random, seen: NearDuplicates, n: int):
    """(bases, spare pictures) as lists of (Source, image): wallpapers first, then
    story art; whatever is not needed becomes a distractor."""
    kept = []
    for cands in (base_candidates(roots), story_candidates(roots)):
        rng.shuffle(cands)
        for src in cands:
            img = accept(src, BASE_MAX_SIDE, seen)
            if img is not None:
                kept.append((src, img))
    return kept[:n], [(s, fit(i, DISTRACTOR_MAX_SIDE)) for s, i in kept[n:]]


def select_pool(srcs: list[Source], quota: int, rng: random.Random, seen: NearDuplicates, shuffle=True):
    """(up to `quota` accepted pictures, the sources never tried)."""
    srcs = list(srcs)
    if shuffle:
        rng.shuffle(srcs)
    out, tried = [], 0
    for src in srcs:
        if len(out) >= quota:
            break
        tried += 1
        img = accept(src, DISTRACTOR_MAX_SIDE, seen)
        if img is not None:
            out.append((src, img))
    return out, srcs[tried:]


def select_distractors(roots, rng: random.Random, seen: NearDuplicates):
    """(distractors, thumbnail pool) — the thumbnails are never indexed."""
    chosen, untried = [], []
    for (label, _, _, quota), srcs in zip(
        DISTRACTOR_POOLS, pool_candidates(roots, DISTRACTOR_POOLS).values(), strict=True
    ):
        got, rest = select_pool(srcs, quota, rng, seen)
        print(f"  {label:8} {len(got):4} of {len(srcs)} candidates", file=sys.stderr)
        chosen += got
        untried += rest[:60]
    for (label, _, _, quota), srcs in zip(CROP_POOLS, pool_candidates(roots, CROP_POOLS).values(), strict=True):
        rng.shuffle(srcs)
        crops = [c for s in srcs for c in crop_candidates(s, rng)]  # one panorama's together
        got, _ = select_pool(crops, quota, rng, seen, shuffle=False)
        print(f"  {label:8} {len(got):4} crops of {len(srcs)} panoramas", file=sys.stderr)
        chosen += got
    rng.shuffle(untried)
    thumbs = []
    for src in untried:
        if len(thumbs) >= N_THUMBS:
            break
        img = accept(src, 320, seen)
        if img is not None:
            thumbs.append(img)
    return chosen, thumbs


# ------------------------------------------------------------------------------- fonts


class Fonts:
    def __init__(self, roots: dict[str, Path]) -> None:
        lato = roots["fonts-lato"] / "usr/share/fonts/truetype/lato"
        self.bold = str(roots["fonts-dejavu-core"] / "usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
        self.ui = str(lato / "Lato-Regular.ttf")
        self.ui_bold = str(lato / "Lato-Bold.ttf")
        self.emoji = str(roots["fonts-noto-color-emoji"] / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
        self._cache: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}
        self._emoji: dict[str, Image.Image] = {}

    def get(self, path: str, size: int) -> ImageFont.FreeTypeFont:
        key = (path, size)
        if key not in self._cache:
            self._cache[key] = ImageFont.truetype(path, size)
        return self._cache[key]

    def emoji_glyph(self, ch: str) -> Image.Image:
        """The colour bitmap of one emoji (Noto Color Emoji is a 109 px CBDT font)."""
        if ch not in self._emoji:
            font = self.get(self.emoji, 109)
            canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
            ImageDraw.Draw(canvas).text((8, 8), ch, font=font, embedded_color=True)
            self._emoji[ch] = canvas.crop(canvas.getbbox() or (0, 0, 160, 160))
        return self._emoji[ch]


# ------------------------------------------------------------------------------- edits
# Each edit takes (image, rng, context) and returns (image, format, quality).


def scale(img: Image.Image, f: float) -> Image.Image:
    w, h = img.size
    return img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.LANCZOS)


def random_crop(img: Image.Image, frac: float, rng: random.Random) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * frac), round(h * frac)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x, y, x + cw, y + ch))


def edit_crop80(img, rng, ctx):
    return random_crop(img, 0.8, rng), "JPEG", 90


def edit_resize50(img, rng, ctx):
    return scale(img, 0.5), "JPEG", 90


def edit_jpeg25(img, rng, ctx):
    return img, "JPEG", 25


def edit_hflip(img, rng, ctx):
    return ImageOps.mirror(img), "JPEG", 90


def edit_rotate15(img, rng, ctx):
    angle = rng.choice([-15, 15])
    return img.rotate(angle, resample=Image.BICUBIC, fillcolor=(0, 0, 0)), "JPEG", 90


def edit_bright(img, rng, ctx):
    return ImageEnhance.Brightness(img).enhance(rng.choice([1.5, 0.6])), "JPEG", 90


def edit_grey(img, rng, ctx):
    return img.convert("L"), "JPEG", 90


def edit_combo(img, rng, ctx):
    return scale(random_crop(img, 0.75, rng), 0.5), "JPEG", 35


def wrap(draw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line] if line else lines


def meme_block(draw, text, fonts: Fonts, w: int, h: int, size: int, top: bool) -> None:
    """Big white text with a black outline, shrunk until it fits in two lines."""
    while True:
        font = fonts.get(fonts.bold, size)
        lines = wrap(draw, text, font, int(w * 0.94))
        if len(lines) <= 2 and all(draw.textlength(li, font=font) <= w * 0.94 for li in lines) or size < 12:
            break
        size = int(size * 0.9)
    stroke = max(2, size // 12)
    line_h = int(size * 1.15)
    y = int(h * 0.03) if top else h - int(h * 0.03) - line_h * len(lines)
    for li in lines:
        x = (w - draw.textlength(li, font=font)) / 2
        draw.text((x, y), li, font=font, fill="white", stroke_width=stroke, stroke_fill="black")
        y += line_h


def edit_text(img, rng, ctx):
    img = fit(img, rng.randint(600, 1000)).copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    size = int(h * rng.uniform(0.09, 0.14))
    where = rng.choice(["top", "bottom", "both"])
    if where in ("top", "both"):
        meme_block(draw, rng.choice(CAPTIONS), ctx["fonts"], w, h, size, top=True)
    if where in ("bottom", "both"):
        meme_block(draw, rng.choice(CAPTIONS), ctx["fonts"], w, h, size, top=False)
    return img, "JPEG", 88


def badge(rng: random.Random, fonts: Fonts, size: int) -> Image.Image:
    """A drawn sticker: a coloured disc or star with a white border and a word."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    colour = tuple(rng.randint(40, 255) for _ in range(3))
    b = max(2, size // 14)
    if rng.random() < 0.5:
        d.ellipse((0, 0, size - 1, size - 1), fill="white")
        d.ellipse((b, b, size - 1 - b, size - 1 - b), fill=colour)
    else:
        c, pts = size / 2, []
        for i in range(10):
            r = (size / 2 - 1) * (1.0 if i % 2 == 0 else 0.5)
            a = math.pi / 5 * i - math.pi / 2
            pts.append((c + r * math.cos(a), c + r * math.sin(a)))
        d.polygon(pts, fill=colour, outline="white", width=b)
    word = rng.choice(["LOL", "NEW", "WOW", "HOT", "OMG", "10/10"])
    font = fonts.get(fonts.bold, max(8, size // 5))
    tw = d.textlength(word, font=font)
    d.text(((size - tw) / 2, size / 2 - size / 9), word, font=font, fill="white", stroke_width=1, stroke_fill="black")
    return im


def edit_emoji(img, rng, ctx):
    fonts: Fonts = ctx["fonts"]
    out = img.convert("RGBA")
    w, h = out.size
    stickers = [fonts.emoji_glyph(rng.choice(EMOJI)) for _ in range(rng.randint(3, 6))]
    stickers += [badge(rng, fonts, 160) for _ in range(rng.randint(0, 2))]
    for st in stickers:
        side = int(min(w, h) * rng.uniform(0.12, 0.28))
        st = st.resize((side, max(1, round(side * st.height / st.width))), Image.LANCZOS)
        st = st.rotate(rng.uniform(-30, 30), resample=Image.BICUBIC, expand=True)
        x, y = rng.randint(0, max(0, w - st.width)), rng.randint(0, max(0, h - st.height))
        out.alpha_composite(st, (x, y))
    return out.convert("RGB"), "JPEG", 88


# ---------------------------------------------------------------------------- screenshot


def overlaps(a, b, pad: int = 0) -> bool:
    return not (a[2] + pad <= b[0] or b[2] + pad <= a[0] or a[3] + pad <= b[1] or b[3] + pad <= a[1])


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def ui_palette(rng: random.Random) -> dict:
    if rng.random() < 0.35:
        return dict(bg=(33, 33, 36), chrome=(52, 52, 56), side=(40, 40, 44), text=(225, 225, 225),
                    muted=(150, 150, 155), field=(70, 70, 75), accent=rng.choice([(62, 166, 255), (255, 80, 80), (120, 200, 120)]))  # fmt: skip
    return dict(bg=(255, 255, 255), chrome=(222, 225, 230), side=(246, 247, 249), text=(30, 30, 30),
                muted=(110, 110, 115), field=(240, 241, 243), accent=rng.choice([(26, 115, 232), (204, 0, 0), (0, 150, 136)]))  # fmt: skip


def draw_chrome(d, W, H, pal, fonts, rng) -> int:
    """Title bar and address bar; returns the y where the page starts."""
    tb = rng.randint(28, 38)
    d.rectangle((0, 0, W, tb), fill=pal["chrome"])
    for i, c in enumerate([(255, 95, 86), (255, 189, 46), (39, 201, 63)]):
        d.ellipse((12 + i * 20, tb // 2 - 6, 24 + i * 20, tb // 2 + 6), fill=c)
    d.rounded_rectangle((90, 5, 330, tb), 6, fill=pal["bg"])
    d.text((104, tb // 2 - 8), "FanOne - " + sentence(rng, 2), font=fonts.get(fonts.ui, 13), fill=pal["text"])
    ab = tb + rng.randint(34, 42)
    d.rectangle((0, tb, W, ab), fill=pal["bg"])
    d.rounded_rectangle((120, tb + 6, W - 160, ab - 6), 12, fill=pal["field"])
    d.text((140, tb + 10), "https://fanone.example/video/" + str(rng.randint(10**8, 10**9)),
           font=fonts.get(fonts.ui, 14), fill=pal["muted"])  # fmt: skip
    for i in range(3):
        d.ellipse((20 + i * 30, tb + 10, 38 + i * 30, ab - 10), outline=pal["muted"], width=2)
    d.line((0, ab, W, ab), fill=pal["chrome"], width=1)
    return ab + 1


def draw_sidebar(d, x0, y0, x1, H, pal, fonts, rng) -> None:
    d.rectangle((x0, y0, x1, H), fill=pal["side"])
    font = fonts.get(fonts.ui, 15)
    y = y0 + 16
    while y < H - 40:
        d.rounded_rectangle(
            (x0 + 14, y, x0 + 36, y + 22), 5, fill=pal["accent"] if rng.random() < 0.2 else pal["muted"]
        )
        d.text((x0 + 48, y + 2), sentence(rng, rng.randint(1, 2)), font=font, fill=pal["text"])
        y += rng.choice([36, 40, 44, 70])


def place_picture(img, area, page_area, rng):
    """Scales the picture to cover 25-60 % of the page (as far as `area` allows)."""
    ax0, ay0, ax1, ay1 = area
    w, h = img.size
    target = rng.uniform(0.25, 0.60) * page_area
    s = math.sqrt(target / (w * h))
    s = min(s, (ax1 - ax0 - 24) / w, (ay1 - ay0 - 16) / h)
    pw, ph = max(1, int(w * s)), max(1, int(h * s))
    x = rng.randint(ax0 + 12, max(ax0 + 12, ax1 - 12 - pw))
    y = rng.randint(ay0 + 8, max(ay0 + 8, ay1 - 8 - ph))
    return img.resize((pw, ph), Image.LANCZOS), (x, y, x + pw, y + ph)


def draw_text_lines(d, area, avoid, pal, fonts, rng) -> None:
    ax0, ay0, ax1, ay1 = area
    y = ay0 + rng.randint(10, 30)
    while y < ay1 - 20:
        size = rng.choice([13, 14, 15, 16, 20, 24])
        font = fonts.get(fonts.ui_bold if size >= 20 else fonts.ui, size)
        row = (ax0, y, ax1, y + size + 4)
        x = ax0 + 16
        if overlaps(row, avoid, 6):
            segments = [(ax0 + 16, avoid[0] - 16), (avoid[2] + 16, ax1 - 16)]
        else:
            segments = [(x, ax1 - 16)]
        for sx0, sx1 in segments:
            if sx1 - sx0 > 80:
                text = sentence(rng, 14)
                while text and d.textlength(text, font=font) > sx1 - sx0:
                    text = text.rsplit(" ", 1)[0] if " " in text else ""
                d.text((sx0, y), text, font=font, fill=pal["text"] if size >= 20 else pal["muted"])
        y += int(size * rng.uniform(1.5, 2.6))


def draw_boxes(page, d, area, taken, pal, fonts, rng, thumbs) -> None:
    """Buttons and small thumbnails at free spots."""
    ax0, ay0, ax1, ay1 = area
    items = [("button", None)] * rng.randint(2, 4) + [("thumb", rng.choice(thumbs)) for _ in range(rng.randint(3, 6))]
    for kind, thumb in items:
        for _ in range(60):
            if kind == "button":
                bw, bh = rng.randint(80, 150), rng.randint(30, 40)
            else:
                tw = rng.randint(90, 170)
                bw, bh = tw, max(40, int(tw * thumb.height / thumb.width))
            if ax1 - bw - 8 <= ax0 + 8 or ay1 - bh - 8 <= ay0 + 8:
                break
            x, y = rng.randint(ax0 + 8, ax1 - bw - 8), rng.randint(ay0 + 8, ay1 - bh - 8)
            box = (x, y, x + bw, y + bh)
            if any(overlaps(box, t, 10) for t in taken):
                continue
            d.rectangle((x - 4, y - 4, x + bw + 4, y + bh + 4), fill=pal["bg"])
            if kind == "button":
                d.rounded_rectangle(box, bh // 2, fill=pal["accent"] if rng.random() < 0.5 else pal["field"])
                label = rng.choice(["Like", "Share", "Follow", "Download", "Subscribe", "Save"])
                font = fonts.get(fonts.ui_bold, 15)
                d.text(
                    (x + (bw - d.textlength(label, font=font)) / 2, y + bh / 2 - 9), label, font=font, fill=pal["text"]
                )
            else:
                page.paste(thumb.resize((bw, bh), Image.LANCZOS), (x, y))
            taken.append(box)
            break


def edit_screenshot(img, rng, ctx):
    fonts, thumbs = ctx["fonts"], ctx["thumbs"]
    W, H = rng.choice([(1280, 800), (1366, 768), (1440, 900), (1536, 864), (1920, 1080), (1280, 1024)])
    pal = ui_palette(rng)
    page = Image.new("RGB", (W, H), pal["bg"])
    d = ImageDraw.Draw(page)
    top = draw_chrome(d, W, H, pal, fonts, rng)
    side_w = int(W * rng.uniform(0.14, 0.22)) if rng.random() < 0.8 else 0
    left = rng.random() < 0.75
    content = (side_w, top, W, H) if left else (0, top, W - side_w, H)
    pic, box = place_picture(img, content, W * H, rng)
    draw_text_lines(d, content, box, pal, fonts, rng)
    if side_w:
        draw_sidebar(d, 0 if left else W - side_w, top, side_w if left else W, H, pal, fonts, rng)
    draw_boxes(page, d, (0, top, W, H), [box], pal, fonts, rng, thumbs)
    page.paste(pic, box[:2])
    if rng.random() < 2 / 3:
        return page, "PNG", None
    return page, "JPEG", rng.randint(85, 92)


# --------------------------------------------------------------------------------- phone


def perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """PIL PERSPECTIVE data mapping output points `dst` to input points `src`."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return np.linalg.solve(np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)).tolist()


def room(W: int, H: int, desk_y: int, rng: random.Random) -> tuple[Image.Image, tuple[int, int, int]]:
    """A wall (vertical gradient) above a desk; returns the scene and the wall colour."""
    hue = rng.choice([(205, 195, 180), (170, 175, 185), (120, 110, 100), (225, 220, 210), (90, 95, 110)])
    wall = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in hue)
    desk = rng.choice([(110, 80, 55), (60, 60, 62), (170, 150, 120), (30, 30, 32)])
    col = np.empty((H, 1, 3), dtype=np.float32)
    col[:desk_y] = np.array(wall, dtype=np.float32) * np.linspace(1.08, 0.85, desk_y)[:, None, None]
    col[desk_y:] = np.array(desk, dtype=np.float32) * np.linspace(0.9, 1.1, H - desk_y)[:, None, None]
    strip = Image.fromarray(np.clip(col, 0, 255).astype(np.uint8))
    return strip.resize((W, H), Image.NEAREST), wall


def screen_image(img, sw: int, sh: int, rng: random.Random) -> Image.Image:
    """The picture as a monitor shows it: fitted on a dark viewer, glare, pixel grid."""
    screen = Image.new("RGB", (sw, sh), tuple([rng.randint(12, 40)] * 3))
    fill = rng.uniform(0.9, 1.0)
    s = fill * min(sw / img.width, sh / img.height)
    pic = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BICUBIC)
    screen.paste(pic, ((sw - pic.width) // 2, (sh - pic.height) // 2))
    a = np.asarray(screen, dtype=np.float32)
    yy, xx = np.ogrid[0:sh, 0:sw]
    xx, yy = xx.astype(np.float32), yy.astype(np.float32)
    gx, gy = rng.uniform(0.2, 0.8), rng.uniform(0.0, 0.5)
    glare = rng.uniform(0.04, 0.14) * np.exp(-(((xx / sw - gx) ** 2) + ((yy / sh - gy) ** 2)) / 0.08)
    period = rng.uniform(1.15, 1.9)  # near the sampling rate: aliases into moire
    depth = rng.uniform(0.06, 0.16)
    grid = 1 - depth * (0.5 + 0.5 * np.cos(2 * np.pi * xx / period)) * (0.5 + 0.5 * np.cos(2 * np.pi * yy / period))
    a = a * grid[..., None] + 255 * glare[..., None]
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def monitor_scene(img, W: int, H: int, rng: random.Random):
    """A scene of 1.5 W x 1.5 H scene pixels: the monitor (62-85 % of the photo's
    width) near its centre, so the camera's window never leaves the scene."""
    SW, SH = int(W * 1.5), int(H * 1.5)
    sw = int(W * rng.uniform(0.62, 0.85))
    sh = int(sw / rng.choice([16 / 9, 16 / 10]))
    bezel = int(sw * rng.uniform(0.02, 0.045))
    mx = (SW - sw) // 2 + int(W * rng.uniform(-0.04, 0.04))
    my = (SH - sh) // 2 + int(H * rng.uniform(-0.06, 0.02))
    bottom = my + sh + bezel
    desk_y = min(SH - 2, bottom + int(SH * rng.uniform(0.03, 0.12)))
    scene, wall = room(SW, SH, desk_y, rng)
    d = ImageDraw.Draw(scene)
    frame = tuple([rng.randint(10, 40)] * 3)
    neck = sw * rng.uniform(0.04, 0.08)
    cx = mx + sw / 2
    d.polygon([(cx - neck, bottom), (cx + neck, bottom), (cx + 2 * neck, desk_y), (cx - 2 * neck, desk_y)], fill=frame)
    d.rounded_rectangle((mx - bezel, my - bezel, mx + sw + bezel, bottom), max(1, bezel // 2), fill=frame)
    scene.paste(screen_image(img, sw, sh, rng), (mx, my))
    return scene, wall, (mx - bezel, my - bezel, mx + sw + bezel, bottom)


def camera(scene, wall, mon, W: int, H: int, rng: random.Random) -> Image.Image:
    """A W x H photo of the scene around the monitor: perspective tilt (corners
    +-7 %) and rotation (+-5 degrees)."""
    cx, cy = (mon[0] + mon[2]) / 2, (mon[1] + mon[3]) / 2
    half_w, half_h = W / 2, H / 2
    ang = math.radians(rng.uniform(-5, 5))
    quad = []
    for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
        x = sx * half_w * (1 + rng.uniform(-0.07, 0.07))
        y = sy * half_h * (1 + rng.uniform(-0.07, 0.07))
        quad.append((cx + x * math.cos(ang) - y * math.sin(ang), cy + x * math.sin(ang) + y * math.cos(ang)))
    coeffs = perspective_coeffs([(0, 0), (W, 0), (W, H), (0, H)], quad)
    return scene.transform((W, H), Image.PERSPECTIVE, coeffs, Image.BICUBIC, fillcolor=wall)


def sensor(photo: Image.Image, rng: random.Random, long_side: int) -> Image.Image:
    """Blur, exposure and white-balance error, noise."""
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.6) * long_side / 1500))
    a = np.asarray(photo, dtype=np.float32)
    gains = np.array([rng.uniform(0.88, 1.12) for _ in range(3)], dtype=np.float32) * rng.uniform(0.8, 1.15)
    nrng = np.random.default_rng(rng.randint(0, 2**32 - 1))
    a = a * gains + nrng.normal(0.0, rng.uniform(1.5, 4.0), a.shape).astype(np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def edit_phone(img, rng, ctx):
    long_side = rng.randint(1200, 3000)
    W, H = (long_side, long_side * 3 // 4) if rng.random() < 0.8 else (long_side * 3 // 4, long_side)
    scene, wall, mon = monitor_scene(img, W, H, rng)
    photo = camera(scene, wall, mon, W, H, rng)
    return sensor(photo, rng, long_side), "JPEG", rng.randint(70, 85)


EDITS = {
    "crop80": edit_crop80,
    "resize50": edit_resize50,
    "jpeg25": edit_jpeg25,
    "hflip": edit_hflip,
    "rotate15": edit_rotate15,
    "bright": edit_bright,
    "grey": edit_grey,
    "screenshot": edit_screenshot,
    "phone": edit_phone,
    "text": edit_text,
    "emoji": edit_emoji,
    "combo": edit_combo,
}


# ------------------------------------------------------------------------------ output


def encode(img: Image.Image, fmt: str, quality: int | None) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=False, compress_level=6)
    else:
        img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def encode_capped(img: Image.Image, fmt: str, quality: int | None) -> tuple[bytes, str, Image.Image]:
    """Encodes within MAX_QUERY_BYTES: PNG -> JPEG q90, lower quality, then smaller."""
    data = encode(img, fmt, quality)
    if len(data) <= MAX_QUERY_BYTES:
        return data, fmt, img
    fmt, q = "JPEG", min(quality or 90, 90)
    while True:
        data = encode(img, fmt, q)
        if len(data) <= MAX_QUERY_BYTES:
            return data, fmt, img
        if q > 60:
            q = max(60, q - 5)
        else:
            img = scale(img, 0.9)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def item_rng(name: str, kind: str) -> random.Random:
    return random.Random(SEED * 1_000_003 + zlib.crc32(f"{kind}/{name}".encode()))


def make_queries(out: Path, bases, ctx, rows: list) -> None:
    for i, (src, img) in enumerate(bases):
        for kind, fn in EDITS.items():
            q, fmt, quality = fn(img, item_rng(src.name, kind), ctx)
            data, fmt, q = encode_capped(q, fmt, quality)
            rel = f"query/{kind}/{src.name}.{'png' if fmt == 'PNG' else 'jpg'}"
            write(out / rel, data)
            rows.append(("query", kind, src.name, rel, len(data), q.width, q.height, src.ref))
        if (i + 1) % 10 == 0:
            print(f"  queries for {i + 1}/{len(bases)} bases", file=sys.stderr)


def write_index(out: Path, items, folder: str, role: str, quality: int, rows: list) -> None:
    names: set[str] = set()
    for src, img in items:
        name = src.name
        while name in names:
            name += "_"
        names.add(name)
        data = encode(img, "JPEG", quality)
        rel = f"index/{folder}/{name}.jpg"
        write(out / rel, data)
        rows.append((role, "", name, rel, len(data), img.width, img.height, src.ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--bases", type=int, default=N_BASES)
    args = ap.parse_args()
    out: Path = args.out_dir
    if (out / "manifest.tsv").exists():
        sys.exit(f"{out} already holds a set; remove it first")
    roots, versions = fetch_all()
    rng = random.Random(SEED)
    seen = NearDuplicates()
    print("selecting bases", file=sys.stderr)
    bases, spare = select_bases(roots, rng, seen, args.bases)
    print(f"  {len(bases)} bases, {len(spare)} spare wallpapers become distractors", file=sys.stderr)
    print("selecting distractors", file=sys.stderr)
    distractors, thumbs = select_distractors(roots, rng, seen)
    distractors = spare + distractors
    rows: list[tuple] = []
    write_index(out, bases, "bases", "base", 92, rows)
    write_index(out, distractors, "distractors", "distractor", 90, rows)
    ctx = {"fonts": Fonts(roots), "thumbs": thumbs}
    print(f"{len(distractors)} distractors, {len(thumbs)} thumbnails; writing queries", file=sys.stderr)
    make_queries(out, bases, ctx, rows)
    with open(out / "manifest.tsv", "w") as f:
        f.write("role\tkind\tname\tpath\tbytes\twidth\theight\tsource\n")
        f.writelines("\t".join(map(str, r)) + "\n" for r in rows)
    with open(out / "sources.tsv", "w") as f:
        f.write("package\tversion\n" + "".join(f"{p}\t{v}\n" for p, v in sorted(versions.items())))
        f.write(f"python\t{sys.version.split()[0]}\npillow (PyPI)\t{PIL.__version__}\nnumpy (PyPI)\t{np.__version__}\n")
    nq = sum(r[0] == "query" for r in rows)
    big = max(r[4] for r in rows if r[0] == "query")
    print(f"{len(bases)} bases, {len(distractors)} distractors, {len(EDITS)} kinds, {nq} queries "
          f"(largest {big} bytes) -> {out}")  # fmt: skip


if __name__ == "__main__":
    main()
