#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of the attribute's whole
# expansion, the LISTEN_* parser, the port_env/path_env values and the
# retry durations: each target for SECONDS (default 60) from the kept seeds
# in fuzz/seeds/TARGET. New inputs go to a scratch corpus outside the clone
# (target/fuzz-corpus), so the tree stays clean; a crash is written to
# fuzz/artifacts/TARGET and fails the script.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# cargo fuzz needs a nightly compiler's -Z flags. With the nightly toolchain
# (rustup) it is used; without one (a machine with only stable), the stable
# compiler is told to accept them with RUSTC_BOOTSTRAP=1, and the targets
# run without AddressSanitizer (--sanitizer none): safe Rust needs it only
# for the `unsafe` code, and these targets reach none.
# RESTARTABLE_FUZZ_STABLE=1 takes the stable way even where nightly exists.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(expand listen_vars env_values retry)

tools=${XDG_CACHE_HOME:-$HOME/.cache}/restartable-tools
export PATH=$tools/bin:$PATH
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools"
fi

if [ "${RESTARTABLE_FUZZ_STABLE:-}" != 1 ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
    sanitizer=address
else
    toolchain=()
    sanitizer=none
    export RUSTC_BOOTSTRAP=1
fi

cd "$root/fuzz"
cargo "${toolchain[@]}" fuzz build -O --sanitizer "$sanitizer"
for target in "${targets[@]}"; do
    corpus=$root/target/fuzz-corpus/$target
    mkdir -p "$corpus"
    log=$root/target/fuzz-corpus/$target.log
    dict=()
    [ -f "$target.dict" ] && dict=(-dict="$target.dict")
    echo "== $target: ${seconds} s (sanitizer: $sanitizer)"
    if ! cargo "${toolchain[@]}" fuzz run -O --sanitizer "$sanitizer" "$target" \
        "$corpus" "seeds/$target" -- -max_total_time="$seconds" -print_final_stats=1 \
        "${dict[@]}" > "$log" 2>&1; then
        tail -40 "$log"
        echo "FAIL: $target found a failing input (fuzz/artifacts/$target)"
        exit 1
    fi
    # The last status line and the final stats: executions, coverage.
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" | tr '\n' ' '
    echo
done
