#!/usr/bin/env bash
# The zero-downtime upgrade under load, on loopback. One server
# (examples/upgrade.rs, `--listen 127.0.0.1:PORT`) is upgraded N times in a
# row, one trigger every 0.5 s, alternately by SIGHUP and by
# `upgrade --upgrade PID` (its exit status and output checked), under each
# load in turn:
#   wrk keep-alive; wrk with `Connection: close`; oha with and without
#   --disable-keepalive (full run only); tests/src/bin/upgrade_load.rs (which
#   classifies every attempt: ok per generation, refused, reset, eof,
#   timeout, and keep-alive connections the server closed) with a new
#   connection per request and with keep-alive.
# After each upgrade it follows the new pid (GET / until the generation is
# one more), checks that the old pid is gone within its drain deadline plus
# slack, and records the survivor's descriptors and RSS.
# A queued-connection test: connections that completed the handshake while
# the server was stopped (SIGSTOP) are all answered across an upgrade.
# Controls, under the same classifying load: (i) rebind: the old exits and a
# new process binds the port itself (tests/src/bin/http_server.rs, the
# attribute): refused > 0; (ii) SO_REUSEPORT overlap (tests/src/bin/
# upgrade_control.rs): the queue of the closed socket is reset: reset > 0;
# (iii) the same in a network namespace with net.ipv4.tcp_migrate_req=1:
# reset = 0.
# It fails when the upgrade refuses, resets or fails a request (wrk/oha
# errors, the client's failed count), an upgrade fails, the old pid
# outlives its deadline + slack, the survivor's descriptors (those that are
# not client connections) grow, a queued connection is lost, or a control
# does not show its failure. Timings are reported, not asserted.
#
# Usage: scripts/upgrade-check.sh [--quick] [--upgrades N]
#   --quick: 5 upgrades per load, wrk and the client only, 5 per control;
#            about 1 minute after the build. Needs wrk and iproute2
#            (installed with apt-get when missing), root for the namespace.
#   full:    100 upgrades per load, oha too (cargo install, cached), 20 per
#            control; about 10 minutes.
#   --upgrades N: N upgrades per load instead.
# UPGRADE_BIN=path runs it against another server with the same contract,
# with UPGRADE_ARGS (words) after its --listen and --drain-timeout. For
# the servers of frameworks/ (scripts/frameworks-upgrade-check.sh):
#   UPGRADE_LOADS_ONLY=1: the loads only (no queued-connection test, no
#     controls).
#   UPGRADE_STRICT_DRAIN=1: a keep-alive connection may end only after a
#     response that said `Connection: close`: the client's drain_eof and
#     reused_reset must be 0 (the server closed no connection a request
#     may have been on its way to).
#   UPGRADE_STREAM=/path: before each upgrade a long-lived GET of that path
#     starts (curl -N), on the generation about to be replaced; it must
#     end cleanly with a last line `end` before that generation exits.
# Its waits are bounded for a loaded machine (tens of seconds where a quiet
# one needs milliseconds); none decides a result by how fast it was.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0 upgrades=100 controls=20 count=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 upgrades=5 controls=5 ;;
        --upgrades) count=${2:?--upgrades needs a number}; shift ;;
        *) echo "usage: scripts/upgrade-check.sh [--quick] [--upgrades N]" >&2; exit 2 ;;
    esac
    shift
done
upgrades=${count:-$upgrades}
interval=0.5 workers=8 drain_timeout=5 slack=10
loads_only=${UPGRADE_LOADS_ONLY:-0} strict_drain=${UPGRADE_STRICT_DRAIN:-0} stream_path=${UPGRADE_STREAM:-}
read -r -a server_args <<<"${UPGRADE_ARGS:-}"
if ! command -v wrk >/dev/null || ! command -v ip >/dev/null || ! command -v ss >/dev/null || ! command -v curl >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk iproute2 curl >/dev/null
fi
tools=${XDG_CACHE_HOME:-$HOME/.cache}/restartable-tools
if [ "$quick" = 0 ] && [ ! -x "$tools/bin/oha" ]; then
    cargo install oha --version 1.16.0 --locked --quiet --root "$tools"
fi
# The load client and the controls' servers: fixtures of the tests package.
cargo build -q --release -p restartable-tests --bin upgrade_load --bin upgrade_control --bin http_server
bin=$root/target/release
if [ -z "${UPGRADE_BIN:-}" ]; then
    cargo build -q --release --example upgrade
