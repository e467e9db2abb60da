#!/usr/bin/env python3
"""The deterministic figures of README.md and examples/cortex-m/README.md, produced by running
the code: accuracies and losses of the examples, firmware sizes, stack high-water marks and
results under QEMU.

    python3 tools/figures.py           # runs everything, rewrites the figures in both READMEs
    python3 tools/figures.py --check   # runs everything, fails if a README differs (CI)

Each figure block in a README sits between `<!-- figures:NAME -->` and `<!-- /figures -->`;
everything between the markers is generated here. Timings are not figures: they vary.
Needs the firmware toolchain (thumb targets, qemu-system-arm, llvm-size), as CI installs it.
"""

import os
import re
import shutil
import subprocess
import tempfile
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "examples", "cortex-m")
TARGETS = [
    ("thumbv7em-none-eabihf", "Cortex-M4F"),
    ("thumbv6m-none-eabi", "Cortex-M0"),
]
# Firmware binaries in table order, with what each does.
BINARIES = [
    ("baseline", "no tinyprop"),
    ("xor", "2-8-1, SGD"),
    ("iris", "4-16-3, Adam, data in flash"),
    ("finetune", "PyTorch's 4-16-3, last layer fine-tuned, checkpoint"),
    ("gru_stream", "GRU 1-8, Dense 8-1, truncated BPTT on a stream"),
    ("digits_cnn", "the digits CNN in flash; M4F: a new head trained on the device"),
    ("digits_int8", "the digits CNN quantized to int8, in flash, no floating point"),
]


