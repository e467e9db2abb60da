"""Test data for tinyprop's int8 layers (`tinyprop::quant`): small Keras models converted by
TensorFlow's converter to full-integer int8 `.tflite` files and run in the LiteRT interpreter with
its *reference* kernels (the optimized kernels may differ by one unit in the last place).

    pip install tensorflow-cpu ai-edge-litert
    python tools/tflite_int8.py          # writes tests/data/tflite/
    python tools/tflite_int8.py NAME...  # only these models

For each model NAME it writes, under tests/data/tflite/:

* `NAME.tflite`: the converted model (int8 input and output, int8 weights, int32 biases).
* `NAME.txt`: what the Rust tests need, one item per line, `#` starts a comment line:

      model NAME
      vectors N              # number of input vectors
      seed S                 # the inputs' generator (below)
      input_scale F
      input_zero_point Z
      op KIND                # one block per operator, in execution order; KIND is
                             # fully_connected, conv_2d, depthwise_conv_2d, max_pool_2d or
                             # average_pool_2d (pooling: no weight lines, and a filter line)
      activation A           # the fused activation: none, relu or relu6
      input_shape D...       # without the batch dimension (NHWC: H W C)
      output_shape D...
      weight_shape D...      # TFLite's: FC [O, I]; conv [O, KH, KW, C]; depthwise [1, KH, KW, C·M]
      stride SH SW           # convolutions only
      padding PH PW          # convolutions only: the top and left zero padding TFLite uses
      depth_multiplier M     # depthwise only
      filter FH FW           # pooling only
      weight_scales F...     # one per output channel, or one for the whole tensor
      weight_zero_points Z...
      weights Q...           # int8, row-major in weight_shape
      bias Q...              # int32
      output_scale F
      output_zero_point Z
      end
      x0 Q...                # the first input vector, to check the generator
      y0 Q...                # its expected output

  Scales are float32 values written as the shortest decimal that reads back to the same float32.
* `NAME.out`: the expected int8 outputs of all N vectors, raw bytes (two's complement), vector
  after vector, each in TFLite's layout (NHWC for feature maps).

The input vectors are not stored: vector after vector, element after element, each input is the
top byte of the next output of SplitMix64 (seeded with `seed`) as a two's-complement int8, so
they cover the whole int8 range. The tests regenerate them.
"""

import importlib.util
import os
import sys

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import ai_edge_litert

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "tflite")
VECTORS = 1000
MASK = (1 << 64) - 1


def splitmix64(seed):
    """Yields SplitMix64's outputs (Steele, Lea and Flood 2014)."""
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def int8_inputs(seed, n, width):
    gen = splitmix64(seed)
    top = np.array([next(gen) >> 56 for _ in range(n * width)], dtype=np.uint8)
    return top.view(np.int8).reshape(n, width)