fi
upgrade=${UPGRADE_BIN:-$bin/examples/upgrade}
work=$(mktemp -d)
netns=upgrade-check-$$
pids=()
streams=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    # Every server generation seen (a new one runs in its own process group).
    if [ -s "$work/servers" ]; then
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$work/servers"
    fi
    ip netns pids "$netns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$netns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
: > "$work/servers"
failed=0
fail() {
    echo "FAIL: $*"
    failed=1
}

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# A port below the ephemeral range with nothing on it and no TIME_WAIT.
free_port() {
    local port ephemeral
    ephemeral=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    for _ in $(seq 100); do
        port=$((10000 + RANDOM % (ephemeral - 10000)))
        if [ -z "$(ss -tanH "( sport = :$port )")" ]; then
            echo "$port"
            return
        fi
    done
    echo "error: no free port below $ephemeral after 100 tries" >&2
    return 1
}

# Waits up to 30 s for a line of FILE that starts with TEXT; fails, saying
# so, when none comes.
await_line() {
    local file=$1 text=$2 deadline=$((${EPOCHREALTIME/./} + 30000000))
    until grep -q "^$text" "$file" 2>/dev/null; do
        if ((${EPOCHREALTIME/./} >= deadline)); then
            echo "error: no line \"$text\" in $file within 30 s; it ends: $(tail -n 3 "$file" 2>/dev/null | tr '\n' ' ')" >&2
            return 1
        fi
        sleep 0.01
    done
}

# The body of GET / on a new connection (`pid=P generation=N`), or nothing.
body() {
    local port=$1 line last=""
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
    while IFS= read -r -t 2 line <&3; do last=${line%$'\r'}; done
    exec 3<&-
    [[ $last == pid=* ]] && echo "$last"
}

# Succeeds when PID has exited (absent, or a zombie not yet reaped).
gone() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [ "${stat%% *}" = Z ]
}