def run(args, cwd=ROOT):
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        sys.exit(f"figures.py: {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def find(pattern, text, what):
    m = re.search(pattern, text, re.MULTILINE)
    if not m:
        sys.exit(f"figures.py: no {what} in the output:\n{text}")
    return m.groups() if len(m.groups()) > 1 else m.group(1)


def example(name):
    return run(["cargo", "run", "--release", "--quiet", "--example", name])


def thousands(n):
    """1 234 567 with thin spaces, as the README writes numbers."""
    return f"{n:,}".replace(",", " ")


def host_figures():
    f = {}
    iris = example("iris")
    f["iris_acc"] = find(r"^held-out accuracy: ([0-9.]+)", iris, "iris accuracy")
    digits = example("digits")
    f["digits_acc"] = find(r"^held-out accuracy: ([0-9.]+)", digits, "digits accuracy")
    for form in ("batch", "stochastic", "mini-batch 32"):
        start, end = find(
            rf"^\s+{re.escape(form)}\s.*training loss ([0-9.]+) -> ([0-9.]+)", digits, form
        )
        f[f"gd_start"] = start
        f[f"gd_{form.split()[0]}"] = end
    wine = example("wine")
    f["wine_acc"] = find(r"^held-out accuracy: ([0-9.]+)", wine, "wine accuracy")
    tune = example("finetune")
    f["finetune_before"] = find(r"before fine-tuning: ([0-9.]+)", tune, "finetune before")
    f["finetune_after"] = find(r"^held-out accuracy after fine-tuning: ([0-9.]+)", tune, "finetune after")
    deep = example("deep_models")
    f["residual_acc"] = find(r"^residual .*held-out accuracy: ([0-9.]+)", deep, "residual")
    f["bn_acc"] = find(r"^batch norm .*held-out accuracy: ([0-9.]+)", deep, "batch norm")
    cnn = example("digits_cnn")
    f["cnn_acc"] = find(r"^held-out accuracy: ([0-9.]+)", cnn, "CNN accuracy")
    rnn = example("digits_rnn")
    f["gru_acc"] = find(r"^GRU held-out accuracy: ([0-9.]+)", rnn, "GRU accuracy")
    f["lstm_acc"] = find(r"^LSTM held-out accuracy: ([0-9.]+)", rnn, "LSTM accuracy")
    forecast = example("forecast")
    f["fc_gru"], f["fc_naive"] = find(
        r"^held-out 1969-2008: GRU RMSE ([0-9.]+), naive \(same as last year\) RMSE ([0-9.]+)",
        forecast, "forecast RMSE"
    )
    ptq = example("ptq_digits")
    f["ptq_mlp"] = find(r"^digits MLP 64-32-10: held-out accuracy f32 ([0-9.]+), int8 ([0-9.]+)",
                        ptq, "MLP int8 accuracy")
    f["ptq_cnn"] = find(r"^digits CNN: held-out accuracy f32 ([0-9.]+), int8 ([0-9.]+)", ptq,
                        "CNN int8 accuracy")
    van = example("vanishing")
    f["van_plain"], f["van_res"] = find(
        r"first-layer gradient norm: plain=(\S+) residual=(\S+)", van, "gradient norms"
    )
    f["van_loss_plain"], f["van_loss_res"] = find(
        r"final loss: plain=(\S+) residual=(\S+)", van, "final losses"
    )
    return f


def staged_firmware():
    """The firmware package in a copy of the repository at a fixed path.

    A path dependency's symbol hashes include its path, and with LTO they move functions by a
    few bytes of alignment: the same commit built from two directories differs by a few bytes
    of flash. So the figures are measured in a copy of the repository's files (tracked and
    new, as they are on disk) at one path on every machine.
    """
    stage = os.path.join(tempfile.gettempdir(), "tinyprop-figures", "tinyprop")
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    # A fresh copy, keeping only the firmware's build directory (so rebuilds are incremental).
    cache = os.path.join(os.path.dirname(stage), "firmware-target")
    built = os.path.join(stage, "examples", "cortex-m", "target")
    if os.path.isdir(built):
        shutil.rmtree(cache, ignore_errors=True)
        os.replace(built, cache)
    shutil.rmtree(stage, ignore_errors=True)
    if os.path.isdir(cache):
        os.makedirs(os.path.dirname(built), exist_ok=True)
        os.replace(cache, built)
    for name in filter(None, files):
        src = os.path.join(ROOT, name)
        if not os.path.isfile(src):
            continue
        dst = os.path.join(stage, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
    return os.path.join(stage, "examples", "cortex-m")


def firmware_figures():
    sizes = {}
    firmware = staged_firmware()
    out = run([os.path.join(firmware, "size.sh")], cwd=firmware)
    for line in out.splitlines():
        m = re.match(r"^(thumb\S+)\s+(\w+)\s+(\d+)\s+(\d+)$", line)
        if m:
            sizes[(m.group(1), m.group(2))] = (int(m.group(3)), int(m.group(4)))
    runs = {}
    for target, _ in TARGETS:
        for binary, _ in BINARIES:
            text = run(
                ["cargo", "run", "--release", "--quiet", "--target", target, "--bin", binary],
                cwd=firmware,
            )
            stack, total = find(r"stack high-water mark: (\d+) of (\d+) bytes", text, "stack")
            runs[(target, binary)] = (int(stack), int(total), text)
    return sizes, runs


def firmware_table(sizes, runs, comma):
    def num(n):
        return f"{n:,}" if comma else thousands(n)

    rows = [
        "| target | binary | flash (B) | library share (B) | static RAM (B) | stack (B) "
        "| instructions per training step | per inference |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target, core in TARGETS:
        base_flash = sizes[(target, "baseline")][0]
        for binary, what in BINARIES:
            flash, ram = sizes[(target, binary)]
            stack, total, _ = runs[(target, binary)]
            share = "—" if binary == "baseline" else num(flash - base_flash)
            stack_text = num(stack)
            if target.startswith("thumbv6m") and binary != "baseline":
                stack_text += f" of {num(total)}"
            text = runs[(target, binary)][2]
            if binary == "baseline":
                step = infer = "—"
            else:
                m = re.search(r"^instructions: .*?(\d+) per training step", text, re.M)
                step = num(int(m.group(1))) if m else "— (inference only)"
                infer = num(int(find(r"(\d+) per inference", text, "inference")))
            rows.append(
                f"| {core} | `{binary}` ({what}) | {num(flash)} | {share} | {ram} | {stack_text} "
                f"| {step} | {infer} |"
            )
    return "\n".join(rows)


def firmware_results(runs):
    lines = []
    xor = {t: find(r"final loss ([0-9.]+) after (\d+) steps", runs[(t, "xor")][2], "xor loss")
           for t, _ in TARGETS}
    iris = {t: find(r"held-out accuracy: ([0-9.]+) \((\d+) of (\d+)\)", runs[(t, "iris")][2],
                    "iris accuracy") for t, _ in TARGETS}
    prints = {t: find(r"weights fingerprint: (\w+)", runs[(t, "iris")][2], "fingerprint")
              for t, _ in TARGETS}
    (loss, steps), = set(xor.values())
    (acc, correct, total), = set(iris.values())
    (fingerprint,) = set(prints.values())
    def finetune(text):
        return (
            find(r"^PyTorch's network: held-out accuracy ([0-9.]+)", text, "finetune before"),
            find(r"^checkpoint: (\d+) bytes", text, "finetune checkpoint"),
            find(r"^after reboot: held-out accuracy ([0-9.]+)", text, "finetune after"),
        )

    tune = {t: finetune(runs[(t, "finetune")][2]) for t, _ in TARGETS}
    tprints = {t: find(r"weights fingerprint: (\w+)", runs[(t, "finetune")][2], "fingerprint")
               for t, _ in TARGETS}
    (before, ckpt, after), = set(tune.values())
    (tprint,) = set(tprints.values())
    streams = {t: find(r"GRU squared error ([0-9.]+), naive forecast ([0-9.]+)",
                       runs[(t, "gru_stream")][2], "gru_stream") for t, _ in TARGETS}
    (gru_err, naive_err), = set(streams.values())
    epochs = {t: int(find(r"^instructions: (\d+) per epoch", runs[(t, "iris")][2], "iris epoch"))
              for t, _ in TARGETS}
    cnn = {t: find(r"^host's network: held-out accuracy ([0-9.]+) \((\d+) of (\d+); on the host: (\d+)\)",
                   runs[(t, "digits_cnn")][2], "digits_cnn accuracy") for t, _ in TARGETS}
    (cnn_acc, cnn_correct, cnn_total, cnn_host), = set(cnn.values())
    m4 = runs[("thumbv7em-none-eabihf", "digits_cnn")][2]
    head_acc, head_untrained, head_epochs = find(
        r"^new head: held-out accuracy ([0-9.]+) \(untrained: ([0-9.]+)\) after (\d+) epochs", m4,
        "digits_cnn head")
    head_images = find(r"^training a new head on the device: (\d+) images", m4, "head images")
    int8 = {t: find(r"^int8 network: held-out accuracy ([0-9.]+) \((\d+) of (\d+); on the host: (\d+); "
                    r"the f32 network: (\d+)\)", runs[(t, "digits_int8")][2], "digits_int8 accuracy")
            for t, _ in TARGETS}
    (int8_acc, int8_correct, _, int8_host, f32_correct), = set(int8.values())
    model_bytes = {t: find(r"^digits_int8: int8 model (\d+) bytes in flash, the f32 network (\d+) bytes",
                           runs[(t, "digits_int8")][2], "digits_int8 model bytes") for t, _ in TARGETS}
    (int8_bytes, f32_bytes), = set(model_bytes.values())
    def per_inference(binary, target):
        return int(find(r"(\d+) per inference", runs[(target, binary)][2], "inference"))
    fewer = {t: per_inference("digits_cnn", t) / per_inference("digits_int8", t) for t, _ in TARGETS}
    return (
        f"XOR reaches loss {loss} after {thousands(int(steps))} steps on both cores; iris reaches "
        f"{acc} held-out accuracy ({correct} of {total}) on both, with weights bit-identical to "
        f"each other (fingerprint `{fingerprint}`; CI compares them). `finetune` takes PyTorch's "
        f"network from {before} to {after} held-out accuracy on the device's own flowers, keeps a "
        f"{thousands(int(ckpt))}-byte checkpoint (model and Adam's state) in flash and reloads it "
        f"after a reboot with the same weights on both cores (fingerprint `{tprint}`). An iris "
        f"epoch (14 steps of 8 flowers, Adam) executes {thousands(epochs['thumbv7em-none-eabihf'])} "
        f"instructions on the Cortex-M4F and {thousands(epochs['thumbv6m-none-eabi'])} on the "
        f"Cortex-M0 (software floating point). `gru_stream` learns a noisy sensor stream window "
        f"by window on both cores: squared error {gru_err} over the last 200 windows, against "
        f"{naive_err} for the naive forecast. `digits_cnn` runs the CNN of `examples/digits_cnn.rs`, "
        f"its weights in flash, on the {cnn_total} held-out digits: {cnn_acc} ({cnn_correct} correct) "
        f"on both cores, as on the host ({cnn_host}); on the Cortex-M4F the device also trains a new "
        f"dense head on the convolutional features of its {thousands(int(head_images))} training "
        f"images ({head_epochs} epochs, Adam), from {head_untrained} to {head_acc} held out. "
        f"`digits_int8` runs the same network quantized to int8 by tinyprop's post-training "
        f"quantization (calibrated on the training images), with no floating point on the device: "
        f"{int8_acc} ({int8_correct} correct, {f32_correct} in f32) on both cores, as on the host "
        f"({int8_host}); the model takes {thousands(int(int8_bytes))} bytes of flash (int8 weights, "
        f"int32 biases, a multiplier per output channel) against {thousands(int(f32_bytes))} in f32 "
        f"({100 * int(int8_bytes) / int(f32_bytes):.0f} %), and an inference takes "
        f"{fewer['thumbv6m-none-eabi']:.1f}× fewer instructions than in f32 on the Cortex-M0, "
        f"{fewer['thumbv7em-none-eabihf']:.1f}× fewer on the Cortex-M4F."
    )


def int8_firmware(sizes, runs):
    """digits_cnn (f32) against digits_int8 on each core, for the README's int8 section."""
    rows = [
        "| core | network | flash (B) | stack (B) | instructions per inference | held-out (device / host) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for target, core in TARGETS:
        for binary, what in (("digits_cnn", "f32"), ("digits_int8", "int8")):
            text = runs[(target, binary)][2]
            if binary == "digits_cnn":
                _, correct, total, host = find(
                    r"^host's network: held-out accuracy ([0-9.]+) \((\d+) of (\d+); on the host: (\d+)\)",
                    text, "digits_cnn accuracy")
            else:
                _, correct, total, host, _ = find(
                    r"^int8 network: held-out accuracy ([0-9.]+) \((\d+) of (\d+); on the host: (\d+); "
                    r"the f32 network: (\d+)\)", text, "digits_int8 accuracy")
            infer = int(find(r"(\d+) per inference", text, "inference"))
            flash = sizes[(target, binary)][0]
            stack = runs[(target, binary)][0]
            rows.append(f"| {core} | {what} (`{binary}`) | {thousands(flash)} | {thousands(stack)} "
                        f"| {thousands(infer)} | {correct} of {total} / {host} |")
    int8_bytes, f32_bytes = find(r"^digits_int8: int8 model (\d+) bytes in flash, the f32 network (\d+) bytes",
                                 runs[("thumbv6m-none-eabi", "digits_int8")][2], "model bytes")
    m0 = [int(find(r"(\d+) per inference", runs[("thumbv6m-none-eabi", b)][2], "inference"))
          for b in ("digits_cnn", "digits_int8")]
    rows.append("")
    rows.append(f"The int8 model takes {thousands(int(int8_bytes))} bytes of flash against "
                f"{thousands(int(f32_bytes))} for the f32 network "
                f"({100 * int(int8_bytes) / int(f32_bytes):.0f} %); on the Cortex-M0 an int8 inference "
                f"executes {m0[0] / m0[1]:.1f}× fewer instructions than an f32 one.")
    return "\n".join(rows)


def blocks(host, sizes, runs):
    b = {}
    b["accuracy"] = "\n".join([
        "| example | model | training | held-out accuracy |",
        "| --- | --- | --- | --- |",
        f"| `iris` (150 × 4, 3 classes) | 4-16-3 ReLU | Adam lr 0.01, batches of 8, 300 epochs | {host['iris_acc']} |",
        f"| `digits` (1797 × 8×8, 10 classes) | 64-32-10 ReLU | Adam lr 0.01, batches of 32, early stopping (patience 10), at most 40 epochs | {host['digits_acc']} |",
        f"| `wine` (178 × 13, 3 classes, from CSV) | standardisation in the model, 13-16-3 ReLU | Adam lr 0.01, batches of 8, early stopping on validation accuracy (patience 20) | {host['wine_acc']} |",
        f"| `finetune` | 64-32-10 ReLU saved to safetensors after training on digits 0–6, loaded with the first layer frozen | Adam lr 0.01, batches of 32, 40 epochs on new data of all ten digits | {host['finetune_before']} before, {host['finetune_after']} after |",
        f"| `deep_models` | 64-32-[32-32]+skip-10 | Adam lr 0.01, batches of 32, 30 epochs | {host['residual_acc']} |",
        f"| `deep_models` | 64-32-BN-ReLU-10-BN-Softmax | Adam lr 0.01, batches of 32, 30 epochs | {host['bn_acc']} |",
        f"| `digits_cnn` (each digit a 1×8×8 image) | conv 3×3 (16), ReLU, max pool, conv 3×3 (32), ReLU, max pool, dense 10 | AdamW lr 0.003 cosine-annealed over 30 epochs, weight decay 0.05, one-pixel shifts of the training images in all eight directions, batches of 32, best validation epoch kept | {host['cnn_acc']} |",
        f"| `digits_rnn` (each digit 8 rows of 8 pixels) | GRU 8→32, last step, 32-10 | Adam lr 0.01 cosine-annealed over 60 epochs, batches of 32, best validation loss kept | {host['gru_acc']} |",
        f"| `digits_rnn` | LSTM 8→32, last step, 32-10 | the same | {host['lstm_acc']} |",
    ])
    b["forecast"] = (
        "**Forecasting** (`examples/forecast.rs`): yearly sunspot numbers 1700–2008 (public domain), a\n"
        "GRU of 24 units predicting the next year at every step, trained by truncated BPTT (windows of\n"
        "12 years, the state carried) on 1700–1968; one-step-ahead forecasts of the held-out 1969–2008:\n"
        f"RMSE {host['fc_gru']} against {host['fc_naive']} for the naive forecast (same as last year).\n\n"
        "![GRU and naive forecasts of the held-out sunspot years](docs/forecast.png)"
    )
    b["gd-forms"] = (
        "**The three forms of gradient descent** on digits (`examples/digits.rs`, plain SGD lr 0.05, the\n"
        "same initial weights, 40 epochs of 1 008 sample-gradients each): training loss from "
        f"{host['gd_start']} to\n{host['gd_batch']} with batch gradient descent (1 step per epoch), "
        f"{host['gd_stochastic']} with stochastic (1 008 steps per\nepoch) and {host['gd_mini-batch']} "
        "with mini-batches of 32 (32 steps per epoch). The example writes the curves to\n"
        "`target/digits_gd_curves.csv` and `.png`."
    )
    b["vanishing"] = (
        "**Vanishing gradients** (`examples/vanishing.rs`): a 20-layer sigmoid MLP, width 16, the same\n"
        "initial weights with and without skip connections around the 18 hidden blocks: first-layer\n"
        f"gradient norm plain {host['van_plain']}, residual {host['van_res']}; after 1 000 SGD steps "
        f"the plain network's loss is\n{host['van_loss_plain']} (the target's variance is 0.210), the "
        f"residual one's {host['van_loss_res']}."
    )
    b["int8-accuracy"] = "\n".join([
        "| model | held-out accuracy, f32 | int8 (tinyprop's post-training quantization) |",
        "| --- | ---: | ---: |",
        f"| digits MLP 64-32-10 (`examples/digits.rs`'s training) | {host['ptq_mlp'][0]} | {host['ptq_mlp'][1]} |",
        f"| digits CNN (`examples/digits_cnn.rs`'s weights) | {host['ptq_cnn'][0]} | {host['ptq_cnn'][1]} |",
    ])
    b["int8-firmware"] = int8_firmware(sizes, runs)
    b["firmware"] = firmware_table(sizes, runs, comma=False) + "\n\n" + firmware_results(runs)
    b["firmware-table"] = firmware_table(sizes, runs, comma=True)
    return b


def trained_file(check, drawn_name, committed, what):
    """A committed file that is what an example writes (in target/): the same bytes."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    with open(os.path.join(target, drawn_name), "rb") as f:
        drawn = f.read()
    path = os.path.join(ROOT, committed)
    if check:
        with open(path, "rb") as f:
            same = f.read() == drawn
        if not same:
            print(f"{path} differs from what {what} writes")
        return same
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(drawn)
    return True


def forecast_png(check):
    """docs/forecast.png is the figure examples/forecast.rs draws (in target/)."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    with open(os.path.join(target, "forecast.png"), "rb") as f:
        drawn = f.read()
    path = os.path.join(ROOT, "docs", "forecast.png")
    if check:
        with open(path, "rb") as f:
            same = f.read() == drawn
        if not same:
            print(f"{path} differs from what examples/forecast.rs draws")
        return same
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(drawn)
    return True


def rewrite(path, blocks_by_name, check):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = set()

    def replace(m):
        name = m.group(1)
        if name not in blocks_by_name:
            sys.exit(f"figures.py: {path}: unknown figure block {name}")
        found.add(name)
        return f"<!-- figures:{name} -->\n{blocks_by_name[name]}\n<!-- /figures -->"

    new = re.sub(r"<!-- figures:([\w-]+) -->\n(?:.*?\n)??<!-- /figures -->", replace, text, flags=re.S)
    if check:
        if new != text:
            import difflib
            diff = "".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                path, path + " (measured)"))
            print(diff)
            return False
        return True
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return True


def main():
    check = "--check" in sys.argv[1:]
    host = host_figures()
    ok = forecast_png(check)
    # The firmware digits_cnn is built from the weights examples/digits_cnn.rs trains.
    ok = trained_file(check, "digits_cnn.safetensors",
                      os.path.join("examples", "cortex-m", "data", "digits_cnn.safetensors"),
                      "examples/digits_cnn.rs") and ok
    sizes, runs = firmware_figures()
    b = blocks(host, sizes, runs)
    for path in (os.path.join(ROOT, "README.md"), os.path.join(FIRMWARE, "README.md")):
        ok = rewrite(path, b, check) and ok
    if not ok:
        sys.exit("figures.py: README figures differ from what the code gives (above); "
                 "run python3 tools/figures.py")
    print("figures: " + ("README figures match" if check else "README figures written"))


if __name__ == "__main__":
    main()
