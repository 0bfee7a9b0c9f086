#!/usr/bin/env bash
# Measures what restartable costs, side by side with hand-written code, and
# prints a table. Figures, not assertions: this machine is shared and noisy.
#
#  1. syscalls of creating one listener: the attribute, minimal hand-written
#     socket2 code, std::net::TcpListener::bind (strace; installed if missing)
#  2. time per bind+listen+close, the three interleaved in one process,
#     median of rounds, as ratios to hand-written
#  3. a failed bind on a held port: hand-written socket2 (the bare error)
#     and the attribute (whose error names the holder), the port held by this
#     process and by another, then again with 5,000 more TIME_WAIT entries on
#     the host (counted with ss), side by side
#  4. crash to ready with 1,000 server-side TIME_WAIT connections
#  5. build cost: clean build of the runtime and the macro, and `cargo check`
#     of a crate with 100 annotated functions versus the same written by hand
#  6. the macro crate's own build next to tokio-macros 2.7.2's (the closest
#     attribute macro), paired clean rebuilds of just that crate, as each is
#     built when it comes from crates.io; the full run adds instruction counts
#     (valgrind; installed if missing), which this noisy machine cannot blur
#
# Usage: scripts/bench.sh [--quick]   (--quick: fewer rounds, for CI)
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=31 per_round=2000 clients=1000 checks=5 pairs=11 count_instructions=1
failed_rounds=11 failed_per_round=200 time_waits=5000
if [ "${1:-}" = "--quick" ]; then
    rounds=5 per_round=200 clients=200 checks=1 pairs=3 count_instructions=0
    failed_rounds=5 failed_per_round=50
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! command -v strace >/dev/null 2>&1 || ! command -v bc >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace bc >/dev/null
fi

cargo build -q --release -p restartable-tests --bin listener_cost
cargo build -q --release --example crash_restart
bin=$root/target/release

echo "== 1. syscalls of one listener on 127.0.0.1:0 (strace, between two markers)"
for way in macro socket2 std; do
    # Memory management calls are the allocator's, not the listener's.
    strace -e trace='!brk,mmap,munmap,mprotect,madvise' "$bin/listener_cost" syscalls "$way" 2>&1 \
        | sed -n '/restartable-bench-start/,/restartable-bench-end/p' \
        | grep -v -e 'restartable-bench-' -e 'statx(0, NULL' \
        | sed -E 's/ += .*$//; s/[0-9a-f]{6,}//g' > "$work/$way.syscalls"
    echo "-- $way ($(wc -l < "$work/$way.syscalls") calls)"
    sed 's/^/   /' "$work/$way.syscalls"
done
if diff -q "$work/macro.syscalls" "$work/socket2.syscalls" >/dev/null; then
    echo "macro vs hand-written socket2: identical"
else
    echo "macro vs hand-written socket2 differ:"
    diff "$work/socket2.syscalls" "$work/macro.syscalls" || true
fi
echo "macro vs std (differences):"
diff "$work/std.syscalls" "$work/macro.syscalls" | sed 's/^/   /' || true

echo
echo "== 2. time per listener"
"$bin/listener_cost" time "$rounds" "$per_round"

echo
echo "== 3. a failed bind on a held port, and what naming the holder costs"
time_wait_entries() { ss -tan state time-wait | tail -n +2 | wc -l; }
echo "TIME_WAIT entries on the host: $(time_wait_entries)"
"$bin/listener_cost" failed "$failed_rounds" "$failed_per_round" | tee "$work/failed.before"
"$bin/listener_cost" time-wait "$time_waits"
echo "TIME_WAIT entries on the host after $time_waits loopback connections closed by the client: $(time_wait_entries)"
"$bin/listener_cost" failed "$failed_rounds" "$failed_per_round" | tee "$work/failed.after"
# Columns after the label: socket2 µs, restartable µs, ratio.
figure() { awk -v row="$2" -v col="$3" '$0 ~ "^" row " " { print $(NF - 3 + col) }' "$1"; }
printf '%-34s%14s%18s%10s\n' "port held by" "socket2 µs" "restartable µs" "ratio"
for row in "this process" "another process"; do
    for when in before after; do
        label="$row"
        [ "$when" = after ] && label="$row, +$time_waits TIME_WAIT"
        printf '%-34s%14s%18s%10s\n' "$label" "$(figure "$work/failed.$when" "$row" 1)" \
            "$(figure "$work/failed.$when" "$row" 2)" "$(figure "$work/failed.$when" "$row" 3)"
    done
done
printf 'restartable with %s more TIME_WAIT entries / without, port held by this process: %.2f\n' \
    "$time_waits" "$(echo "scale=4; $(figure "$work/failed.after" "this process" 2) / $(figure "$work/failed.before" "this process" 2)" | bc)"

echo
echo "== 4. crash to ready with $clients server-side TIME_WAIT connections"
"$bin/examples/crash_restart" --clients "$clients"

echo
echo "== 5. build cost"
start=$(date +%s.%N)
CARGO_TARGET_DIR=$work/clean cargo build -q -p restartable
end=$(date +%s.%N)
printf 'clean build (debug) of restartable + restartable-macros and their dependencies: %.1f s\n' \
    "$(echo "$end - $start" | bc)"