# The survivor's descriptors: all, and all but the client connections on
# $port (sockets whose inode /proc/net/tcp lists on that port, not listening).
fds() {
    local pid=$1 port=$2 links conns total others
    links=$(find "/proc/$pid/fd" -mindepth 1 -printf '%l\n' 2>/dev/null) || true
    total=$(grep -c . <<<"$links" || true)
    conns=$(awk -v p="$(printf ':%04X' "$port")" \
        'NR > 1 && $4 != "0A" && (substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p) {print "socket:[" $10 "]"}' \
        /proc/net/tcp | sort -u)
    if [ -n "$conns" ]; then
        others=$(grep -cvxFf <(echo "$conns") <<<"$links" || true)
    else
        others=$total
    fi
    echo "$total $others"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Statistics of a column of numbers: median / max.
median_max() {
    sort -n | awk '{a[NR] = $1} END {if (NR) printf "%d / %d", a[int((NR + 1) / 2)], a[NR]; else printf "-"}'
}

# --- the server under test ---
port=$(free_port)
: > "$work/server.out"
"$upgrade" --listen "127.0.0.1:$port" --drain-timeout "$drain_timeout" "${server_args[@]}" > "$work/server.out" 2> "$work/server.err" &
server=$!
pids+=("$server")
echo "$server" >> "$work/servers"
await_line "$work/server.out" serving || true
grep -q "^serving pid=$server generation=0" "$work/server.out" || {
    cat "$work/server.out" "$work/server.err"
    echo "FAIL: the server did not print its serving line"
    exit 1
}
generation=0
first_fds=""

# One upgrade of the current server, by SIGHUP or `upgrade --upgrade`; sets
# $server and $generation to the new process and appends a line to
# $work/upgrades: label trigger_ms how follow_ms gone_ms fds_total fds_other rss_kb
upgrade_once() {
    local label=$1 how=$2 old=$server out status trigger body_now new="" followed gone_at fd_counts
    trigger=$(now_ms)
    if [ "$how" = signal ]; then
        kill -HUP "$old"
    else
        status=0
        out=$("$upgrade" --upgrade "$old" 2> "$work/upgrade.err") || status=$?
        if [ "$status" != 0 ] || ! [[ $out =~ ^upgraded:\ pid=([0-9]+)\ generation=$((generation + 1))$ ]]; then
            fail "$label: upgrade --upgrade $old exited $status: ${out:-} $(cat "$work/upgrade.err")"
            return 1
        fi
        new=${BASH_REMATCH[1]}
    fi
    # Follow: GET / until a generation one more answers.
    followed=""
    while [ $(($(now_ms) - trigger)) -lt 30000 ]; do
        body_now=$(body "$port" 2>/dev/null) || true
        if [[ $body_now =~ ^pid=([0-9]+)\ generation=$((generation + 1))$ ]]; then
            followed=$(now_ms)
            break
        fi
        sleep 0.005
    done
    if [ -z "$followed" ]; then
        fail "$label: no answer from generation $((generation + 1)) within 30 s of the trigger ($how)"
        return 1
    fi
    if [ -n "$new" ] && [ "$new" != "${BASH_REMATCH[1]}" ]; then
        fail "$label: upgrade --upgrade said pid=$new, generation $((generation + 1)) answers from ${BASH_REMATCH[1]}"
    fi
    new=${BASH_REMATCH[1]}
    echo "$new" >> "$work/servers"
    gone_at=""
    while [ $(($(now_ms) - followed)) -lt $(((drain_timeout + slack) * 1000)) ]; do
        if gone "$old"; then
            gone_at=$(now_ms)
            break
        fi
        sleep 0.005
    done
    if [ -z "$gone_at" ]; then
        fail "$label: the old pid $old still runs $((drain_timeout + slack)) s after the new generation answered"
        gone_at=$(now_ms)
    fi
    { wait "$old"; } 2>/dev/null || true
    server=$new
    generation=$((generation + 1))
    fd_counts=$(fds "$server" "$port")
    echo "$label $trigger $how $((followed - trigger)) $((gone_at - trigger)) $fd_counts $(rss_kb "$server")" >> "$work/upgrades"
}

# N upgrades, one every $interval, each trigger alternating signal / command.
upgrades_run() {
    local label=$1 i how
    for i in $(seq "$upgrades"); do
        if [ $((i % 2)) = 0 ]; then how=command; else how=signal; fi
        if [ -n "$stream_path" ]; then
            # On the generation about to be replaced: its first line is
            # there before the trigger.
            # Its status in a file: bash forgets a child's status among
            # hundreds of others.
            (
                status=0
                curl -sN --max-time $((drain_timeout + slack)) "http://127.0.0.1:$port$stream_path" \
                    > "$work/stream-${#streams[@]}" 2>/dev/null || status=$?
                echo "$status" > "$work/stream-${#streams[@]}.status"
            ) &
            streams+=("$!")
            pids+=("$!")
            for _ in $(seq 100); do [ -s "$work/stream-$((${#streams[@]} - 1))" ] && break; sleep 0.01; done
        fi
        upgrade_once "$label" "$how" || return 0
        sleep "$interval"
    done
}

wrk_figures() { # requests connect read write timeout non2xx
    local out=$1 requests errors non2xx
    requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
    errors=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out")
    non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$out")
    echo "${requests:-0} ${errors:-0 0 0 0} ${non2xx:-0}"
}

rows=()
# (label, load kind); the client's two modes last.
loads=("wrk keep-alive|wrk" "wrk Connection: close|wrk-close")
if [ "$quick" = 0 ]; then
    loads+=("oha keep-alive|oha" "oha --disable-keepalive|oha-close")
fi
loads+=("upgrade_load --new-connection|client-new" "upgrade_load --keep-alive|client-keep")

for entry in "${loads[@]}"; do
    label=${entry%%|*} kind=${entry##*|}
    out=$work/$kind.out
    rm -f "$work/stop"
    case $kind in
        wrk) wrk -t2 -c"$workers" -d600s --timeout 2s "http://127.0.0.1:$port/" > "$out" 2>&1 & ;;
        wrk-close) wrk -t2 -c"$workers" -d600s --timeout 2s -H 'Connection: close' "http://127.0.0.1:$port/" > "$out" 2>&1 & ;;
        oha) "$tools/bin/oha" -c "$workers" -z 600s -t 2s --no-tui --output-format json "http://127.0.0.1:$port/" > "$out" 2>&1 & ;;
        oha-close) "$tools/bin/oha" -c "$workers" -z 600s -t 2s --no-tui --output-format json --disable-keepalive "http://127.0.0.1:$port/" > "$out" 2>&1 & ;;
        client-new) "$bin/upgrade_load" --connect "127.0.0.1:$port" --workers "$workers" --duration 600 --until "$work/stop" --new-connection > "$out" 2>&1 & ;;
        client-keep) "$bin/upgrade_load" --connect "127.0.0.1:$port" --workers "$workers" --duration 600 --until "$work/stop" --keep-alive > "$out" 2>&1 & ;;
    esac
    load=$!
    pids+=("$load")
    before=$generation
    sleep 0.5
    upgrades_run "$label"
    sleep 0.5
    touch "$work/stop"
    kill -INT "$load" 2>/dev/null || true
    wait "$load" || true
    done_upgrades=$((generation - before))
    case $kind in
        wrk*)
            read -r requests connect read write timeout non2xx <<<"$(wrk_figures "$out")"
            errors="connect $connect, read $read, write $write, timeout $timeout, non-2xx $non2xx"
            bad=$((connect + read + write + timeout + non2xx))
            # No figures read as none failed: a load that made no request proves nothing.
            if [ "$requests" = 0 ]; then
                fail "$label: wrk made no request; its output: $(tr '\n' ' ' < "$out")"
            fi
            ;;
        oha*)
            # oha's JSON, flattened: {"200":N,...} and {"error text":N,...}.
            flat=$(tr -d '\n' < "$out" | tr -s ' ')
            codes=$(grep -o '"statusCodeDistribution": *{[^}]*}' <<<"$flat" | sed 's/^[^{]*//') || codes="{}"
            errors=$(grep -o '"errorDistribution": *{[^}]*}' <<<"$flat" | sed 's/^[^{]*//') || errors="?"
            requests=$(grep -o '"200": *[0-9]*' <<<"$codes" | grep -o '[0-9]*$' || echo 0)
            # The requests in flight when it stops count as "aborted due to deadline".
            # (No error, or only status 200, is no match: grep's 1 is not a failure here.)
            bad=$( { grep -o '"[^"]*": *[0-9]*' <<<"$errors" | grep -v '^"aborted due to deadline"' | grep -o ': *[0-9]*' || true
                grep -v '"200"' <<<"$(grep -o '"[0-9]*": *[0-9]*' <<<"$codes" || true)" | grep -o ': *[0-9]*' || true; } \
                | tr -d '": ' | awk '{s += $1} END {print s + 0}')
            errors="status $codes, errors $errors"
            ;;
        client*)
            summary=$(grep '^summary ' "$out")
            requests=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$summary")
            errors="$(grep -o 'refused=[0-9]* reset=[0-9]* eof=[0-9]* timeout=[0-9]* other=[0-9]*' <<<"$summary"), $(grep -o 'drain_closed=[0-9]* drain_eof=[0-9]* drain_header=[0-9]* reused_reset=[0-9]*' <<<"$summary")"
            bad=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$summary")
            ;;
    esac
    follow=$(awk -v l="$label" '{n = split($0, f, " "); if (substr($0, 1, length(l)) == l) print f[n - 4]}' "$work/upgrades" | median_max)
    goneq=$(awk -v l="$label" '{n = split($0, f, " "); if (substr($0, 1, length(l)) == l) print f[n - 3]}' "$work/upgrades" | median_max)
    fdq=$(awk -v l="$label" 'substr($0, 1, length(l) + 1) == l " " {print $(NF - 1)}' "$work/upgrades" | sort -n | awk 'NR == 1 {min = $1} {max = $1} END {if (NR) printf "%d..%d", min, max; else printf "-"}')
    rows+=("| $label | $done_upgrades | $requests | $errors | $follow | $goneq | $fdq |")
    if [ "$done_upgrades" != "$upgrades" ]; then
        fail "$label: $done_upgrades of $upgrades upgrades done"
    fi
    if [ "${bad:-1}" != 0 ]; then
        fail "$label: failed requests under upgrades: $errors"
    fi
    if [ "$strict_drain" = 1 ] && [ "$kind" = client-keep ] && ! grep -q ' drain_eof=0 .* reused_reset=0' <<<"$summary"; then
        fail "$label: keep-alive connections closed without a response that said Connection: close: $errors"
    fi
    if [ "$kind" = client-keep ] && grep -q 'reused_reset=[1-9]' <<<"$summary"; then
        echo "note: $label: $(grep -o 'reused_reset=[0-9]*' <<<"$summary") keep-alive requests reset on a connection the server was closing"
    fi
    cp "$out" "$work/$kind.kept"
