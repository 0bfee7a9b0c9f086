# shellcheck shell=bash
# Shared by scripts/upgrade-faults.sh and scripts/upgrade-compare.sh (sourced, not run):
# builds the two servers they compare — ours (examples/upgrade.rs) and one made with
# Cloudflare's ecdysis (compare/ecdysis-server) — starts them from a copy of their
# binary, drives wrk, and reads their answers, /proc and ss. Everything on 127.0.0.1;
# every process started is tagged (UPGRADE_RUN_TOKEN in its environment) and killed on exit.
# The bounds below are for a loaded machine: they end a wait that would otherwise hang,
# and a check that meets one fails with a message saying what it waited for.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "${BASH_SOURCE[0]}")/on-error.sh"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# OURS_BIN=PATH measures that build of examples/upgrade.rs instead of building it here.
ours_bin=${OURS_BIN:-$root/target/release/examples/upgrade}
ecdysis_bin=$root/target/compare/release/ecdysis-server
token="upgrade-run-$$-$RANDOM"
work=$(mktemp -d /tmp/upgrade-run.XXXXXX)
bg_pids=()

now() { echo "$EPOCHREALTIME"; }
# Seconds between two $EPOCHREALTIME values, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# Descriptors this shell inherited (beyond 0-2) would be inherited by every server and
# counted as theirs: close them. (Not bash's own 255, which is close-on-exec. The
# redirection of the message is on a group: on `exec` itself it would send this shell's
# stderr to /dev/null for good.)
close_inherited_fds() {
    local p fd
    for p in "/proc/$$/fd/"*; do
        fd=${p##*/}
        if ((fd > 2 && fd != 255)); then { exec {fd}>&-; } 2>/dev/null || true; fi
    done
}

need_tools() {
    local tool missing=0
    for tool in wrk curl ss; do command -v "$tool" >/dev/null || missing=1; done
    if ((missing)); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            wrk curl iproute2 >/dev/null
    fi
}

# Builds what exists. Sets have_ours=1 when examples/upgrade.rs is there.
build_servers() {
    have_ours=0
    if [ -n "${OURS_BIN:-}" ]; then
        have_ours=1
    elif [ -f "$root/examples/upgrade.rs" ]; then
        (cd "$root" && cargo build -q --release --example upgrade)
        # shellcheck disable=SC2034 # read by the scripts that source this file
        have_ours=1
    else
        echo "note: examples/upgrade.rs is absent: only the ecdysis server is measured" >&2
    fi
    CARGO_TARGET_DIR=$root/target/compare cargo build -q --release \
        --manifest-path "$root/compare/ecdysis-server/Cargo.toml"
}

# Every live process started by this run (the token is in its environment): one grep
# over all environments (-z: NUL-separated entries). A loop of `tr | grep -q` per process
# took 0.4 s for 100 processes at load 12 (this takes 6 ms), in waits that are timed, and
# under pipefail missed a process whenever grep -q quit before tr had written all. Processes that end meanwhile or are
# not readable are skipped (grep's status 2).
token_pids() {
    { grep -lxzF "UPGRADE_RUN_TOKEN=$token" /proc/[0-9]*/environ 2>/dev/null || true; } |
        sed -n 's#^/proc/\([0-9]*\)/environ$#\1#p' | grep -vx "$$" || true
}

cleanup_all() {
    local pid
    for pid in "${bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in $(token_pids); do kill -9 "$pid" 2>/dev/null || true; done
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}

# A port below the ephemeral range on which no socket at all is bound (not only no
# listener): a port that is the local end of another program's connection, or in its
# TIME_WAIT, cannot be bound (AddrInUse), and the ephemeral range is where those are.
free_port() {
    local port ephemeral
    ephemeral=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    for _ in $(seq 1 100); do
        port=$((10000 + RANDOM % (ephemeral - 10000)))
        if [ -z "$(ss -tanH "( sport = :$port )")" ]; then
            echo "$port"
            return 0
        fi
    done
    echo "error: no free port below $ephemeral after 100 tries" >&2
    return 1
}

# start_server KIND DIR PORT: copies the binary to DIR/server and DIR/good, starts
# DIR/server; sets srv_pid. Ours gets --ready-timeout 2 (ecdysis's is fixed at 5 s).
# Waits up to 60 s for its serving line (a loaded machine is slow, not wrong).
start_server() {
    local kind=$1 dir=$2 port=$3 bin args deadline
    mkdir -p "$dir"
    if [ "$kind" = ours ]; then bin=$ours_bin; else bin=$ecdysis_bin; fi
    cp "$bin" "$dir/good"
    cp "$bin" "$dir/server"
    args=(--listen "127.0.0.1:$port")
    if [ "$kind" = ours ]; then args+=(--ready-timeout 2); fi
    (cd "$dir" && exec env UPGRADE_RUN_TOKEN="$token" "$dir/server" "${args[@]}" \
        >"$dir/out" 2>"$dir/err") &
    srv_pid=$!
    deadline=$((${EPOCHREALTIME/./} + 60000000))
    while ((${EPOCHREALTIME/./} < deadline)); do
        if grep -q "^serving pid=$srv_pid " "$dir/out" 2>/dev/null; then return 0; fi
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.02
    done
    if kill -0 "$srv_pid" 2>/dev/null; then
        echo "error: the $kind server (pid $srv_pid, 127.0.0.1:$port) did not say it serves within 60 s; its output:" >&2
    else
        echo "error: the $kind server (127.0.0.1:$port) exited before it served; its output:" >&2
    fi
    cat "$dir/out" "$dir/err" >&2
    return 1
}

# The body of GET / on a new connection, or "none". 10 s: on a loaded machine an answer
# may be slow; a refused or reset connection is "none" at once.
probe() {
    curl -s --max-time 10 -H 'Connection: close' "http://127.0.0.1:$1/" 2>/dev/null || echo none
}

# The inode of the socket listening on 127.0.0.1:PORT; fails (saying so) when none does.
listener_inode() {
    local ino
    # awk reads to the end (no early exit): ss must not die of SIGPIPE under pipefail.
    ino=$(ss -Hltne "sport = :$1" |
        awk '!found && match($0, /ino:[0-9]+/) { print substr($0, RSTART + 4, RLENGTH - 4); found = 1 }')
    if [ -z "$ino" ]; then
        echo "error: nothing listens on port $1 (ss -ltne)" >&2
        return 1
    fi
    echo "$ino"
}

# Processes of this run holding the socket with inode $1 among their descriptors.
holders_of() {
    local ino=$1 pid f
    [ -n "$ino" ] || return 0
    for pid in $(token_pids); do
        for f in /proc/"$pid"/fd/*; do
            if [ "$(readlink "$f" 2>/dev/null)" = "socket:[$ino]" ]; then
                echo "$pid"
                break
            fi
        done
    done
}

vm_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# start_wrk NAME PORT MODE(keepalive|close): sets wrk_pid; output in $work/NAME.wrk.
# Two connections, 1 ms pause between a connection's requests: a steady load that
# leaves the two shared cores to the servers.
start_wrk() {
    local name=$1 port=$2 mode=$3 hdr=()
    [ -f "$work/delay.lua" ] || echo 'function delay() return 1 end' >"$work/delay.lua"
    if [ "$mode" = close ]; then hdr=(-H 'Connection: close'); fi
    wrk -t1 -c2 -d600s --timeout 2s -s "$work/delay.lua" "${hdr[@]}" \
        "http://127.0.0.1:$port/" >"$work/$name.wrk" 2>&1 &
    wrk_pid=$!
    bg_pids+=("$wrk_pid")
}

# stop_wrk PID NAME: stops it (wrk prints its figures on SIGINT) and prints
# "requests refused reset failed" where refused = connect + write errors (wrk's connect
# is non-blocking: on loopback a refused connect shows as its first write failing),
# reset = read errors (wrk also counts here a keep-alive connection the server closes
# while idle, which a server that drains does once per connection), failed = timeouts +
# non-2xx answers. Fails, saying so, when wrk printed no figures (killed after 30 s
# without them, or never ran): zeros there would read as a clean run. Call it as
# `figures=$(stop_wrk ...)`, so that the failure stops the caller.
stop_wrk() {
    local pid=$1 name=$2 deadline
    kill -INT "$pid" 2>/dev/null || true
    deadline=$((${EPOCHREALTIME/./} + 30000000))
    while kill -0 "$pid" 2>/dev/null && ((${EPOCHREALTIME/./} < deadline)); do sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ! grep -q ' requests in ' "$work/$name.wrk"; then
        echo "error: wrk ($name, pid $pid) printed no figures; its output:" >&2
        cat "$work/$name.wrk" >&2
        return 1
    fi
    awk '
        / requests in / { req = $1 }
        /Socket errors:/ { gsub(",", ""); conn = $4; rd = $6; wr = $8; to = $10 }
        /Non-2xx or 3xx/ { non2 = $NF }
        END { printf "%d %d %d %d\n", req, conn + wr, rd, to + non2 }
    ' "$work/$name.wrk"
}
