#!/usr/bin/env bash
# Fails if a firmware binary can panic inside tinyprop or the crates it brings: a panic keeps
# the location of its source line (file name, line, column) in the binary's read-only data, so
# every panic path compiled into the firmware shows up as a file name there. Checks the
# release builds of every binary for both targets (build them first, e.g. with size.sh).
#
# Refused: locations in tinyprop's own src/ (matched against this checkout's path) and in
# tinyprop's dependencies (nalgebra, simba, num-traits, libm, heapless, rand_core,
# embedded-storage). Other locations (core's float formatting, which the firmware's printing
# uses) are listed.
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd ../.. && pwd)"
objcopy="${OBJCOPY:-llvm-objcopy}"
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
forbidden="^$repo/src/|/(nalgebra|simba|num-traits|libm|heapless|rand_core|embedded-storage)-[0-9][^/]*/"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
status=0
checked=0
for elf in "$target_dir"/thumbv*/release/*; do
    [[ -f "$elf" && -x "$elf" ]] || continue
    case "$(basename "$elf")" in *.d | *.rlib) continue ;; esac
    checked=$((checked + 1))
    locations=""
    for section in .rodata .data; do
        "$objcopy" -O binary --only-section="$section" "$elf" "$tmp" 2>/dev/null || continue
        locations+="$(strings -n 4 "$tmp" | grep -E '\.rs' || true)"$'\n'
    done
    bad="$(grep -E "$forbidden" <<<"$locations" | sort -u || true)"
    other="$(grep -vE "$forbidden" <<<"$locations" | grep -E '\.rs' | sort -u | wc -l || true)"
    name="${elf#"$target_dir"/}"
    if [[ -n "$bad" ]]; then
        echo "$name: panic locations in tinyprop or its dependencies:"
        sed 's/^/  /' <<<"$bad"
        status=1
    else
        echo "$name: none in tinyprop or its dependencies ($other file(s) of core, for printing)"
    fi
done
if ((checked == 0)); then
    echo "panic-check.sh: no firmware binaries under $target_dir (build them first)" >&2
    exit 1
fi
exit "$status"
