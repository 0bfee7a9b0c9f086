#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of the attribute's whole
# expansion, the LISTEN_* parser, the port_env/path_env values and the
# retry durations: each target for SECONDS (default 60) from the kept seeds
# in fuzz/seeds/TARGET. New inputs go to a scratch corpus outside the clone
# (target/fuzz-corpus), so the tree stays clean; a crash is written to
# fuzz/artifacts/TARGET and fails the script. As many targets run at once
# as there are cores (each libFuzzer process uses one): on 2 cores the four
# take 2 x SECONDS, each still fuzzed for SECONDS.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]   (FUZZ_JOBS=N: N at once)
#
# cargo fuzz needs a nightly compiler's -Z flags. With the nightly toolchain
# (rustup) it is used; without one (a machine with only stable), the stable
# compiler is told to accept them with RUSTC_BOOTSTRAP=1, and the targets
# run without AddressSanitizer (--sanitizer none): safe Rust needs it only
# for the `unsafe` code, and these targets reach none.
# RESTARTABLE_FUZZ_STABLE=1 takes the stable way even where nightly exists.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(expand listen_vars env_values retry)

tools=${XDG_CACHE_HOME:-$HOME/.cache}/restartable-tools
export PATH=$tools/bin:$PATH
if ! cargo fuzz --version >/dev/null 2>&1; then
    # A debug build: it only runs cargo, and builds in a third of the time.
    cargo install cargo-fuzz --version 0.13.2 --locked --debug --root "$tools"
fi

# (grep on the whole list: `rustup ... | grep -q` fails under pipefail when grep
# quits before rustup has written its last line.)
if [ "${RESTARTABLE_FUZZ_STABLE:-}" != 1 ] && grep -q '^nightly' <<<"$(rustup toolchain list 2>/dev/null)"; then
    toolchain=(+nightly)
    sanitizer=address
else
    toolchain=()
    sanitizer=none
    export RUSTC_BOOTSTRAP=1
fi

cd "$root/fuzz"
cargo "${toolchain[@]}" fuzz build -O --sanitizer "$sanitizer"

# fuzz TARGET: runs it for $seconds; its output in its log, its exit status
# in the log's .status.
fuzz() {
    local target=$1 corpus=$root/target/fuzz-corpus/$1 log=$root/target/fuzz-corpus/$1.log dict=()
    mkdir -p "$corpus"
    [ ! -f "$target.dict" ] || dict=(-dict="$target.dict")
    local status=0
    cargo "${toolchain[@]}" fuzz run -O --sanitizer "$sanitizer" "$target" \
        "$corpus" "seeds/$target" -- -max_total_time="$seconds" -print_final_stats=1 \
        "${dict[@]}" > "$log" 2>&1 || status=$?
    echo "$status" > "$log.status"
}

at_once=${FUZZ_JOBS:-$(nproc)}
mkdir -p "$root/target/fuzz-corpus"
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$at_once" ]; do wait -n || true; done
    rm -f "$root/target/fuzz-corpus/$target.log.status"
    echo "== $target, for ${seconds} s (sanitizer: $sanitizer)"
    fuzz "$target" &
done
wait

failed=0
for target in "${targets[@]}"; do
    log=$root/target/fuzz-corpus/$target.log
    echo "-- $target"
    if [ "$(cat "$log.status" 2>/dev/null)" != 0 ]; then
        tail -40 "$log"
        echo "FAIL: $target found a failing input (fuzz/artifacts/$target), or did not run (status $(cat "$log.status" 2>/dev/null || echo unknown))"
        failed=1
        continue
    fi
    # The last status line and the final stats: executions, coverage.
    { grep -E '^#[0-9]+.*(DONE|cov:)' "$log" || true; } | tail -1
    { grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" || true; } | tr '\n' ' '
    echo
done
exit "$failed"
