"""Reference outputs of the ONNX teachers from onnxruntime, for crates/facegate-runtime/tests/onnx_parity.rs.

Inputs are either seeded random tensors (mulberry32, regenerated bit-exactly by the Rust test) or
uint8 images stored in the .bin (a centre crop of an LFW photo, nearest-neighbour resized, BGR as
both teachers were trained on), so both sides feed identical numbers. Intermediate tensors are made
graph outputs and read with graph optimisations off, so their names survive.

Usage (from the repo root, after ./build.sh setup):
  target/pyref/bin/python tests/reference/make-onnx-fixtures.py [DATA_DIR]
Writes crates/facegate-runtime/tests/onnx_fixtures/{onnx.json,onnx.bin,unsupported-einsum.onnx}.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
DATA = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FACEGATE_DATA", os.path.join(ROOT, "../shared/data")))
OUT = os.path.join(ROOT, "crates/facegate-runtime/tests/onnx_fixtures")
MAX_SAMPLES = 1024
FACE = os.path.join(DATA, "lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg")

MODELS = {
    "sface": {
        "path": os.environ.get("FACEGATE_SFACE", os.path.join(ROOT, ".teachers/face_recognition_sface_2021dec_int8bq.onnx")),
        "crop": 0.6,  # of the (square) LFW image's side: the face, about as SFace's aligned crops frame it
        # input affine (Sub/Mul), stride-1 dense conv + folded BN + PRelu, depthwise stride-2
        # conv with its BN folded, a late 1x1 conv block, the affine BN after PRelu, Flatten
        # (NCHW order), Gemm.
        "intermediates": ["_mulscalar0", "conv_1_relu", "conv_3_dw_batchnorm", "conv_13_relu", "bn1", "flatten_254", "pre_fc1"],
        "cases": [
            {"name": "random-pixels", "kind": "random", "seed": 1, "lo": 0.0, "hi": 255.0},
            {"name": "random-centred", "kind": "random", "seed": 2, "lo": 100.0, "hi": 155.0},
            {"name": "lfw-face", "kind": "u8"},
        ],
    },
    "minifas": {
        "path": os.path.join(os.environ.get("FACEGATE_DATA", os.path.join(ROOT, "../shared/data")), "../teachers/minifas/minifas_v2_se_98.20.onnx"),
        "crop": 0.9,
        # stride-2 dense conv, stride-2 depthwise + PRelu, squeeze-excitation Mul, the 8x8
        # valid depthwise conv, the flatten Reshape, the rank-2 BatchNormalization.
        "intermediates": [
            "/conv1/conv/Conv_output_0",
            "/conv_23/conv_dw/prelu/PRelu_output_0",
            "/conv_3/model/model.3/se_module/Mul_output_0",
            "/conv_4/model/model.5/Add_output_0",
            "/conv_6_dw/conv/Conv_output_0",
            "/conv_6_flatten/Reshape_output_0",
            "/bn/BatchNormalization_output_0",
        ],
        "cases": [
            {"name": "random-pixels", "kind": "random", "seed": 3, "lo": 0.0, "hi": 255.0},
            {"name": "random-unit", "kind": "random", "seed": 4, "lo": -1.0, "hi": 1.0},
            {"name": "lfw-face", "kind": "u8"},
        ],
    },
}


def mulberry32(seed):
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def nxt():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return (t ^ (t >> 14)) & 0xFFFFFFFF

    return nxt


def random_input(seed, lo, hi, n):
    nxt = mulberry32(seed)
    return np.array([lo + (hi - lo) * (nxt() / 4294967296.0) for _ in range(n)], dtype=np.float32)


def face_u8(side, frac):
    """Centre crop (a fraction of the shorter side), nearest-neighbour resize, BGR, HWC uint8."""
    img = np.asarray(Image.open(FACE).convert("RGB"))
    h, w, _ = img.shape
    crop = int(round(frac * min(h, w)))
    y0, x0 = (h - crop) // 2, (w - crop) // 2
    idx = (np.arange(side) * crop) // side
    patch = img[y0 + idx][:, x0 + idx]
    return np.ascontiguousarray(patch[:, :, ::-1])


class Blob:
    def __init__(self):
        self.parts, self.size = [], 0

    def push(self, b):
        b = bytes(b)
        off = self.size
        self.parts.append(b)
        self.size += len(b)
        pad = (-self.size) % 4
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        return off


def store(blob, name, t):
    flat = np.asarray(t, dtype=np.float32).ravel()
    stride = max(1, -(-flat.size // MAX_SAMPLES))
    sampled = flat[::stride].astype("<f4")
    return {"node": name, "shape": list(t.shape), "stride": stride, "count": int(sampled.size), "offset": blob.push(sampled.tobytes())}


def parameter_count(model):
    """Float values of constants that the computing ops read (dequantised weights count once)."""
    g = model.graph
    numel, is_float = {}, {}
    for t in g.initializer:
        numel[t.name] = int(np.prod(t.dims)) if len(t.dims) else 1
        is_float[t.name] = t.data_type == TensorProto.FLOAT
    for n in g.node:
        if n.op_type == "Constant":
            t = n.attribute[0].t
            numel[n.output[0]] = int(np.prod(t.dims)) if len(t.dims) else 1
            is_float[n.output[0]] = t.data_type == TensorProto.FLOAT
        elif n.op_type in ("DequantizeLinear", "Reshape", "Identity") and n.input[0] in numel:
            numel[n.output[0]] = numel[n.input[0]]
            is_float[n.output[0]] = n.op_type == "DequantizeLinear" or is_float[n.input[0]]
    seen, total = set(), 0
    for n in g.node:
        if n.op_type in ("Conv", "BatchNormalization", "PRelu", "Add", "Sub", "Mul", "Gemm", "MatMul"):
            for i in n.input:
                if i in numel and is_float[i] and i not in seen:
                    seen.add(i)
                    total += numel[i]
    return total


def run_model(key, spec, blob):
    model = onnx.load(spec["path"])
    inits = {t.name for t in model.graph.initializer}
    readers = {i for n in model.graph.node for i in n.input}
    data_inputs = [i for i in model.graph.input if i.name not in inits and i.name in readers]
    assert len(data_inputs) == 1, data_inputs
    inp = data_inputs[0].name
    # SFace declares its pre-quantisation weights as inputs that no node reads; onnxruntime
    # would ask for them, facegate's ONNX runtime ignores them. Dropping them changes no computation.
    unread = [i for i in model.graph.input if i.name not in inits and i.name not in readers]
    for i in unread:
        model.graph.input.remove(i)
    c, h, w = [d.dim_value for d in data_inputs[0].type.tensor_type.shape.dim[1:]]
    finals = [o.name for o in model.graph.output]
    for name in spec["intermediates"]:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = finals + spec["intermediates"]
    cases = []
    for case in spec["cases"]:
        if case["kind"] == "random":
            x = random_input(case["seed"], case["lo"], case["hi"], c * h * w).reshape(1, c, h, w)
            desc = {k: case[k] for k in ("kind", "seed", "lo", "hi")}
        else:
            img = face_u8(h, spec["crop"])
            x = img.astype(np.float32).transpose(2, 0, 1)[None]
            desc = {"kind": "u8", "offset": blob.push(img.tobytes()), "scale": 1.0, "bias": 0.0, "layout": "hwc", "source": os.path.relpath(FACE, DATA)}
        feeds = {inp: x}
        outs = sess.run(names, feeds)
        tensors = [store(blob, n, o) for n, o in zip(names, outs)]
        cases.append({"name": case["name"], "input": desc, "tensors": tensors})
        print(f"{key} {case['name']}: {finals[0]} = {np.asarray(outs[0]).ravel()[:4]}")
    return {"file": os.path.basename(spec["path"]), "input": [c, h, w], "outputs": finals, "parameters": parameter_count(onnx.load(spec["path"])), "cases": cases}


def unsupported_model():
    """A few hundred bytes: Relu then an Einsum, an op facegate's ONNX runtime does not run."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu0"),
        helper.make_node("Einsum", ["r"], ["y"], name="mystery_einsum", equation="nchw->nchw"),
    ]
    graph = helper.make_graph(nodes, "unsupported", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make-onnx-fixtures")
    onnx.checker.check_model(model)
    return model


def main():
    ort.set_default_logger_severity(3)  # SFace lists its initializers as inputs: one warning each
    os.makedirs(OUT, exist_ok=True)
    blob = Blob()
    index = {"generator": "tests/reference/make-onnx-fixtures.py", "onnxruntime": ort.__version__, "onnx": onnx.__version__, "max_samples": MAX_SAMPLES, "models": {}}
    for key, spec in MODELS.items():
        index["models"][key] = run_model(key, spec, blob)
    with open(os.path.join(OUT, "onnx.bin"), "wb") as f:
        for p in blob.parts:
            f.write(p)
    with open(os.path.join(OUT, "onnx.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    onnx.save(unsupported_model(), os.path.join(OUT, "unsupported-einsum.onnx"))
    print(f"onnx.bin {blob.size} bytes")


if __name__ == "__main__":
    main()