done

# --- the long-lived responses: each ended cleanly by its generation ---
stream_rows=()
if [ -n "$stream_path" ]; then
    clean=0 cut=0 cut_list=""
    for i in "${!streams[@]}"; do
        for _ in $(seq $(((drain_timeout + slack + 5) * 10))); do
            [ -s "$work/stream-$i.status" ] && break
            sleep 0.1
        done
        status=$(cat "$work/stream-$i.status" 2>/dev/null || echo "no status")
        if [ "$status" = 0 ] && [ "$(tail -n 1 "$work/stream-$i")" = end ]; then
            clean=$((clean + 1))
        else
            cut=$((cut + 1))
            cut_list+=" #$i (curl $status, $(wc -l < "$work/stream-$i") lines, last: $(tail -n 1 "$work/stream-$i"))"
        fi
    done
    stream_rows+=("| GET $stream_path, one started before each upgrade | ${#streams[@]} | $clean | $cut |")
    if [ "$cut" != 0 ]; then
        fail "streams: $cut of ${#streams[@]} did not end with their last line:$cut_list"
    fi
fi

if [ "$loads_only" = 1 ]; then
    echo
    echo "== upgrade under load: $workers connections, one upgrade every ${interval}s (SIGHUP and upgrade --upgrade alternately), --drain-timeout $drain_timeout"
    echo "| load | upgrades | requests ok | errors | trigger to new generation answering, ms (median / max) | trigger to old pid gone, ms (median / max) | survivor's descriptors, not client connections |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    if [ -n "$stream_path" ]; then
        echo
        echo "== long-lived responses"
        echo "| request | started | ended cleanly (last line \`end\`) | cut |"
        echo "| --- | --- | --- | --- |"
        printf '%s\n' "${stream_rows[@]}"
    fi
    exit "$failed"
