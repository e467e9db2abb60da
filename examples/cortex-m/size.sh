#!/usr/bin/env bash
# Builds the firmware for both targets in release and prints, per binary and target:
#   flash      = .vector_table + .text + .rodata + .data (the initial values of .data)
#   static RAM = .data + .bss + .uninit
# and, per training binary, its difference from `baseline` (the same runtime, handlers and
# prints without tinyprop): the share of tinyprop and the training code. The stack is not
# included: the binaries print its high-water mark when they run.
#
# Needs llvm-size (Debian: `apt-get install llvm`); set SIZE to use another binary that
# understands `-A -d` (e.g. SIZE=arm-none-eabi-size from binutils-arm-none-eabi).
set -euo pipefail
cd "$(dirname "$0")"

SIZE="${SIZE:-llvm-size}"
TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi)
BINS=(xor iris finetune gru_stream digits_cnn digits_int8)
BASELINE=baseline

if ! command -v "$SIZE" >/dev/null; then
    echo "size.sh: $SIZE not found (apt-get install llvm)" >&2
    exit 1
fi

target_args=()
for t in "${TARGETS[@]}"; do target_args+=(--target "$t"); done
cargo build --release --bins "${target_args[@]}"
# Where cargo put them (`target`, unless CARGO_TARGET_DIR or a config says otherwise).
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"

# Prints "flash ram" for one ELF file.
sizes() {
    "$SIZE" -A -d "$1" | awk '
        $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { print flash + 0, ram + 0 }'
}

echo "flash = .vector_table + .text + .rodata + .data; static RAM = .data + .bss + .uninit"
echo "binary - $BASELINE = what tinyprop and the training code add (iris: with 2550 B of data)"
printf '%-22s %-20s %10s %16s\n' target binary "flash (B)" "static RAM (B)"
for t in "${TARGETS[@]}"; do
    declare -A flash=() ram=()
    for b in "$BASELINE" "${BINS[@]}"; do
        read -r flash[$b] ram[$b] < <(sizes "$target_dir/$t/release/$b")
        printf '%-22s %-20s %10d %16d\n' "$t" "$b" "${flash[$b]}" "${ram[$b]}"
    done
    for b in "${BINS[@]}"; do
        printf '%-22s %-20s %10d %16d\n' "$t" "$b - $BASELINE" \
            $((flash[$b] - flash[$BASELINE])) $((ram[$b] - ram[$BASELINE]))
    done
    unset flash ram
done
