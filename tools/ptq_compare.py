"""tinyprop's post-training quantization (`tinyprop::quant::quantize`) against TensorFlow's
converter, on the digits MLP and the digits CNN.

    cargo run --example ptq_digits       # writes target/ptq/
    pip install tensorflow-cpu ai-edge-litert safetensors
    python tools/ptq_compare.py [DIR]    # DIR: target/ptq by default

The example writes the trained float weights (the MLP's; the CNN's are
`examples/cortex-m/data/digits_cnn.safetensors`), the calibration rows of `data/digits.csv`
(the training images of the splits of `examples/digits.rs`) and tinyprop's quantization
parameters. This script rebuilds both models in Keras from the same float weights (PyTorch's
layouts converted: convolution kernels `[O, C, KH, KW]` → `[KH, KW, C, O]`, the dense layer
after the flatten with its columns permuted from channels first to channels last), converts them
with `tf.lite.TFLiteConverter` (`optimizations = [DEFAULT]`, the same calibration images as the
representative data set, int8 input and output, int8 built-in operators only), and reports, per
layer, how tinyprop's scales, zero points, int8 weights and int32 biases differ from the
converter's. The report goes to standard output (and to PATH with `--write PATH`).
"""

import os
import sys

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_int8  # noqa: E402  (its helpers: schema, number formats)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def digits():
    """The 1797 images (scaled to 0..1, as the Rust examples read them), row by row."""
    rows = np.loadtxt(os.path.join(ROOT, "data", "digits.csv"), delimiter=",", skiprows=1)
    return rows[:, :64].astype(np.float32) / np.float32(16.0)


def mlp(w):
    k = tf.keras
    m = k.Sequential(
        [k.Input((64,)), k.layers.Dense(32, activation="relu"), k.layers.Dense(10)]
    )
    m.layers[0].set_weights([w["0.weight"].T, w["0.bias"]])
    m.layers[1].set_weights([w["2.weight"].T, w["2.bias"]])
    return m


def cnn(w):
    k = tf.keras
    m = k.Sequential(
        [
            k.Input((8, 8, 1)),
            k.layers.Conv2D(16, 3, padding="same", activation="relu"),
            k.layers.MaxPooling2D(2),
            k.layers.Conv2D(32, 3, padding="same", activation="relu"),
            k.layers.MaxPooling2D(2),
            k.layers.Flatten(),
            k.layers.Dense(10),
        ]
    )
    conv = lambda t: t.transpose(2, 3, 1, 0)  # noqa: E731
    m.layers[0].set_weights([conv(w["0.weight"]), w["0.bias"]])
    m.layers[2].set_weights([conv(w["3.weight"]), w["3.bias"]])
    # Keras flattens H × W × C: its input j = p·32 + c is PyTorch's c·4 + p.
    perm = np.array([c * 4 + p for p in range(4) for c in range(32)])
    m.layers[5].set_weights([w["7.weight"][:, perm].T, w["7.bias"]])
    return m


def convert(model, samples, shape):
    def representative():
        for x in samples:
            yield [x.reshape(1, *shape)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def describe(flat, interp, sch):
    """The blocks of the fully connected and convolution operators of a converted model, in
    the format of `tools/tflite_int8.py` (the parameters compared only); other operators
    (pooling, reshape) are skipped."""
    model = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(flat, 0))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    details = {d["index"]: d for d in interp.get_tensor_details()}
    kinds = {
        sch.BuiltinOperator.FULLY_CONNECTED: "fully_connected",
        sch.BuiltinOperator.CONV_2D: "conv_2d",
    }
    lines = []
    for op in model.subgraphs[0].operators:
        kind = kinds.get(codes[op.opcodeIndex])
        if kind is None:
            continue
        w, b, y = op.inputs[1], op.inputs[2], op.outputs[0]
        wq = details[w]["quantization_parameters"]
        act = op.builtinOptions.fusedActivationFunction
        lines.append(f"op {kind}")
        lines.append(f"activation {tflite_int8.activation_name(sch, act)}")
        lines.append("weight_scales " + " ".join(tflite_int8.f32(s) for s in wq["scales"]))
        lines.append(f"weights {tflite_int8.ints(interp.get_tensor(w))}")
        lines.append(f"bias {tflite_int8.ints(interp.get_tensor(b))}")
        oq = details[y]["quantization"]
        lines.append(f"output_scale {tflite_int8.f32(oq[0])}")
        lines.append(f"output_zero_point {oq[1]}")
        lines.append("end")
    return lines