fi

# --- the queued-connection test ---
# SIGSTOP the server; open $queued connections (the kernel completes each
# handshake: they wait in the listening socket's queue) and send a request
# on each; SIGHUP (pending while stopped) and SIGCONT; read every response.
# Every connection was queued before the new process existed, so each one
# the new generation answers was still in the queue when the old stopped
# accepting and closed its listener: it was carried over, not lost. The old
# accepts some first (SIGCONT wakes its accept loop before the upgrade
# commits); up to 3 rounds until the new generation answers some.
queued=200
queued_rows=()
carried=0
for round in 1 2 3; do
    old=$server
    kill -STOP "$old"
    fds_open=()
    for _ in $(seq "$queued"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port"
        printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
        fds_open+=("$fd")
    done
    in_queue=$(ss -ltnH "( sport = :$port )" | awk '{print $2}')
    kill -HUP "$old"
    kill -CONT "$old"
    : > "$work/queued"
    for fd in "${fds_open[@]}"; do
        last=""
        while IFS= read -r -t 5 line <&"$fd"; do last=${line%$'\r'}; done
        exec {fd}<&-
        echo "${last:-none}" >> "$work/queued"
    done
    answered=$(grep -c '^pid=' "$work/queued" || true)
    by_new=$(grep -c "generation=$((generation + 1))\$" "$work/queued" || true)
    by_generation=$(grep -o 'generation=[0-9]*' "$work/queued" | sort | uniq -c | awk '{printf "%s%s: %s", sep, $2, $1; sep = ", "}')
    # Follow the upgrade the SIGHUP started.
    next=""
    deadline=$((${EPOCHREALTIME/./} + 30000000))
    while ((${EPOCHREALTIME/./} < deadline)); do
        if [[ $(body "$port" 2>/dev/null) =~ ^pid=([0-9]+)\ generation=$((generation + 1))$ ]]; then
            next=${BASH_REMATCH[1]}
            break
        fi
        sleep 0.01
    done
    if [ -n "$next" ]; then
        echo "$next" >> "$work/servers"
        for _ in $(seq 200); do gone "$old" && break; sleep 0.05; done
        { wait "$old"; } 2>/dev/null || true
        server=$next generation=$((generation + 1))
    else
        fail "queued: no upgrade within 30 s after SIGHUP and SIGCONT"
    fi
    queued_rows+=("| round $round: SIGSTOP, $queued connected and sent, SIGHUP, SIGCONT | $in_queue | $answered | $by_generation |")
    if [ "$answered" != "$queued" ]; then
        fail "queued: round $round: $answered of $queued queued connections answered"
    fi
    if [ "$by_new" -gt 0 ]; then
        carried=1
        break
    fi
done
if [ "$carried" = 0 ]; then
    fail "queued: in 3 rounds the old generation answered every queued connection: carry-over not shown"
fi

# Descriptors and RSS of the survivors, over all the upgrades above.
first_others=$(awk 'NR == 1 {print $(NF - 1)}' "$work/upgrades")
last_others=$(awk 'END {print $(NF - 1)}' "$work/upgrades")
others_range=$(awk '{print $(NF - 1)}' "$work/upgrades" | sort -n | awk 'NR == 1 {min = $1} {max = $1} END {printf "%d..%d", min, max}')
totals_range=$(awk '{print $(NF - 2)}' "$work/upgrades" | sort -n | awk 'NR == 1 {min = $1} {max = $1} END {printf "%d..%d", min, max}')
rss_first=$(awk 'NR == 1 {print $NF}' "$work/upgrades")
rss_last=$(awk 'END {print $NF}' "$work/upgrades")
rss_max=$(awk '{print $NF}' "$work/upgrades" | sort -n | tail -1)
upgrades_total=$(wc -l < "$work/upgrades")
if [ "$first_others" != "$last_others" ]; then
    fail "descriptors other than client connections went from $first_others to $last_others over $upgrades_total upgrades"
fi

# --- controls, under the classifying load (--new-connection) ---
# Each: start the load, $controls "upgrades" the control's way, stop it.
control_rows=()
control() { # control LABEL KIND [NETNS]
    local label=$1 kind=$2 ns=${3:-} cport out load i pid next gen=0 run=()
    cport=$(free_port)
    out=$work/control-$kind.out
    if [ -n "$ns" ]; then run=(ip netns exec "$ns"); fi
    rm -f "$work/stop" "$work"/trigger-* "$work/ctl.log"
    case $kind in
        rebind) "${run[@]}" "$bin/http_server" restartable "$cport" > "$work/ctl.log" 2>&1 & ;;
        *) "${run[@]}" "$bin/upgrade_control" "$cport" 0 "$work/trigger-0" > "$work/ctl.log" 2>&1 & ;;
    esac
    pid=$!
    pids+=("$pid")
    # Listening before the load starts: a connection refused before it would
    # count against control (iii).
    if [ "$kind" = rebind ]; then
        await_line "$work/ctl.log" ready || fail "control $label: the first server did not start"
    else
        await_line "$work/ctl.log" serving || fail "control $label: the first server did not start"
    fi
    "${run[@]}" "$bin/upgrade_load" --connect "127.0.0.1:$cport" --workers "$workers" --duration 600 \
        --until "$work/stop" --new-connection > "$out" 2>&1 &
    load=$!
    pids+=("$load")
    sleep 0.5
    for i in $(seq "$controls"); do
        case $kind in
            rebind)
                # As a restart does: the old exits, then the new binds.
                kill -TERM "$pid"
                { wait "$pid"; } 2>/dev/null || true
                "${run[@]}" "$bin/http_server" restartable "$cport" > "$work/ctl-$i.log" 2>&1 &
                pid=$!
                pids+=("$pid")
                await_line "$work/ctl-$i.log" ready || fail "control $label: server $i did not start"
                ;;
            *)
                # The new binds its own socket beside the old, then the old
                # stops accepting, lingers, closes its socket and drains.
                "${run[@]}" "$bin/upgrade_control" "$cport" "$i" "$work/trigger-$i" > "$work/ctl-$i.log" 2>&1 &
                next=$!
                pids+=("$next")
                # The new one serving before the old stops: else (iii) would refuse.
                await_line "$work/ctl-$i.log" serving || fail "control $label: generation $i did not start"
                touch "$work/trigger-$gen"
                { wait "$pid"; } 2>/dev/null || true
                pid=$next gen=$i
                ;;
        esac
        sleep "$interval"
    done
    touch "$work/stop"
    wait "$load" || true
    kill -9 "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
    local summary queued_at_close
    summary=$(grep '^summary ' "$out")
    queued_at_close=$( { cat "$work"/ctl-*.log "$work/ctl.log" 2>/dev/null || true; } | sed -n 's/^closed queued=\([0-9]*\)/\1/p' | awk '{s += $1} END {print s + 0}')
    if [ "$kind" = rebind ]; then queued_at_close=-; fi
    control_rows+=("| $label | $controls | $(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$summary") | $(grep -o 'refused=[0-9]* reset=[0-9]* eof=[0-9]* timeout=[0-9]* other=[0-9]*' <<<"$summary") | ${queued_at_close:--} |")
    rm -f "$work"/ctl-*.log
    control_summary=$summary
}

