#!/usr/bin/env bash
# Builds the firmware for both targets in release and prints, per binary and target, the flash
# it takes (.vector_table + .text + .rodata + the initial values of .data) and its static RAM
# (.data + .bss + .uninit). The stack is not included: the binaries print its high-water mark.
# "xor - baseline" is what tinyprop and the training code add.
#
# Needs llvm-size (Debian: `apt-get install llvm`); set SIZE to use another binary that
# understands `-A -d` (e.g. SIZE=arm-none-eabi-size from binutils-arm-none-eabi).
set -euo pipefail
cd "$(dirname "$0")"

SIZE="${SIZE:-llvm-size}"
TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi)
BINS=(xor baseline)

if ! command -v "$SIZE" >/dev/null; then
    echo "size.sh: $SIZE not found (apt-get install llvm)" >&2
    exit 1
fi

target_args=()
for t in "${TARGETS[@]}"; do target_args+=(--target "$t"); done
cargo build --release --bins "${target_args[@]}"

# Prints "flash ram" for one ELF file.
sizes() {
    "$SIZE" -A -d "$1" | awk '
        $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { print flash + 0, ram + 0 }'
}

printf '%-22s %-16s %10s %16s\n' target binary "flash (B)" "static RAM (B)"
for t in "${TARGETS[@]}"; do
    declare -A flash=() ram=()
    for b in "${BINS[@]}"; do
        read -r flash[$b] ram[$b] < <(sizes "target/$t/release/$b")
        printf '%-22s %-16s %10d %16d\n' "$t" "$b" "${flash[$b]}" "${ram[$b]}"
    done
    printf '%-22s %-16s %10d %16d\n' "$t" "xor - baseline" \
        $((flash[xor] - flash[baseline])) $((ram[xor] - ram[baseline]))
    unset flash ram
done
