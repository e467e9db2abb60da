#!/usr/bin/env python3
"""Where the instructions of one iris training epoch go on the emulated Cortex-M4F and Cortex-M0.

    python3 tools/firmware_profile.py            # prints the table (Markdown)
    PROFILE_TARGET=thumbv7em-none-eabihf python3 tools/firmware_profile.py   # one core only
    PROFILE_DEBUG=1 python3 tools/firmware_profile.py   # also the functions left in the last group

Builds `examples/cortex-m`'s `iris` firmware twice, for 1 and for 3 epochs (`IRIS_EPOCHS`), runs
each under QEMU one instruction per translation block (`-singlestep -d exec,nochain`: a log line
for every instruction executed), counts the instructions at every address, and attributes each
address to the source function it belongs to, inlined ones included (`llvm-addr2line -i`). What
two more epochs add, divided by two, is what one epoch executes: the set-up, the evaluation and
the prints cancel out. Each address goes to a group by its chain of inlined functions: the
innermost function that one of the groups' patterns matches decides (the patterns are tried in
the table's order). Software floating point, which the Cortex-M0 calls rather than inlines, is
a group of its own there.

Needs the firmware toolchain (thumb targets, qemu-system-arm, llvm-addr2line) and about three
minutes.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "examples", "cortex-m")
TARGETS = [
    ("thumbv7em-none-eabihf", "Cortex-M4F", ["-cpu", "cortex-m4", "-machine", "mps2-an386"]),
    ("thumbv6m-none-eabi", "Cortex-M0", ["-cpu", "cortex-m0", "-machine", "microbit"]),
]
SHORT, LONG = 1, 3

# (group, patterns on the demangled function names of an address's inline chain)
GROUPS = [
    ("square roots of Adam (M4F: `math::sqrt_f32`, M0: libm `sqrtf`)",
     [r"libm::math::(generic::)?sqrt", r"sqrtf", r"math::sqrt"]),
    ("Adam's update, without the square roots", [r"optim::adam", r"optim::lerp",
                                                 r"flush_subnormal", r"libm::math::powf",
                                                 r"tinyprop::math::(one_minus_powi|powi|mul_hi)"]),
    ("optimizer's checks (finite, bounded)", [r"optim::", r"layer::lane_sum", r"all_finite",
                                              r"layer::abs_sum"]),
    ("matrix products (forward, weight and input gradients)", [r"tinyprop::kernels::"]),
    ("softmax and cross-entropy", [r"tinyprop::loss", r"tinyprop::math::(exp|max_of|is_zero|zero_bits)",
                                   r"libm::math::logf", r"libm::math::expf"]),
    ("biases and ReLU (forward and backward)", [r"tinyprop::layers", r"tinyprop::math::relu"]),
    ("data: shuffle, batch copy, finiteness scan", [r"tinyprop::data", r"Trainer.*::load",
                                                    r"train::scan", r"train::check_indices"]),
    ("zeroing (gradients, caches)", [r"memset", r"memclr", r"set_zero"]),
    ("software floating point (the Cortex-M0 has no FPU)", [r"compiler_builtins::(float|int)",
                                                            r"__aeabi_(f|d|l|ui|i)",
                                                            r"__(add|sub|mul|div)[sd]f3",
                                                            r"__(eq|ne|lt|le|gt|ge|un)sf2"]),
    ("training loop and the rest", [r"tinyprop::"]),
]


def run(args, env=None, cwd=FIRMWARE):
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        sys.exit(f"firmware_profile.py: {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def counts_of(target, qemu_machine, epochs, tmp):
    """Instructions executed at each address, and the ELF file."""
    env = dict(os.environ, IRIS_EPOCHS=str(epochs))
    run(["cargo", "build", "--release", "--quiet", "--target", target, "--bin", "iris"], env=env)
    meta = run(["cargo", "metadata", "--format-version", "1", "--no-deps"])
    target_dir = re.search(r'"target_directory":"([^"]*)"', meta).group(1)
    elf = os.path.join(target_dir, target, "release", "iris")
    kept = os.path.join(tmp, f"iris-{target}-{epochs}")
    with open(elf, "rb") as src, open(kept, "wb") as dst:
        dst.write(src.read())
    # The log goes through a pipe: it would take gigabytes on disk.
    log = os.path.join(tmp, "exec.fifo")
    os.mkfifo(log)
    qemu = subprocess.Popen(["qemu-system-arm", *qemu_machine, "-nographic", "-semihosting-config",
                             "enable=on,target=native", "-icount", "shift=0,align=off",
                             "-singlestep", "-d", "exec,nochain", "-D", log, "-kernel", kept],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    counts = collections.Counter()
    with open(log) as f:
        for line in f:
            # Trace 0: 0x7f... [00800408/00000738/00000010/ff020201] symbol
            fields = line.split("[", 1)[-1].split("/", 2)
            if len(fields) == 3:
                counts[fields[1]] += 1
    qemu.wait()
    os.remove(log)
    counts = collections.Counter({int(a, 16): c for a, c in counts.items()})
    return counts, kept


def functions(elf, addresses):
    """The inline chain of function names (innermost first) of each address."""
    text = "\n".join(f"0x{a:x}" for a in addresses)
    out = subprocess.run(["llvm-addr2line", "-e", elf, "-f", "-i", "-C", "-a"], input=text,
                         capture_output=True, text=True, check=True).stdout
    chains, cur = {}, None
    lines = out.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("0x"):
            cur = int(lines[i], 16)
            chains[cur] = []
            i += 1
        else:
            chains[cur].append(lines[i])
            i += 2  # function name, then its file:line
    return chains


def readable(f):
    """A symbol as Rust writes paths (legacy mangling leaves `..` for `::` and `$LT$` for `<`)."""
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("$C$", ","), ("..", "::")):
        f = f.replace(a, b)
    return f


def group_of(chain):
    for f in map(readable, chain):
        for name, patterns in GROUPS:
            if any(re.search(p, f) for p in patterns):
                return name
    return "training loop and the rest"


def per_epoch(target, machine, tmp):
    grouped = {}
    rest = collections.Counter()
    for epochs in (SHORT, LONG):
        counts, elf = counts_of(target, machine, epochs, tmp)
        chains = functions(elf, sorted(counts))
        g = collections.Counter()
        for a, c in counts.items():
            chain = chains.get(a, [])
            # Only what the training code executes: tinyprop, libm, the compiler's builtins.
            if not any(re.search(r"tinyprop::|libm::|compiler_builtins|aeabi|mem(set|clr|cpy)", f)
                       and "tinyprop_cortex_m" not in f for f in chain):
                continue
            name = group_of(chain)
            g[name] += c
            if os.environ.get("PROFILE_DEBUG") and name == GROUPS[-1][0]:
                rest[(epochs, re.sub(r"::h[0-9a-f]{16}$", "", chain[0])[-90:] if chain else "?")] += c
        grouped[epochs] = g
    if rest:
        diff = collections.Counter({k: rest[(LONG, k)] - rest[(SHORT, k)] for _, k in rest})
        for k, v in diff.most_common(25):
            print(target, v // (LONG - SHORT), k, file=sys.stderr)
    return {name: (grouped[LONG][name] - grouped[SHORT][name]) / (LONG - SHORT)
            for name, _ in GROUPS}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        only = os.environ.get("PROFILE_TARGET")
        results = {core: per_epoch(target, machine, tmp) for target, core, machine in TARGETS
                   if not only or target == only}
    cores = [core for _, core, _ in TARGETS if core in results]
    print("| instructions per iris epoch | " + " | ".join(cores) + " |")
    print("| --- | " + " | ".join("---:" for _ in cores) + " |")
    for name, _ in GROUPS:
        cells = []
        for core in cores:
            v = results[core][name]
            total = sum(results[core].values())
            cells.append(f"{round(v):,} ({100 * v / total:.0f} %)".replace(",", " "))
        print(f"| {name} | " + " | ".join(cells) + " |")
    totals = [f"{round(sum(results[c].values())):,}".replace(",", " ") for c in cores]
    print("| **all** | " + " | ".join(f"**{t}**" for t in totals) + " |")


if __name__ == "__main__":
    main()