control "(i) rebind: old exits, new binds (attribute)" rebind
grep -q ' refused=[1-9]' <<<"$control_summary" || fail "control (i): rebinding refused no connection: $control_summary"
control "(ii) SO_REUSEPORT overlap, tcp_migrate_req=0" reuseport
grep -q ' reset=[1-9]' <<<"$control_summary" || fail "control (ii): the SO_REUSEPORT overlap reset no connection: $control_summary"
ip netns add "$netns"
ip netns exec "$netns" ip link set lo up
ip netns exec "$netns" sysctl -qw net.ipv4.tcp_migrate_req=1
control "(iii) SO_REUSEPORT overlap, netns with tcp_migrate_req=1" reuseport "$netns"
grep -q ' reset=0 ' <<<"$control_summary" || fail "control (iii): with tcp_migrate_req=1 the overlap reset connections: $control_summary"
grep -q ' refused=0 ' <<<"$control_summary" || fail "control (iii): with tcp_migrate_req=1 the overlap refused connections: $control_summary"

echo
echo "== upgrade under load: $workers connections, one upgrade every ${interval}s (SIGHUP and upgrade --upgrade alternately), --drain-timeout $drain_timeout"
echo "| load | upgrades | requests ok | errors | trigger to new generation answering, ms (median / max) | trigger to old pid gone, ms (median / max) | survivor's descriptors, not client connections |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "survivors over $upgrades_total upgrades: descriptors $totals_range (without client connections $others_range, first $first_others, last $last_others); RSS first $rss_first kB, last $rss_last kB, max $rss_max kB"
for kind in client-new client-keep; do
    [ -f "$work/$kind.kept" ] || continue
    start=$(sed -n 's/.* start_unix_ms=\([0-9]*\).*/\1/p' "$work/$kind.kept")
    label=$([ "$kind" = client-new ] && echo "upgrade_load --new-connection" || echo "upgrade_load --keep-alive")
    # trigger of the k-th upgrade of this load -> last new-connection response of its old generation
    mapfile -t triggers < <(awk -v l="$label" 'substr($0, 1, length(l) + 1) == l " " {n = split($0, f, " "); print f[n - 6]}' "$work/upgrades")
    mapfile -t lasts < <(sed -n 's/^generation [0-9]* pid=[0-9]* .* last_new_ms=\([0-9-]*\)$/\1/p' "$work/$kind.kept")
    mapfile -t last_any < <(sed -n 's/^generation [0-9]* pid=[0-9]* ok=[0-9]* first_ms=[0-9]* last_ms=\([0-9]*\) .*/\1/p' "$work/$kind.kept")
    alone=() drained=()
    for k in "${!triggers[@]}"; do
        if [ -n "${lasts[$k]:-}" ] && [ "${lasts[$k]}" != - ]; then
            alone+=($((start + lasts[k] - triggers[k])))
        fi
        if [ -n "${last_any[$k]:-}" ]; then
            drained+=($((start + last_any[k] - triggers[k])))
        fi
    done
    echo "$label, trigger to: the last old-generation response on a new connection (the new one serving alone), ms (median / max): $(printf '%s\n' "${alone[@]}" | median_max); the last old-generation response on any connection: $(printf '%s\n' "${drained[@]}" | median_max)"
done
echo
echo "== queued connections"
echo "| round | in the queue before SIGHUP | answered | by generation |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${queued_rows[@]}"
echo
echo "== controls: upgrade_load --new-connection, $workers workers, one upgrade every ${interval}s"
echo "| control | upgrades | requests ok | client counts | connections queued on the closed socket (sum) |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${control_rows[@]}"
exit "$failed"
