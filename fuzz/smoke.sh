#!/usr/bin/env bash
# A short run of every fuzz target (CI): SECONDS_PER_TARGET seconds each (default 20) from the
# committed seeds, new inputs kept in a temporary directory. Installs a nightly toolchain and
# cargo-fuzz if they are missing. Fails on a crash, a panic, a leak or a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_TARGET:-20}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$work/$target"
    echo "fuzzing $target for $seconds s"
    rc=0
    cargo +nightly fuzz run "$target" "$work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$work/$target.log" 2>&1 ||
        rc=$?
    if ((rc == 0)); then
        grep -E '^#[0-9]+' "$work/$target.log" | tail -n 1
        grep -E '^Done' "$work/$target.log" || true
    else
        # The crash, its input and how to reproduce it.
        tail -n 60 "$work/$target.log"
        echo "fuzz target $target FAILED (exit $rc)"
        status=1
    fi
done
exit "$status"
