#!/usr/bin/env bash
# Fails if the int8 firmware `digits_int8` built for the Cortex-M0 (no FPU) contains a software
# floating-point routine: compiler-builtins' single- and double-precision arithmetic,
# comparisons and conversions (`__aeabi_fadd`, `__aeabi_fmul`, `__aeabi_f2iz`, `__aeabi_dmul`,
# `__aeabi_i2f`, … and their `__addsf3`, `__fixsfsi`, `__extendsfdf2`-style names) or a libm
# function. The release build links with `--gc-sections`, so a routine that nothing calls is
# not in the binary: none there means none reachable, from the inference or anywhere else.
# Build first (e.g. with size.sh).
#
# Needs llvm-nm (Debian: `apt-get install llvm`); set NM to use another.
set -euo pipefail
cd "$(dirname "$0")"
nm="${NM:-llvm-nm}"
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
status=0
for bin in "$@"; do
    elf="$target_dir/thumbv6m-none-eabi/release/$bin"
    if [[ ! -f "$elf" ]]; then
        echo "float-check.sh: $elf not found (build it first)" >&2
        exit 1
    fi
    symbols="$("$nm" --defined-only "$elf" | awk '{ print $NF }')"
    soft="$(grep -E '^__aeabi_([fd]|[ui]?l?2[fd]|[ui]2[fd])|^__(add|sub|mul|div|neg|cmp|eq|ne|lt|le|gt|ge|unord)[sd]f[23]$|^__fix(uns)?[sd]f|^__float(un)?[st]i[sd]f|^__float(un)?di[sd]f|^__extendsfdf2$|^__truncdfsf2$|4libm[0-9]' <<<"$symbols" | sort -u || true)"
    total="$(wc -l <<<"$symbols")"
    if [[ -n "$soft" ]]; then
        echo "$bin (thumbv6m-none-eabi): floating-point routines in the binary:"
        sed 's/^/  /' <<<"$soft"
        status=1
    else
        echo "$bin (thumbv6m-none-eabi): no floating-point routine among its $total symbols"
    fi
done
if (($# == 0)); then
    echo "usage: float-check.sh BIN..." >&2
    exit 2
fi
exit "$status"