def schema():
    path = os.path.join(os.path.dirname(tf.__file__), "lite", "python", "schema_py_generated.py")
    spec = importlib.util.spec_from_file_location("tflite_schema", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def models():
    """The Keras models: (name, model, input shape without batch)."""
    k = tf.keras
    init = dict(bias_initializer=k.initializers.RandomNormal(stddev=0.3))
    out = []
    tf.keras.utils.set_random_seed(15)
    m = k.Sequential([k.Input((16,)), k.layers.Dense(8, activation="relu", **init)])
    out.append(("fc_16_8_relu", m, (16,)))
    tf.keras.utils.set_random_seed(16)
    m = k.Sequential(
        [k.Input((8, 8, 2)), k.layers.Conv2D(4, 3, padding="same", activation="relu", **init)]
    )
    out.append(("conv_8x8x2_4_relu", m, (8, 8, 2)))
    tf.keras.utils.set_random_seed(17)
    m = k.Sequential(
        [
            k.Input((6, 6, 2)),
            k.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu6", **init),
        ]
    )
    out.append(("dwconv_6x6x2_m2_relu6", m, (6, 6, 2)))
    tf.keras.utils.set_random_seed(18)
    m = k.Sequential(
        [
            k.Input((9, 9, 3)),
            k.layers.Conv2D(2, 3, strides=2, padding="valid", activation=None, **init),
        ]
    )
    out.append(("conv_9x9x3_2_s2_valid", m, (9, 9, 3)))
    tf.keras.utils.set_random_seed(19)
    m = k.Sequential(
        [
            k.Input((64,)),
            k.layers.Dense(32, activation="relu", **init),
            k.layers.Dense(10, **init),
        ]
    )
    out.append(("mlp_64_32_10", m, (64,)))
    m = k.Sequential([k.Input((8, 8, 3)), k.layers.MaxPooling2D(2)])
    out.append(("maxpool_8x8x3_2", m, (8, 8, 3)))
    m = k.Sequential([k.Input((7, 7, 2)), k.layers.AveragePooling2D(3, strides=2, padding="same")])
    out.append(("avgpool_7x7x2_3_s2_same", m, (7, 7, 2)))
    tf.keras.utils.set_random_seed(20)
    m = k.Sequential([k.Input((24,)), k.layers.Dense(12, activation="relu6", **init)])
    m.per_tensor = True  # one weight scale for the whole tensor (the converter's option)
    out.append(("fc_24_12_relu6_per_tensor", m, (24,)))
    return out


def convert(model, shape, seed):
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(200):
            yield [rng.uniform(-1.0, 1.0, size=(1, *shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    if getattr(model, "per_tensor", False):
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return conv.convert()


def f32(x):
    return repr(float(np.float32(x)))


def ints(a):
    return " ".join(str(int(v)) for v in np.asarray(a).reshape(-1))


def activation_name(sch, code):
    names = {
        sch.ActivationFunctionType.NONE: "none",
        sch.ActivationFunctionType.RELU: "relu",
        sch.ActivationFunctionType.RELU6: "relu6",
    }
    if code not in names:
        sys.exit(f"unsupported fused activation {code}")
    return names[code]


def describe(flat, interp, sch):
    """The operator blocks of the text file, from the flatbuffer and the interpreter."""
    model = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(flat, 0))
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    details = {d["index"]: d for d in interp.get_tensor_details()}
    lines = []
    for op in graph.operators:
        code = codes[op.opcodeIndex]
        kind = {
            sch.BuiltinOperator.FULLY_CONNECTED: "fully_connected",
            sch.BuiltinOperator.CONV_2D: "conv_2d",
            sch.BuiltinOperator.DEPTHWISE_CONV_2D: "depthwise_conv_2d",
            sch.BuiltinOperator.MAX_POOL_2D: "max_pool_2d",
            sch.BuiltinOperator.AVERAGE_POOL_2D: "average_pool_2d",
        }.get(code)
        if kind is None:
            sys.exit(f"unexpected operator {code}")
        x, y = op.inputs[0], op.outputs[0]
        opt = op.builtinOptions
        if kind.endswith("pool_2d"):
            lines.append(f"op {kind}")
            lines.append(f"activation {activation_name(sch, opt.fusedActivationFunction)}")
            lines.append(f"input_shape {ints(details[x]['shape'][1:])}")
            lines.append(f"output_shape {ints(details[y]['shape'][1:])}")
            sh, sw, fh, fw = opt.strideH, opt.strideW, opt.filterHeight, opt.filterWidth
            _, ih, iw, _ = details[x]["shape"]
            _, oh, ow, _ = details[y]["shape"]
            same = opt.padding == sch.Padding.SAME
            ph = max(0, ((oh - 1) * sh + fh - ih) // 2) if same else 0
            pw = max(0, ((ow - 1) * sw + fw - iw) // 2) if same else 0
            lines.append(f"filter {fh} {fw}")
            lines.append(f"stride {sh} {sw}")
            lines.append(f"padding {ph} {pw}")
            xq, oq = details[x]["quantization"], details[y]["quantization"]
            if xq != oq:
                sys.exit(f"pooling with different input and output quantization: {xq} {oq}")
            lines.append(f"output_scale {f32(oq[0])}")
            lines.append(f"output_zero_point {oq[1]}")
            lines.append("end")
            continue
        w, b = op.inputs[1], op.inputs[2]
        wq = details[w]["quantization_parameters"]
        lines.append(f"op {kind}")
        lines.append(f"activation {activation_name(sch, opt.fusedActivationFunction)}")
        lines.append(f"input_shape {ints(details[x]['shape'][1:])}")
        lines.append(f"output_shape {ints(details[y]['shape'][1:])}")
        lines.append(f"weight_shape {ints(details[w]['shape'])}")
        if kind != "fully_connected":
            sh, sw = opt.strideH, opt.strideW
            if opt.dilationHFactor != 1 or opt.dilationWFactor != 1:
                sys.exit("dilation is not exported")
            _, ih, iw, _ = details[x]["shape"]
            kh, kw = details[w]["shape"][1:3]
            _, oh, ow, _ = details[y]["shape"]
            if opt.padding == sch.Padding.SAME:
                ph = max(0, ((oh - 1) * sh + kh - ih) // 2)
                pw = max(0, ((ow - 1) * sw + kw - iw) // 2)
            else:
                ph = pw = 0
            lines.append(f"stride {sh} {sw}")
            lines.append(f"padding {ph} {pw}")
            if kind == "depthwise_conv_2d":
                lines.append(f"depth_multiplier {details[w]['shape'][3] // details[x]['shape'][3]}")
        else:
            if opt.keepNumDims:
                sys.exit("keep_num_dims is not exported")
        lines.append("weight_scales " + " ".join(f32(s) for s in wq["scales"]))
        lines.append(f"weight_zero_points {ints(wq['zero_points'])}")
        lines.append(f"weights {ints(interp.get_tensor(w))}")
        lines.append(f"bias {ints(interp.get_tensor(b))}")
        oq = details[y]["quantization"]
        lines.append(f"output_scale {f32(oq[0])}")
        lines.append(f"output_zero_point {oq[1]}")
        lines.append("end")
    return lines


def main():
    os.makedirs(OUT, exist_ok=True)
    sch = schema()
    print(f"TensorFlow {tf.__version__}, ai-edge-litert {ai_edge_litert.__version__}")
    only = set(sys.argv[1:])
    for i, (name, model, shape) in enumerate(models()):
        if only and name not in only:
            continue
        flat = convert(model, shape, seed=100 + i)
        path = os.path.join(OUT, name + ".tflite")
        with open(path, "wb") as f:
            f.write(flat)
        interp = Interpreter(
            model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
        )
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
        width = int(np.prod(shape))
        seed = 1000 + i
        xs = int8_inputs(seed, VECTORS, width)
        ys = []
        for x in xs:
            interp.set_tensor(inp["index"], x.reshape(1, *shape))
            interp.invoke()
            ys.append(interp.get_tensor(out["index"]).reshape(-1).copy())
        ys = np.stack(ys).astype(np.int8)
        lines = [
            f"# {name}: written by tools/tflite_int8.py (TensorFlow {tf.__version__},"
            f" ai-edge-litert {ai_edge_litert.__version__}, reference kernels)",
            f"model {name}",
            f"vectors {VECTORS}",
            f"seed {seed}",
            f"input_scale {f32(inp['quantization'][0])}",
            f"input_zero_point {inp['quantization'][1]}",
        ]
        lines += describe(flat, interp, sch)
        lines.append(f"x0 {ints(xs[0])}")
        lines.append(f"y0 {ints(ys[0])}")
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(OUT, name + ".out"), "wb") as f:
            f.write(ys.tobytes())
        print(f"{name}: {VECTORS} vectors of {width} → {ys.shape[1]}, {len(flat)} B model")


if __name__ == "__main__":
    main()
