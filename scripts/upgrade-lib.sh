# shellcheck shell=bash
# Shared by scripts/upgrade-faults.sh and scripts/upgrade-compare.sh (sourced, not run):
# builds the two servers they compare — ours (examples/upgrade.rs) and one made with
# Cloudflare's ecdysis (compare/ecdysis-server) — starts them from a copy of their
# binary, drives wrk, and reads their answers, /proc and ss. Everything on 127.0.0.1;
# every process started is tagged (UPGRADE_RUN_TOKEN in its environment) and killed on exit.

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
# counted as theirs: close them.
close_inherited_fds() {
    local p fd
    for p in "/proc/$$/fd/"*; do
        fd=${p##*/}
        if ((fd > 2)); then exec {fd}>&- 2>/dev/null || true; fi
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

# Every live process started by this run (the token is in its environment).
token_pids() {
    local f pid
    for f in /proc/[0-9]*/environ; do
        pid=${f#/proc/}
        pid=${pid%/environ}
        [ "$pid" = "$$" ] && continue
        if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "UPGRADE_RUN_TOKEN=$token"; then
            echo "$pid"
        fi
    done
}

cleanup_all() {
    local pid
    for pid in "${bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in $(token_pids); do kill -9 "$pid" 2>/dev/null || true; done
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}

free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        if ! ss -Hltn "sport = :$port" | grep -q .; then
            echo "$port"
            return
        fi
    done
    echo "no free port" >&2
    return 1
}

# start_server KIND DIR PORT: copies the binary to DIR/server and DIR/good, starts
# DIR/server; sets srv_pid. Ours gets --ready-timeout 2 (ecdysis's is fixed at 5 s).
start_server() {
    local kind=$1 dir=$2 port=$3 bin args
    mkdir -p "$dir"
    if [ "$kind" = ours ]; then bin=$ours_bin; else bin=$ecdysis_bin; fi
    cp "$bin" "$dir/good"
    cp "$bin" "$dir/server"
    args=(--listen "127.0.0.1:$port")
    [ "$kind" = ours ] && args+=(--ready-timeout 2)
    (cd "$dir" && exec env UPGRADE_RUN_TOKEN="$token" "$dir/server" "${args[@]}" \
        >"$dir/out" 2>"$dir/err") &
    srv_pid=$!
    for _ in $(seq 1 500); do
        grep -q "^serving pid=$srv_pid " "$dir/out" 2>/dev/null && return 0
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.02
    done
    echo "error: $kind server did not start; its stderr:" >&2
    cat "$dir/err" >&2
    return 1
}

# The body of GET / on a new connection, or "none".
probe() {
    curl -s --max-time 2 -H 'Connection: close' "http://127.0.0.1:$1/" 2>/dev/null || echo none
}

listener_inode() {
    ss -Hltne "sport = :$1" | grep -o 'ino:[0-9]*' | head -1 | cut -d: -f2
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
    [ "$mode" = close ] && hdr=(-H 'Connection: close')
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
# non-2xx answers.
stop_wrk() {
    local pid=$1 name=$2
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    awk '
        / requests in / { req = $1 }
        /Socket errors:/ { gsub(",", ""); conn = $4; rd = $6; wr = $8; to = $10 }
        /Non-2xx or 3xx/ { non2 = $NF }
        END { printf "%d %d %d %d\n", req, conn + wr, rd, to + non2 }
    ' "$work/$name.wrk"
}
