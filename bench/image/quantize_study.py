#!/usr/bin/env python3
"""Offline study: is an int8 EfficientNet-Lite0 fast enough, and close enough, to use?

Quantises models/effnet_lite0_emb.onnx with ONNX Runtime's static quantisation (QDQ,
per-channel int8 weights, uint8 activations) calibrated on half of the scikit-image
sample pictures (whole, centre crop, mirror), then on the other half compares with
the fp32 model: one-thread inference time, the cosine between the two models'
embeddings of the same input, and recall@1 of four edits (crop, mirror, 10 degree
rotation, JPEG 25) when both the stored and the query side use the same model.
Nothing here is used by the service.

    python3 -m venv ~/.cache/fanone/exp-venv
    ~/.cache/fanone/exp-venv/bin/pip install numpy==2.4.6 pillow==13.0.0 \
        onnxruntime==1.23.2 onnx==1.23.2 scikit-image
    ~/.cache/fanone/exp-venv/bin/python bench/image/quantize_study.py [OUT_DIR]

(Dynamic quantisation is not an option: ONNX Runtime's CPU provider has no
ConvInteger kernel for this model.)
"""

import glob
import io
import os
import sys
import time

import numpy as np
import onnxruntime as ort
import skimage
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

MODEL = os.path.join(os.path.dirname(__file__), "../../models/effnet_lite0_emb.onnx")
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def model_input(im):
    im = im.convert("RGB").resize((224, 224), Image.BILINEAR)
    a = (np.asarray(im, dtype=np.float32) / 255.0 - MEAN) / STD
    return a.transpose(2, 0, 1)[None].astype(np.float32)


def edits(im):
    w, h = im.size
    jpeg = io.BytesIO()
    im.convert("RGB").save(jpeg, "JPEG", quality=25)
    return [
        im.crop((w // 10, h // 10, w * 9 // 10, h * 9 // 10)),
        im.transpose(Image.FLIP_LEFT_RIGHT),
        im.rotate(10),
        Image.open(io.BytesIO(jpeg.getvalue())),
    ]


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def main(out):
    os.makedirs(out, exist_ok=True)
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    pictures = [Image.open(p) for p in sorted(glob.glob(folder + "/*.png") + glob.glob(folder + "/*.jpg"))]
    pictures = [p for p in pictures if min(p.size) >= 64]
    calibration, held_out = pictures[::2], pictures[1::2]
    name = session(MODEL).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            inputs = []
            for im in calibration:
                w, h = im.size
                inputs += [model_input(im), model_input(im.crop((w // 8, h // 8, w * 7 // 8, h * 7 // 8))),
                           model_input(im.transpose(Image.FLIP_LEFT_RIGHT))]
            self.it = iter([{name: x} for x in inputs])

        def get_next(self):
            return next(self.it, None)

    pre, int8 = os.path.join(out, "pre.onnx"), os.path.join(out, "effnet_lite0_emb.int8.onnx")
    quant_pre_process(MODEL, pre)
    quantize_static(pre, int8, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    models = {"fp32": session(MODEL), "int8": session(int8)}

    def embed(m, x):
        v = models[m].run(None, {name: x})[0].reshape(-1)
        return v / np.linalg.norm(v)

    x = model_input(held_out[0])
    for m, s in models.items():
        for _ in range(5):
            s.run(None, {name: x})
        t, n = time.perf_counter(), 50
        for _ in range(n):
            s.run(None, {name: x})
        print(f"{m}: {1000 * (time.perf_counter() - t) / n:.2f} ms per inference, one thread")
    stored = {m: np.stack([embed(m, model_input(im)) for im in held_out]) for m in models}
    cosines = list((stored["int8"] * stored["fp32"]).sum(1))
    hits = {m: 0 for m in models}
    total = 0
    for i, im in enumerate(held_out):
        for q in edits(im):
            x = model_input(q)
            v = {m: embed(m, x) for m in models}
            cosines.append(float(v["int8"] @ v["fp32"]))
            for m in models:
                hits[m] += int(np.argmax(stored[m] @ v[m]) == i)
            total += 1
    print(f"cosine int8 vs fp32 (same input): min {min(cosines):.4f}, mean {np.mean(cosines):.4f}")
    print(f"recall@1 on {len(held_out)} stored, {total} queries: "
          + ", ".join(f"{m} {hits[m]}/{total}" for m in models))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/quantize")