def parse(lines):
    """(input (scale, zero point), [layer blocks as dicts]) of the fully connected and
    convolution layers of a block listing."""
    head, blocks, cur = {}, [], None
    for line in lines:
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key == "op":
            cur = {"op": rest}
        elif key == "end":
            if cur["op"] in ("fully_connected", "conv_2d"):
                blocks.append(cur)
            cur = None
        elif cur is None:
            head[key] = rest
        else:
            cur[key] = rest
    for b in blocks:
        b["weight_scales"] = np.array(b["weight_scales"].split(), dtype=np.float32)
        b["weights"] = np.array(b["weights"].split(), dtype=np.int64)
        b["bias"] = np.array(b["bias"].split(), dtype=np.int64)
        b["output_scale"] = np.float32(b["output_scale"])
        b["output_zero_point"] = int(b["output_zero_point"])
    return (np.float32(head["input_scale"]), int(head["input_zero_point"])), blocks


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def compare(name, ours_lines, flat):
    sch = tflite_int8.schema()
    interp = Interpreter(model_content=flat, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    theirs_lines = [
        f"input_scale {tflite_int8.f32(inp['quantization'][0])}",
        f"input_zero_point {inp['quantization'][1]}",
    ] + describe(flat, interp, sch)
    (si, zi), ours = parse(ours_lines)
    (ti, tzi), theirs = parse(theirs_lines)
    out = [f"{name}: {len(ours)} layers (fully connected and convolution)"]
    if len(ours) != len(theirs):
        return out + [f"  layer count differs: tinyprop {len(ours)}, converter {len(theirs)}"]
    out.append(
        f"  input: scale {float(si)!r} vs {float(ti)!r} (relative difference {rel(si, ti):.3g}), "
        f"zero point {zi} vs {tzi}"
    )
    totals = dict(scales=0.0, zp=0 if zi == tzi else 1, w=0, nw=0, b=0, nb=0, maxb=0)
    totals["scales"] = rel(si, ti)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        ws = rel(a["weight_scales"], b["weight_scales"])
        os_ = rel(a["output_scale"], b["output_scale"])
        dw = int(np.sum(a["weights"] != b["weights"]))
        db = int(np.sum(a["bias"] != b["bias"]))
        maxb = int(np.max(np.abs(a["bias"] - b["bias"])))
        zp = a["output_zero_point"] == b["output_zero_point"]
        out.append(
            f"  layer {i} ({a['op']}): weight scales max relative difference {ws:.3g}; "
            f"weights differing {dw}/{a['weights'].size} "
            f"(max |difference| {int(np.max(np.abs(a['weights'] - b['weights'])))}); "
            f"biases differing {db}/{a['bias'].size} (max |difference| {maxb}); "
            f"output scale {float(a['output_scale'])!r} vs {float(b['output_scale'])!r} "
            f"(relative difference {os_:.3g}); output zero point "
            f"{a['output_zero_point']} vs {b['output_zero_point']}"
        )
        totals["scales"] = max(totals["scales"], ws, os_)
        totals["zp"] += 0 if zp else 1
        totals["w"] += dw
        totals["nw"] += a["weights"].size
        totals["b"] += db
        totals["nb"] += a["bias"].size
        totals["maxb"] = max(totals["maxb"], maxb)
    out.append(
        f"  total: max relative scale difference {totals['scales']:.3g}; "
        f"zero points differing {totals['zp']}; weights differing {totals['w']}/{totals['nw']}; "
        f"biases differing {totals['b']}/{totals['nb']} (max |difference| {totals['maxb']})"
    )
    return out


def run_outputs(name, flat, images, shape, ours_path):
    """tinyprop's int8 outputs against the LiteRT interpreter's on the same converted model,
    every image quantized with the converter's input quantization, with its reference kernels
    and with its optimized built-in kernels (no delegate). tinyprop's `QDense` rescales with
    TFLite's fixed-point multiplier by default, where LiteRT's reference fully connected
    kernel rounds a double-precision product (`Float64Rounding`), and the optimized kernels of
    this build differ from both on some outputs; the model's scales may also differ by one
    float32 ulp (above)."""
    lines = []
    for label, kind in [
        ("reference kernels", OpResolverType.BUILTIN_REF),
        ("optimized kernels", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
    ]:
        lines += run_one(name, label, kind, flat, images, shape, ours_path)
    return lines


def run_one(name, label, kind, flat, images, shape, ours_path):
    interp = Interpreter(model_content=flat, experimental_op_resolver_type=kind)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    ys = []
    for x in images:
        # TFLite's QUANTIZE: round(x / scale) (float32, halves away from zero) + zero point.
        q = np.floor(np.abs(x / np.float32(scale)) + 0.5) * np.sign(x) + zero
        q = np.clip(q, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], q.reshape(1, *shape))
        interp.invoke()
        ys.append(interp.get_tensor(out["index"]).reshape(-1).astype(np.int64))
    theirs = np.stack(ys)
    ours = np.loadtxt(ours_path, dtype=np.int64).reshape(theirs.shape)
    differ = int(np.sum(ours != theirs))
    agree = int(np.sum(np.argmax(ours, axis=1) == np.argmax(theirs, axis=1)))
    return [
        f"  {name}: int8 outputs on all {len(images)} images vs LiteRT's ({label}) on the "
        "converter's model: "
        f"{differ}/{theirs.size} differ (max |difference| {int(np.max(np.abs(ours - theirs)))}); "
        f"predictions agree on {agree}/{len(images)}"
    ]


def main():
    args = sys.argv[1:]
    write = None
    if "--write" in args:
        i = args.index("--write")
        write = args[i + 1]
        del args[i : i + 2]
    d = args[0] if args else os.path.join(ROOT, "target", "ptq")
    images = digits()
    rows = np.array(open(os.path.join(d, "calibration_rows.txt")).read().split(), dtype=np.int64)
    samples = images[rows]
    report = [
        f"tinyprop post-training quantization vs TensorFlow {tf.__version__}'s converter: "
        f"{len(rows)} calibration images (the training images of examples/digits.rs's splits)"
    ]
    tf.keras.utils.set_random_seed(0)
    w = load_file(os.path.join(d, "digits_mlp.safetensors"))
    flat = convert(mlp(w), samples, (64,))
    ours = open(os.path.join(d, "digits_mlp_tinyprop.txt")).read().splitlines()
    report += compare("digits MLP 64-32-10 (trained by the example)", ours, flat)
    report += run_outputs(
        "MLP", flat, images, (64,), os.path.join(d, "digits_mlp_int8_outputs.txt")
    )
    w = load_file(os.path.join(ROOT, "examples", "cortex-m", "data", "digits_cnn.safetensors"))
    flat = convert(cnn(w), samples, (8, 8, 1))
    ours = open(os.path.join(d, "digits_cnn_tinyprop.txt")).read().splitlines()
    report += compare("digits CNN (examples/cortex-m/data/digits_cnn.safetensors)", ours, flat)
    report += run_outputs(
        "CNN", flat, images, (8, 8, 1), os.path.join(d, "digits_cnn_int8_outputs.txt")
    )
    text = "\n".join(report) + "\n"
    print(text, end="")
    if write:
        with open(write, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
