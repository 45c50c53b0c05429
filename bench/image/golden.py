#!/usr/bin/env python3
"""Checks the Rust embedder against onnxruntime on the exact same input tensors.

    FANONE_EMBED_DUMP=/tmp/golden cargo test -p fanone-embed --test embed golden
    python3 bench/image/golden.py /tmp/golden            # compare, print first 8 values
    python3 bench/image/golden.py /tmp/golden --write    # also refresh the reference
                                                         # files in pkg/embed/tests/data/

The Rust test writes, per golden image, `<name>.input.f32` (the preprocessed NCHW
tensor, 1x3x224x224 little-endian f32) and `<name>.embedding.f32` (tract's output,
1280 f32). This script runs models/effnet_lite0_emb.onnx on the same input with
onnxruntime, L2-normalises, and reports the largest difference. With `--write` it
stores onnxruntime's embedding as pkg/embed/tests/data/<name>.ort.f32, which the Rust
test compares against (so the test guards preprocessing and inference together).

For information it also preprocesses the image with Pillow (BILINEAR resize, which
antialiases differently from the image crate's Triangle filter) and reports how far
that input and its embedding are from Rust's.

Needs: pip install onnxruntime numpy pillow
"""

import argparse
import glob
import os

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "effnet_lite0_emb.onnx")
DATA = os.path.join(ROOT, "pkg", "embed", "tests", "data")
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def pil_input(path: str) -> np.ndarray:
    rgba = Image.open(path).convert("RGBA")  # the golden images carry no EXIF
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    rgb = rgb.resize((224, 224), Image.BILINEAR)
    x = (np.asarray(rgb, dtype=np.float32) / 255.0 - MEAN) / STD
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def run(sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    (y,) = sess.run(["embedding"], {"image": x})
    y = y.reshape(-1).astype(np.float32)
    return y / np.linalg.norm(y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dump_dir")
    ap.add_argument("--write", action="store_true", help="refresh tests/data/*.ort.f32")
    args = ap.parse_args()
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    print(f"onnxruntime {ort.__version__}, model {MODEL}")
    inputs = sorted(glob.glob(os.path.join(args.dump_dir, "*.input.f32")))
    if not inputs:
        raise SystemExit(f"no *.input.f32 in {args.dump_dir}")
    for path in inputs:
        name = os.path.basename(path)[: -len(".input.f32")]
        x = np.fromfile(path, dtype="<f4").reshape(1, 3, 224, 224)
        rust = np.fromfile(os.path.join(args.dump_dir, f"{name}.embedding.f32"), dtype="<f4")
        ref = run(sess, x)
        print(f"\n{name}")
        print(f"  onnxruntime first 8: {np.array2string(ref[:8], precision=7, separator=', ')}")
        print(f"  tract       first 8: {np.array2string(rust[:8], precision=7, separator=', ')}")
        print(f"  max |tract - onnxruntime| over {ref.size}: {np.abs(rust - ref).max():.2e}")
        pil = pil_input(os.path.join(DATA, name))
        print(
            f"  Pillow-preprocessed input: max |diff| {np.abs(pil - x).max():.3f}, "
            f"mean {np.abs(pil - x).mean():.4f}; embedding cosine to Rust's "
            f"{float(run(sess, pil) @ rust):.5f}"
        )
        if args.write:
            out = os.path.join(DATA, f"{name}.ort.f32")
            ref.astype("<f4").tofile(out)
            print(f"  wrote {out}")


if __name__ == "__main__":
    main()