# Two crates with 100 listener functions each: annotated, and by hand.
for kind in macro hand; do
    mkdir -p "$work/$kind/src"
    cat > "$work/$kind/Cargo.toml" <<TOML
[package]
name = "hundred-$kind"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
restartable = { path = "$root/runtime" }

[workspace]
TOML
    {
        echo 'use std::io;'
        if [ "$kind" = macro ]; then
            echo 'use std::net::TcpListener;'
        else
            echo 'use std::net::{Ipv4Addr, SocketAddr, TcpListener};'
            echo 'use restartable::socket2::{Domain, Socket, Type};'
        fi
        for i in $(seq 1 100); do
            if [ "$kind" = macro ]; then
                echo "#[restartable::restartable_listener(host = \"127.0.0.1\", port = $((20000 + i)))]"
                echo "pub fn listener_$i() -> io::Result<TcpListener> {}"
            else
                echo "pub fn listener_$i() -> io::Result<TcpListener> {"
                echo "    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;"
                echo "    #[cfg(unix)]"
                echo "    socket.set_reuse_address(true)?;"
                echo "    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, $((20000 + i)))).into())?;"
                echo "    socket.listen(1024)?;"
                echo "    Ok(socket.into())"
                echo "}"
            fi
        done
    } > "$work/$kind/src/lib.rs"
    # Dependencies first, so that only the crate itself is timed.
    (cd "$work/$kind" && CARGO_TARGET_DIR=$work/hundred cargo check -q)
done
median_check() {
    local kind=$1 times=()
    for _ in $(seq 1 "$checks"); do
        touch "$work/$kind/src/lib.rs"
        local start end
        start=$(date +%s.%N)
        (cd "$work/$kind" && CARGO_TARGET_DIR=$work/hundred cargo check -q)
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (checks + 1) / 2 ))p"
}
hand=$(median_check hand)
macro=$(median_check macro)
printf 'cargo check of 100 listener functions (median of %s): by hand %.3f s, annotated %.3f s, delta %+.3f s\n' \
    "$checks" "$hand" "$macro" "$(echo "$macro - $hand" | bc)"

echo
echo "== 6. the macro crate's build next to tokio-macros 2.7.2's"
# One scratch crate depending on both, so that syn, quote and proc-macro2 are
# built once and shared; each round cleans and rebuilds one of the two. As a
# crates.io dependency is built: not incremental, lints capped.
mkdir -p "$work/pair/src"
cat > "$work/pair/Cargo.toml" <<TOML
[package]
name = "macro-build-pair"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
restartable-macros = { path = "$root/macros" }
tokio-macros = "=2.7.2"

[workspace]
TOML
touch "$work/pair/src/lib.rs"
# rustc's own time for the two macro crates, from a wrapper around it.
cat > "$work/timed-rustc" <<'SH'
#!/usr/bin/env bash
name=
for arg in "$@"; do [ "${prev:-}" = --crate-name ] && name=$arg; prev=$arg; done
case $name in
restartable_macros | tokio_macros)
    start=$(date +%s%N)
    if [ -n "${COUNT_INSTRUCTIONS:-}" ]; then
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
            --log-file="$PAIR_LOG.$name.vg" "$@"
    else
        "$@"
    fi
    status=$?
    echo "$name $(( ($(date +%s%N) - start) / 1000000 ))" >> "$PAIR_LOG"
    exit $status ;;
*) exec "$@" ;;
esac
SH
chmod +x "$work/timed-rustc"
pair_build() {
    (cd "$work/pair" && CARGO_TARGET_DIR=$work/pair-target CARGO_INCREMENTAL=0 \
        RUSTFLAGS="--cap-lints allow" RUSTC_WRAPPER=$work/timed-rustc PAIR_LOG=$work/pair.log \
        COUNT_INSTRUCTIONS="${COUNT_INSTRUCTIONS:-}" \
        cargo build -q "$@")
}
pair_build
: > "$work/pair.log"
for _ in $(seq 1 "$pairs"); do
    for krate in restartable-macros tokio-macros; do
        (cd "$work/pair" && CARGO_TARGET_DIR=$work/pair-target cargo clean -q -p "$krate")
        pair_build
    done
done
median_ms() {
    grep "^$1 " "$work/pair.log" | awk '{print $2}' | sort -n | sed -n "$(( (pairs + 1) / 2 ))p"
}
ours=$(median_ms restartable_macros)
theirs=$(median_ms tokio_macros)
printf 'rustc time, median of %s paired clean rebuilds: restartable-macros %s ms, tokio-macros %s ms, ratio %.2f\n' \
    "$pairs" "$ours" "$theirs" "$(echo "scale=4; $ours / $theirs" | bc)"
if [ "$count_instructions" = 1 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
    fi
    for krate in restartable-macros tokio-macros; do
        (cd "$work/pair" && CARGO_TARGET_DIR=$work/pair-target cargo clean -q -p "$krate")
        COUNT_INSTRUCTIONS=1 pair_build
    done
    instructions() {
        grep 'I *refs' "$work/pair.log.$1.vg" | awk '{print $NF}' | tr -d ,
    }
    ours=$(instructions restartable_macros)
    theirs=$(instructions tokio_macros)
    printf 'instructions rustc executed (valgrind): restartable-macros %s, tokio-macros %s, ratio %.3f\n' \
        "$ours" "$theirs" "$(echo "scale=4; $ours / $theirs" | bc)"
fi
