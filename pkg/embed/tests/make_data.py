#!/usr/bin/env python3
"""Regenerates the small test images in pkg/embed/tests/data/ (committed, < 300 KB).

Sources are images bundled inside PyPI packages (no download at run time):
scikit-image `skimage.data` and scikit-learn `load_sample_images()`.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install pillow numpy scikit-image scikit-learn
    /tmp/v/bin/python pkg/embed/tests/make_data.py

Outputs (all deterministic for a given Pillow/libjpeg version):
- index: astronaut.jpg chelsea.jpg coffee.jpg china.jpg flower.jpg hubble.jpg
  (JPEG, 256 px), camera.png (grey PNG, 320 px), coins.gif (GIF), rocket.webp (WebP)
- chelsea_edited.jpg: chelsea resized, cropped to 80 %, mirrored, brightened,
  re-encoded as JPEG q60 -- must find chelsea.jpg at rank 1
- astronaut_exif6.jpg: astronaut stored rotated 90 degrees counter-clockwise with
  EXIF Orientation = 6 ("rotate 90 CW to display"), i.e. upright once oriented
- coffee_alpha.png: coffee with a feathered circular alpha mask (RGBA)
- coffee_alpha_on_white.png: the same composited on white by Pillow (RGB)
- bomb_side.png: a 60-byte PNG whose header declares 50000 x 50000 pixels
- bomb_pixels.png: a PNG declaring 11000 x 11000 (each side allowed, 121 Mpx not)
- bomb.jpg: a 16 x 16 JPEG whose header declares 60000 x 60000

Not written here: `<name>.ort.f32`, onnxruntime's embeddings for the golden test,
written by `bench/image/golden.py --write` (see docs/image-embedding.md).
"""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from skimage import data
from sklearn.datasets import load_sample_images

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SIDE = 256


def fit(img: Image.Image, side: int = SIDE) -> Image.Image:
    """Scale so that the longer side is `side` (aspect ratio kept)."""
    w, h = img.size
    s = side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def save(img: Image.Image, name: str, **kw) -> None:
    img.save(os.path.join(OUT, name), **kw)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_header_only(w: int, h: int) -> bytes:
    """A valid PNG signature + IHDR (8-bit grey) + a tiny IDAT + IEND: a 'bomb'
    whose header declares w x h pixels while the file is a few dozen bytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_declaring(w: int, h: int) -> bytes:
    """A real 16 x 16 JPEG whose frame header (SOF0) is patched to declare w x h."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG", quality=50)
    b = bytearray(buf.getvalue())
    sof = b.index(b"\xff\xc0")
    struct.pack_into(">HH", b, sof + 5, h, w)
    return bytes(b)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    china, flower = (Image.fromarray(a) for a in load_sample_images().images)
    rgb = {
        "astronaut": Image.fromarray(data.astronaut()),
        "chelsea": Image.fromarray(data.chelsea()),
        "coffee": Image.fromarray(data.coffee()),
        "china": china,
        "flower": flower,
        "hubble": Image.fromarray(data.hubble_deep_field()),
    }
    for name, img in rgb.items():
        save(fit(img), f"{name}.jpg", quality=85)
    save(fit(Image.fromarray(data.camera()), 320), "camera.png", optimize=True)
    coins = fit(Image.fromarray(data.coins()), 192).convert("P", palette=Image.ADAPTIVE)
    save(coins, "coins.gif")
    save(fit(Image.fromarray(data.rocket())), "rocket.webp", quality=80)

    # an edited copy of an indexed image
    c = fit(rgb["chelsea"], 200)
    w, h = c.size
    c = c.crop((w // 10, h // 10, w - w // 10, h - h // 10))  # 80 % centre crop
    c = ImageOps.mirror(c)
    c = ImageEnhance.Brightness(c).enhance(1.3)
    save(c, "chelsea_edited.jpg", quality=60)

    # upright = exif_transpose(stored): stored rotated 90 CCW, Orientation 6
    upright = fit(rgb["astronaut"])
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=85, exif=exif.tobytes())
    check = ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue())))
    assert check.size == upright.size
    with open(os.path.join(OUT, "astronaut_exif6.jpg"), "wb") as f:
        f.write(buf.getvalue())

    # RGBA with a feathered circular mask, and Pillow's composite on white
    cof = fit(rgb["coffee"], 160).convert("RGBA")
    w, h = cof.size
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - w / 2, yy - h / 2) / (min(w, h) / 2)
    alpha = np.clip((1.0 - r) * 8.0, 0.0, 1.0) * 255.0
    cof.putalpha(Image.fromarray(alpha.round().astype(np.uint8)))
    save(cof, "coffee_alpha.png", optimize=True)
    white = Image.new("RGBA", cof.size, (255, 255, 255, 255))
    save(Image.alpha_composite(white, cof).convert("RGB"), "coffee_alpha_on_white.png", optimize=True)

    for name, blob in [
        ("bomb_side.png", png_header_only(50000, 50000)),
        ("bomb_pixels.png", png_header_only(11000, 11000)),
        ("bomb.jpg", jpeg_declaring(60000, 60000)),
    ]:
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)

    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} files, {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
