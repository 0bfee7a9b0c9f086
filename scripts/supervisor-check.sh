#!/usr/bin/env bash
# The supervisor (runtime/src/supervisor/) on loopback: the upgrade example
# (examples/upgrade.rs) as PID 1 of a PID namespace (`unshare --pid --fork
# --mount-proc`, no flag: PID 1 splits into the supervisor and the service),
# one namespace through every step below, under the same loads as
# scripts/upgrade-check.sh (wrk keep-alive, wrk `Connection: close`, and
# tests/src/bin/upgrade_load.rs, which classifies every attempt, with a new
# connection per request and with keep-alive):
#  1. upgrades: N SIGHUPs to PID 1 per load, each followed until GET / shows
#     the next generation and the old service is gone (reaped by PID 1);
#     0 refused, 0 reset, 0 failed; PID 1 the same process (pid and start
#     time) at the end.
#  2. crashes: N kill -9 of the serving process (the service, found by its
#     namespace pid from GET / and NSpid in /proc) per load; 0 refused; the
#     only failures allowed are requests the killed process had accepted
#     (client: reset + eof; wrk: read + write errors), at most one per
#     client connection per kill; no timeout, no other error. The recovery
#     time is measured by a probe: from just before the kill, GET / on new
#     connections in a tight loop until a process other than the killed one
#     answers (a probe refused is counted, and fails the check).
#  3. a connection made while no service runs is served: PID 1 is stopped
#     (SIGSTOP, forcibly delivered from the parent namespace), the service
#     killed (it stays a zombie: its reaper is stopped), then Q connections
#     are made and a request sent on each (the kernel queues them on the
#     listener PID 1 holds; none is answered while stopped), SIGCONT: each is
#     answered by the new service.
#  4. orphans: `nsenter -t PID1 -p -m sh -c '... sleep 0.5 & ...; exit 0'`.
#     nsenter forks sh inside the namespace, its own parent (nsenter) being
#     outside it; when sh exits, its background sleeps have no ancestor in
#     the namespace but its init, so the kernel reparents them to PID 1
#     (checked: their parent is PID 1's host pid). When they exit, PID 1
#     must reap them: no process of the namespace in state Z afterwards.
#     (The old services of step 1 are orphans of PID 1 too, once their
#     parent exits: step 1 waits for each to be gone, not a zombie.)
#  5. the supervisor's memory and descriptors: PID 1's VmRSS and descriptor
#     count after the start, after the steps above, and after R more
#     kill -9 restarts without load; it fails if the count grew.
#  6. SIGTERM to PID 1 (with an orphan `sleep 60` in the namespace): every
#     process of the namespace gone within the drain timeout + 1 s, and
#     unshare's exit status the service's: 143 (the example does not catch
#     SIGTERM; unshare exits with PID 1's status).
#  7. controls, under upgrade_load --new-connection: (a) RESTARTABLE_
#     SUPERVISE=0 as PID 1 (the behaviour before the supervisor): one SIGHUP
#     upgrade, and when the old PID 1 has drained, the kernel kills the
#     namespace: it must be gone and connections refused (refused > 0);
#     (b) no supervisor: the example not as PID 1, restarted by a plain,
#     bounded shell loop after each of C kill -9: refused > 0.
# It fails when any of these does not hold. Timings are reported, not
# asserted (but for the deadline of 6, which is the runtime's contract).
# Should PID 1 end before step 6 (a failure, said with the end of its log),
# the steps left run in a new namespace, so that they still report.
# The figures end in markdown tables that can be pasted into docs.
#
# Usage: scripts/supervisor-check.sh [--quick]
#   --quick: 5 upgrades and 5 kills per load, 20 restarts for step 5,
#            5 kills for control (b); about 40 s after the build (2 cores).
#   full:    20 upgrades and 20 kills per load, 100 restarts, 20 kills for
#            (b); about 2 minutes.
# Needs root (unshare, nsenter), wrk, ss and curl (installed with apt-get
# when missing). OURS_BIN=path runs it against another build of the example.
# Every process it starts carries UPGRADE_RUN_TOKEN in its environment and
# is killed on exit (scripts/upgrade-lib.sh). Its waits are bounded for a
# loaded machine; none decides a result by how fast it was.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"
# shellcheck source=scripts/upgrade-lib.sh
source "$(dirname "$0")/upgrade-lib.sh"

cd "$root"
quick=0 upgrades=20 kills=20 restarts=100 controls=20
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 upgrades=5 kills=5 restarts=20 controls=5 ;;
        *) echo "usage: scripts/supervisor-check.sh [--quick]" >&2; exit 2 ;;
    esac
    shift
done
interval=0.5 workers=8 drain_timeout=2 slack=10 queued=20 orphans=20
if [ "$(id -u)" != 0 ]; then
    echo "error: scripts/supervisor-check.sh needs root (unshare --pid, nsenter)" >&2
    exit 1
fi
for tool in unshare nsenter pgrep; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (util-linux, procps)" >&2; exit 1; }
done
trap cleanup_all EXIT
close_inherited_fds
need_tools
run_start=$EPOCHREALTIME
cargo build -q --release -p restartable-tests --bin upgrade_load
if [ -z "${OURS_BIN:-}" ]; then
    cargo build -q --release --example upgrade
fi
server_bin=$ours_bin
load_bin=$root/target/release/upgrade_load
build_done=$EPOCHREALTIME
failed=0
fail() {
    echo "FAIL: $*"
    failed=1
}
note() { echo "-- $*"; }
# How often TEXT occurs in the logs of the namespaces of steps 1-6. The
# processes of one share a stderr, and the example's logger writes a record
# in several write(2)s (one per literal piece and argument): lines of two
# processes can be mixed, so pieces are counted, not lines.
count_in_log() { { cat "$work"/main-*.err | grep -oF -- "$1" || true; } | wc -l; }

now_us() { echo "${EPOCHREALTIME/./}"; }

# Statistics of a column of numbers: median / max.
median_max() {
    sort -n | awk '{a[NR] = $1} END {if (NR) printf "%d / %d", a[int((NR + 1) / 2)], a[NR]; else printf "-"}'
}

# GET / on a new connection, in this shell (no fork: fast enough for a
# tight loop). Sets $got to the body (`pid=P generation=N`), to "refused"
# when the connect fails, or to "none" (reset, EOF, no answer within
# ${2:-2} s). SIGPIPE is ignored for the write only (a socket reset by a
# killed server), not in the processes this script starts.
get_body() {
    local port=$1 wait=${2:-2} fd line last=""
    got=refused
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 0
    trap '' PIPE
    { printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"; } 2>/dev/null || true
    trap - PIPE
    while IFS= read -r -t "$wait" line <&"$fd"; do last=${line%$'\r'}; done 2>/dev/null || true
    exec {fd}<&-
    if [[ $last == pid=* ]]; then got=$last; else got=none; fi
}

# The serving process: GET / until answered (30 s at most); sets $cur_ns
# (its pid in the namespace, or on the host for control (b)) and $cur_gen.
current() {
    local port=$1 deadline=$(($(now_us) + 30000000))
    while (($(now_us) < deadline)); do
        get_body "$port"
        if [[ $got =~ ^pid=([0-9]+)\ generation=([0-9]+)$ ]]; then
            cur_ns=${BASH_REMATCH[1]} cur_gen=${BASH_REMATCH[2]}
            return 0
        fi
    done
    echo "error: no answer to GET / on port $port within 30 s (last: $got)" >&2
    return 1
}

# Host pids of the processes of the namespace $ns_id (read from
# /proc/PID/ns/pid: it works after PID 1 is gone too).
ns_pids() {
    find /proc/[0-9]*/ns/pid -maxdepth 0 -printf '%l %h\n' 2>/dev/null |
        awk -v ns="$ns_id" '$1 == ns { split($2, a, "/"); print a[3] }' || true
}

# "hostpid state ppid comm" for each process of the namespace. (Files of
# /proc are read by grep: bash's read builtin seeks back after each line,
# and a file of /proc read again from an offset is made anew, so lines of a
# file that changed meanwhile come cut in the wrong place. A process that
# ended meanwhile is skipped: grep goes on, mawk would not.)
ns_states() {
    local files=() p
    for p in $(ns_pids); do files+=("/proc/$p/stat"); done
    [ ${#files[@]} -gt 0 ] || return 0
    { grep -H '' "${files[@]}" 2>/dev/null || true; } | awk '{
        split($0, f, "/"); pid = f[3]
        comm = $0; sub(/^[^(]*\(/, "", comm); sub(/\) [^)]*$/, "", comm)
        rest = $0; sub(/^.*\) /, "", rest); split(rest, r, " ")
        print pid, r[1], r[2], comm
    }'
}
ns_zombies() { ns_states | awk '$2 == "Z"' | wc -l; }

# The host pid of the process with namespace pid $1, or nothing.
host_of() {
    local files=() p
    for p in $(ns_pids); do files+=("/proc/$p/status"); done
    [ ${#files[@]} -gt 0 ] || return 0
    { grep -H '^NSpid:' "${files[@]}" 2>/dev/null || true; } |
        awk -v want="$1" '$NF == want { split($0, f, "/"); print f[3] }'
}

# Succeeds when PID is absent (exited and reaped).
absent() { [ ! -e "/proc/$1" ]; }
state_of() {
    local stat
    stat=$(grep -h '' "/proc/$1/stat" 2>/dev/null) || { echo -; return 0; }
    stat=${stat##*) }
    echo "${stat%% *}"
}
start_time() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null || echo -; }

# start_ns NAME PORT [VAR=VALUE...]: the example as PID 1 of a new PID
# namespace, tagged; waits (60 s at most) for its serving line. Sets
# $ns_unshare (unshare's pid, a child of this shell), $p1 (PID 1's host
# pid), $ns_id, $p1_start.
start_ns() {
    local name=$1 port=$2 deadline
    shift 2
    env UPGRADE_RUN_TOKEN="$token" "$@" unshare --pid --fork --mount-proc \
        "$server_bin" --listen "127.0.0.1:$port" --drain-timeout "$drain_timeout" \
        >"$work/$name.out" 2>"$work/$name.err" &
    ns_unshare=$!
    bg_pids+=("$ns_unshare")
    deadline=$(($(now_us) + 60000000))
    p1=""
    while (($(now_us) < deadline)); do
        [ -n "$p1" ] || p1=$(pgrep -P "$ns_unshare" || true)
        if [ -n "$p1" ] && grep -q '^serving pid=' "$work/$name.out" 2>/dev/null; then
            ns_id=$(readlink "/proc/$p1/ns/pid")
            p1_start=$(start_time "$p1")
            return 0
        fi
        kill -0 "$ns_unshare" 2>/dev/null || break
        sleep 0.02
    done
    echo "error: $name: the example as PID 1 did not say it serves within 60 s; its output:" >&2
    cat "$work/$name.out" "$work/$name.err" >&2
    return 1
}

# start_load KIND PORT: sets $load; output in $work/KIND.out.
start_load() {
    local kind=$1 port=$2 url=http://127.0.0.1:$2/ out=$work/$1.out
    local tag=(env UPGRADE_RUN_TOKEN="$token")
    rm -f "$work/stop"
    case $kind in
        wrk) "${tag[@]}" wrk -t2 -c"$workers" -d600s --timeout 2s "$url" >"$out" 2>&1 & ;;
        wrk-close) "${tag[@]}" wrk -t2 -c"$workers" -d600s --timeout 2s -H 'Connection: close' "$url" >"$out" 2>&1 & ;;
        client-new) "${tag[@]}" "$load_bin" --connect "127.0.0.1:$port" --workers "$workers" --duration 600 --until "$work/stop" --new-connection >"$out" 2>&1 & ;;
        client-keep) "${tag[@]}" "$load_bin" --connect "127.0.0.1:$port" --workers "$workers" --duration 600 --until "$work/stop" --keep-alive >"$out" 2>&1 & ;;
    esac
    load=$!
    bg_pids+=("$load")
}

# stop_load KIND: ends $load (wrk prints its figures on SIGINT, the client
# stops at the file), 30 s at most; sets $requests, $errors (text), and
# $refused $broken $timeouts $others $bad (numbers) where for wrk refused =
# connect errors, broken = read + write errors (a refused connect shows as
# a write error too on loopback: the client's figures tell them apart),
# timeouts, others = non-2xx; for the client broken = reset + eof, others =
# other + bad_status; bad = all of them.
stop_load() {
    local kind=$1 out=$work/$1.out deadline summary
    touch "$work/stop"
    [[ $kind != wrk* ]] || kill -INT "$load" 2>/dev/null || true
    deadline=$(($(now_us) + 30000000))
    while kill -0 "$load" 2>/dev/null && (($(now_us) < deadline)); do sleep 0.05; done
    kill -9 "$load" 2>/dev/null || true
    { wait "$load"; } 2>/dev/null || true
    case $kind in
        wrk*)
            if ! grep -q ' requests in ' "$out"; then
                echo "error: wrk printed no figures; its output: $(tr '\n' ' ' <"$out")" >&2
                return 1
            fi
            local c r w t n
            requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
            read -r c r w t <<<"$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out")"
            n=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$out")
            c=${c:-0} r=${r:-0} w=${w:-0} t=${t:-0} n=${n:-0}
            refused=$c broken=$((r + w)) timeouts=$t others=$n
            errors="connect $c, read $r, write $w, timeout $t, non-2xx $n"
            ;;
        client*)
            summary=$(grep '^summary ' "$out") || {
                echo "error: upgrade_load printed no summary; its output: $(tr '\n' ' ' <"$out")" >&2
                return 1
            }
            field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$summary"; }
            requests=$(field ok)
            refused=$(field refused) broken=$(($(field reset) + $(field eof)))
            timeouts=$(field timeout) others=$(($(field other) + $(field bad_status)))
            errors="$(grep -o 'refused=[0-9]* reset=[0-9]* eof=[0-9]* timeout=[0-9]* other=[0-9]*' <<<"$summary"), $(grep -o 'drain_eof=[0-9]* drain_header=[0-9]* reused_reset=[0-9]*' <<<"$summary")"
            if grep -q '^error ' "$out"; then errors+=" ($(grep '^error ' "$out" | head -n 3 | tr '\n' ';'))"; fi
            ;;
    esac
    bad=$((refused + broken + timeouts + others))
    if [ "${requests:-0}" = 0 ]; then
        fail "$kind: the load made no request; its output: $(tr '\n' ' ' <"$out")"
    fi
}

# recover PORT PID T0 [unsupervised]: after a kill -9, at T0 (µs), of the
# process answering as PID: GET / on new connections until another pid
# answers (30 s at most; at once when PID 1 is gone). Sets $recovered_ms;
# adds the probes' refused connects to $probe_refused.
recover() {
    local port=$1 old=$2 t0=$3 supervised=${4:-supervised} deadline=$(($3 + 30000000))
    recovered_ms=""
    while (($(now_us) < deadline)); do
        get_body "$port"
        if [ "$got" = refused ]; then
            probe_refused=$((probe_refused + 1))
            # PID 1 holds the listener: refused means it is gone.
            if [ "$supervised" = supervised ] && ! p1_same; then return 1; fi
        elif [[ $got =~ ^pid=([0-9]+)\  ]] && [ "${BASH_REMATCH[1]}" != "$old" ]; then
            recovered_ms=$((($(now_us) - t0) / 1000))
            return 0
        fi
    done
    return 1
}

# The supervisor's descriptors (count) and VmRSS.
p1_fds() { fd_count "$p1"; }
p1_rss() { vm_rss_kb "$p1"; }
# PID 1 is the process started, and has not exited (no zombie).
p1_same() {
    local state
    state=$(state_of "$p1")
    [ "$state" != - ] && [ "$state" != Z ] && [ "$state" != X ] && [ "$(start_time "$p1")" = "$p1_start" ]
}
# In a step's loop: fails, saying so with the end of the log, once PID 1
# has ended.
p1_runs() {
    p1_same && return 0
    if [ "$ended_said" != "$p1" ]; then
        fail "$1: PID 1 (host pid $p1) has ended; the end of its log: $(log_tail)"
        ended_said=$p1
    fi
    return 1
}

loads=("wrk keep-alive|wrk" "wrk Connection: close|wrk-close" "upgrade_load --new-connection|client-new" "upgrade_load --keep-alive|client-keep")

# ===== the namespace under test =====
# One namespace for steps 1 to 6. Should it end before (PID 1 gone: a
# failure, said with the end of its log), another is started for the steps
# left, so that they still report.
instance=0 ended_said=""
start_main() {
    local first p1_nspid
    instance=$((instance + 1))
    port=$(free_port)
    start_ns "main-$instance" "$port" RESTARTABLE_START_LIMIT=1000/10
    log=$work/main-$instance.err
    first=$(sed -n 's/^serving pid=\([0-9]*\) .*/\1/p' "$work/main-$instance.out" | head -n 1)
    p1_nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$p1/status")
    if [ "$p1_nspid" != 1 ] || [ "$first" = 1 ]; then
        fail "start: the process serving is pid $first in the namespace (PID 1 is host pid $p1, NSpid $p1_nspid): no supervisor split"
    fi
    note "namespace $instance: PID 1 is host pid $p1 (unshare $ns_unshare); the service: namespace pid $first; port $port"
    fds_start=$(p1_fds) rss_start=$(p1_rss)
    fd_list_start=$(find "/proc/$p1/fd" -mindepth 1 -printf '%f -> %l\n' 2>/dev/null | sort -n)
}
log_tail() { tail -n "${1:-6}" "$log" | tr '\n' '|'; }
# Before each step: PID 1 must be the process started.
ensure_main() {
    local status
    p1_same && return 0
    status=0
    { wait "$ns_unshare"; } 2>/dev/null || status=$?
    if [ "$ended_said" = "$p1" ]; then
        note "$1: unshare exited with $status; a new namespace for the steps left"
    else
        fail "$1: PID 1 (host pid $p1) is gone, unshare exited with $status; the end of its log: $(log_tail)"
    fi
    start_main
}
start_main

# ----- 1. upgrades: SIGHUP to PID 1 -----
upgrade_rows=()
: >"$work/upgrades"
for entry in "${loads[@]}"; do
    label=${entry%%|*} kind=${entry##*|}
    ensure_main "upgrades, before $label"
    start_load "$kind" "$port"
    sleep 0.5
    done_upgrades=0
    for _ in $(seq "$upgrades"); do
        p1_runs "upgrades, $label, after $done_upgrades" || break
        current "$port" || { fail "upgrades, $label: nothing answers GET / (PID 1's log ends: $(log_tail))"; break; }
        old_ns=$cur_ns old_gen=$cur_gen old_host=$(host_of "$cur_ns")
        t0=$(now_us)
        kill -HUP "$p1"
        followed=""
        while (($(now_us) - t0 < 30000000)); do
            get_body "$port"
            if [[ $got =~ ^pid=([0-9]+)\ generation=$((old_gen + 1))$ ]]; then
                followed=$((($(now_us) - t0) / 1000))
                break
            fi
            # Refused: nothing holds the listener; is PID 1 gone?
            if [ "$got" = refused ] && ! p1_same; then break; fi
        done
        if [ -z "$followed" ]; then
            if p1_runs "upgrades, $label, upgrade $((done_upgrades + 1)) (generation $old_gen to $((old_gen + 1)))"; then
                fail "upgrades, $label: no answer from generation $((old_gen + 1)) within 30 s of SIGHUP to PID 1 (last: $got); the end of PID 1's log: $(log_tail)"
            fi
            break
        fi
        gone_ms=""
        while (($(now_us) - t0 < (drain_timeout + slack) * 1000000)); do
            if [ -z "$old_host" ] || absent "$old_host"; then
                gone_ms=$((($(now_us) - t0) / 1000))
                break
            fi
            sleep 0.005
        done
        if [ -z "$gone_ms" ]; then
            fail "upgrades, $label: the old service (namespace pid $old_ns, host $old_host, state $(state_of "$old_host")) not gone $((drain_timeout + slack)) s after SIGHUP"
            gone_ms=$((($(now_us) - t0) / 1000))
        fi
        echo "$kind $followed $gone_ms" >>"$work/upgrades"
        done_upgrades=$((done_upgrades + 1))
        sleep "$interval"
    done
    p1_runs "upgrades, $label, after $done_upgrades" || true
    sleep 0.5
    stop_load "$kind"
    follow=$(awk -v k="$kind" '$1 == k {print $2}' "$work/upgrades" | median_max)
    goneq=$(awk -v k="$kind" '$1 == k {print $3}' "$work/upgrades" | median_max)
    upgrade_rows+=("| $label | $done_upgrades | $requests | $errors | $follow | $goneq |")
    [ "$done_upgrades" = "$upgrades" ] || fail "upgrades, $label: $done_upgrades of $upgrades upgrades done"
    [ "$bad" = 0 ] || fail "upgrades, $label: failed requests under upgrades of PID 1: $errors"
done
followed_by_p1=$(count_in_log "supervisor: the service's main process is now ")
upgrades_total=$(wc -l <"$work/upgrades")
ensure_main "upgrades: after $upgrades_total"
[ "$followed_by_p1" = "$upgrades_total" ] || fail "upgrades: the supervisor followed the main pid $followed_by_p1 times over $upgrades_total upgrades"
zombies_after_upgrades=$(ns_zombies)
[ "$zombies_after_upgrades" = 0 ] || fail "upgrades: $zombies_after_upgrades zombies in the namespace: $(ns_states | awk '$2 == "Z"' | tr '\n' ';')"
fds_upgrades=$(p1_fds) rss_upgrades=$(p1_rss)

# ----- 2. crashes: kill -9 of the service -----
kill_rows=()
: >"$work/kills"
probe_refused=0
for entry in "${loads[@]}"; do
    label=${entry%%|*} kind=${entry##*|}
    ensure_main "kills, before $label"
    start_load "$kind" "$port"
    sleep 0.5
    done_kills=0
    for _ in $(seq "$kills"); do
        p1_runs "kills, $label, after $done_kills" || break
        current "$port" || { fail "kills, $label: nothing answers GET / (PID 1's log ends: $(log_tail))"; break; }
        victim=$(host_of "$cur_ns")
        if [ -z "$victim" ]; then
            fail "kills, $label: no process of the namespace has pid $cur_ns"
            break
        fi
        t0=$(now_us)
        kill -9 "$victim"
        if ! recover "$port" "$cur_ns" "$t0"; then
            fail "kills, $label: no new service answered within 30 s of kill -9 (last: $got); the end of PID 1's log: $(log_tail)"
            break
        fi
        echo "$kind $recovered_ms" >>"$work/kills"
        done_kills=$((done_kills + 1))
        sleep "$interval"
    done
    p1_runs "kills, $label, after $done_kills" || true
    sleep 0.5
    stop_load "$kind"
    allowed=$((workers * done_kills))
    recovery=$(awk -v k="$kind" '$1 == k {print $2}' "$work/kills" | median_max)
    kill_rows+=("| $label | $done_kills | $requests | $refused | $broken (at most $allowed) | $errors | $recovery |")
    [ "$done_kills" = "$kills" ] || fail "kills, $label: $done_kills of $kills kills done"
    [ "$refused" = 0 ] || fail "kills, $label: $refused connections refused: $errors"
    [ "$broken" -le "$allowed" ] || fail "kills, $label: $broken requests broken, more than one per connection per kill ($allowed): $errors"
    [ "$timeouts" = 0 ] || fail "kills, $label: $timeouts requests timed out: $errors"
    [ "$others" = 0 ] || fail "kills, $label: $others other failures: $errors"
done
[ "$probe_refused" = 0 ] || fail "kills: the recovery probe was refused $probe_refused times"
ensure_main "kills: after them"
crash_loop=$(count_in_log ': a crash loop; ')
zombies_after_kills=$(ns_zombies)
[ "$zombies_after_kills" = 0 ] || fail "kills: $zombies_after_kills zombies in the namespace: $(ns_states | awk '$2 == "Z"' | tr '\n' ';')"
fds_kills=$(p1_fds) rss_kills=$(p1_rss)

# ----- 3. connections made while no service runs -----
ensure_main "queued"
current "$port"
down_ns=$cur_ns down_host=$(host_of "$cur_ns")
kill -STOP "$p1"
for _ in $(seq 500); do [ "$(state_of "$p1")" = T ] && break; sleep 0.01; done
p1_state=$(state_of "$p1")
kill -9 "$down_host"
for _ in $(seq 500); do [ "$(state_of "$down_host")" = Z ] && break; sleep 0.01; done
down_state=$(state_of "$down_host")
zombies_stopped=$(ns_zombies)
conns=()
for _ in $(seq "$queued"); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
    conns+=("$fd")
done
sleep 1
answered_down=0
for fd in "${conns[@]}"; do
    if read -r -t 0 -u "$fd"; then answered_down=$((answered_down + 1)); fi
done
in_queue=$(ss -ltnH "( sport = :$port )" | awk '{print $2; exit}')
t0=$(now_us)
kill -CONT "$p1"
: >"$work/queued"
for fd in "${conns[@]}"; do
    last=""
    while IFS= read -r -t 10 line <&"$fd"; do last=${line%$'\r'}; done || true
    exec {fd}<&-
    echo "${last:-none}" >>"$work/queued"
done
queued_ms=$((($(now_us) - t0) / 1000))
queued_answered=$(grep -c '^pid=' "$work/queued" || true)
queued_by_new=$(grep '^pid=' "$work/queued" | grep -vc "^pid=$down_ns " || true)
queued_pids=$(grep -o '^pid=[0-9]*' "$work/queued" | sort | uniq -c | awk '{printf "%s%s: %s", sep, $2, $1; sep = ", "}')
zombies_after_cont=""
for _ in $(seq 200); do
    zombies_after_cont=$(ns_zombies)
    [ "$zombies_after_cont" = 0 ] && break
    sleep 0.01
done
queued_row="| $queued connections while PID 1 stopped and the service killed | PID 1 state $p1_state, killed service state $down_state ($zombies_stopped zombie in the namespace) | in the listener's queue: $in_queue, answered while down: $answered_down | after SIGCONT: $queued_answered answered in $queued_ms ms ($queued_pids); zombies after: $zombies_after_cont |"
[ "$p1_state" = T ] || fail "queued: PID 1 not stopped after SIGSTOP (state $p1_state)"
[ "$answered_down" = 0 ] || fail "queued: $answered_down connections answered while no service ran"
[ "$queued_answered" = "$queued" ] || fail "queued: $queued_answered of $queued connections made while no service ran were answered"
[ "$queued_by_new" = "$queued" ] || fail "queued: $queued_by_new of $queued answered by the new service ($queued_pids; the killed one was $down_ns)"
[ "$zombies_after_cont" = 0 ] || fail "queued: the killed service not reaped after SIGCONT"

# ----- 4. orphans reparented to PID 1 -----
ensure_main "orphans"
env UPGRADE_RUN_TOKEN="$token" nsenter -t "$p1" -p -m sh -c \
    "i=0; while [ \$i -lt $orphans ]; do sleep 0.5 & i=\$((i + 1)); done; exit 0"
orphans_seen=$(ns_states | awk -v p="$p1" '$3 == p && $4 == "sleep"' | wc -l)
t0=$(now_us)
orphans_left="" zombies_orphans=""
while (($(now_us) - t0 < 10000000)); do
    orphans_left=$(ns_states | awk '$4 == "sleep"' | wc -l)
    zombies_orphans=$(ns_zombies)
    if [ "$orphans_left" = 0 ] && [ "$zombies_orphans" = 0 ]; then break; fi
    sleep 0.05
done
orphans_ms=$((($(now_us) - t0) / 1000))
orphans_row="| $orphans orphans (\`sleep 0.5\` left by a shell nsenter started in the namespace) | parent PID 1: $orphans_seen | left after ${orphans_ms} ms: $orphans_left | zombies: $zombies_orphans |"
[ "$orphans_seen" = "$orphans" ] || fail "orphans: $orphans_seen of $orphans orphans had PID 1 as their parent: $(ns_states | tr '\n' ';')"
[ "$orphans_left" = 0 ] && [ "$zombies_orphans" = 0 ] ||
    fail "orphans: 10 s after, $orphans_left sleeps left, $zombies_orphans zombies: $(ns_states | tr '\n' ';')"

# ----- 5. the supervisor after R restarts -----
ensure_main "restarts"
fds_before_restarts=$(p1_fds) rss_before_restarts=$(p1_rss)
: >"$work/restarts"
for _ in $(seq "$restarts"); do
    p1_runs "restarts, after $(wc -l <"$work/restarts")" || break
    current "$port" || { fail "restarts: nothing answers GET / (PID 1's log ends: $(log_tail))"; break; }
    victim=$(host_of "$cur_ns")
    t0=$(now_us)
    kill -9 "$victim"
    if ! recover "$port" "$cur_ns" "$t0"; then
        fail "restarts: no new service answered within 30 s of kill -9 (last: $got); the end of PID 1's log: $(log_tail)"
        break
    fi
    echo "$recovered_ms" >>"$work/restarts"
done
[ "$probe_refused" = 0 ] || fail "restarts: the recovery probe was refused $probe_refused times"
restarts_done=$(wc -l <"$work/restarts")
restart_recovery=$(median_max <"$work/restarts")
sleep 0.2
fds_restarts=$(p1_fds) rss_restarts=$(p1_rss)
restarts_total=$(count_in_log '; started again ')
ensure_main "restarts: after $restarts_done"
for f in "$fds_upgrades" "$fds_kills" "$fds_before_restarts" "$fds_restarts"; do
    if [ "$f" -gt "$fds_start" ]; then
        fail "supervisor: PID 1's descriptors grew from $fds_start to $f (after start / upgrades / kills / before and after the restarts: $fds_start / $fds_upgrades / $fds_kills / $fds_before_restarts / $fds_restarts); now: $(find "/proc/$p1/fd" -mindepth 1 -printf '%f -> %l; ' 2>/dev/null); at the start: $(tr '\n' ';' <<<"$fd_list_start")"
        break
    fi
done
if [ "$crash_loop" != 0 ] || [ "$(count_in_log ': a crash loop; ')" != 0 ]; then
    fail "the supervisor saw a crash loop: $(cat "$work"/main-*.err | grep 'a crash loop')"
fi

# ----- 6. SIGTERM to PID 1 -----
ensure_main "SIGTERM"
env UPGRADE_RUN_TOKEN="$token" nsenter -t "$p1" -p -m sh -c 'sleep 60 & exit 0'
ns_before_term=$(ns_pids | wc -l)
t0=$(now_us)
kill -TERM "$p1"
term_ms=""
while (($(now_us) - t0 < (drain_timeout + 1 + slack) * 1000000)); do
    if [ -z "$(ns_pids)" ]; then
        term_ms=$((($(now_us) - t0) / 1000))
        break
    fi
    sleep 0.002
done
term_status=0
wait "$ns_unshare" || term_status=$?
get_body "$port" 1
after_term=$got
term_row="| SIGTERM to PID 1 ($ns_before_term processes in the namespace, an orphan \`sleep 60\` among them) | all gone after ${term_ms:-more than $((drain_timeout + 1 + slack)) s} ms (deadline $((drain_timeout + 1)) s) | unshare's status $term_status | GET / after: $after_term |"
if [ -z "$term_ms" ] || [ "$term_ms" -gt $(((drain_timeout + 1) * 1000)) ]; then
    fail "SIGTERM: the namespace not gone within the drain timeout + 1 s (${term_ms:-not gone} ms): $(ns_states | tr '\n' ';')"
fi
[ "$term_status" = 143 ] || fail "SIGTERM: unshare exited with $term_status, not 143 (the service killed by SIGTERM); PID 1's last lines: $(tail -n 3 "$log" | tr '\n' ' ')"
[ "$after_term" = refused ] || fail "SIGTERM: the port still answers: $after_term"
warnings=$(($(count_in_log WARN) + $(count_in_log ERROR)))
unexpected=$((warnings - restarts_total))
[ "$unexpected" = 0 ] || note "other warnings in the log: $(cat "$work"/main-*.err | grep 'WARN\|ERROR' | grep -v '; started again ' | sort | uniq -c | head -n 5 | tr '\n' ';')"

# ===== controls =====
control_rows=()
# (a) RESTARTABLE_SUPERVISE=0 as PID 1: the first upgrade ends the namespace.
cport=$(free_port)
start_ns control-a "$cport" RESTARTABLE_SUPERVISE=0
a_pid1=$(sed -n 's/^serving pid=\([0-9]*\) .*/\1/p' "$work/control-a.out")
[ "$a_pid1" = 1 ] || fail "control (a): with RESTARTABLE_SUPERVISE=0 PID 1 should serve itself; pid $a_pid1 does"
start_load client-new "$cport"
sleep 0.5
t0=$(now_us)
kill -HUP "$p1"
a_gone=""
while (($(now_us) - t0 < (drain_timeout + slack) * 1000000)); do
    if [ -z "$(ns_pids)" ]; then
        a_gone=$((($(now_us) - t0) / 1000))
        break
    fi
    sleep 0.005
done
sleep 1
stop_load client-new
a_status=0
wait "$ns_unshare" || a_status=$?
get_body "$cport" 1
control_rows+=("| (a) RESTARTABLE_SUPERVISE=0 as PID 1, one SIGHUP upgrade | namespace gone after ${a_gone:-(not gone)} ms, unshare's status $a_status, GET / after: $got | $requests | $errors | - |")
[ -n "$a_gone" ] || fail "control (a): the namespace still runs $((drain_timeout + slack)) s after the upgrade: $(ns_states | tr '\n' ';')"
[ "$refused" -gt 0 ] || fail "control (a): no connection refused after the upgrade of a PID 1 without supervisor: $errors"

# (b) no supervisor, not PID 1: a plain shell loop restarts it after each kill -9.
cport=$(free_port)
# shellcheck disable=SC2016 # expanded by that bash, from its arguments
env UPGRADE_RUN_TOKEN="$token" RESTARTABLE_SUPERVISE=0 bash -c \
    'for _ in $(seq "$1"); do "$2" --listen "127.0.0.1:$3" --drain-timeout "$4" >>"$5.out" 2>>"$5.err" || true; done' \
    loop $((controls + 1)) "$server_bin" "$cport" "$drain_timeout" "$work/control-b" 2>"$work/control-b.loop" &
b_loop=$!
bg_pids+=("$b_loop")
# Killed at the end, and bash would say so: not one of its jobs.
disown "$b_loop"
current "$cport"
start_load client-new "$cport"
sleep 0.5
probe_refused=0
: >"$work/control-b.kills"
for _ in $(seq "$controls"); do
    current "$cport"
    victim=$cur_ns
    t0=$(now_us)
    kill -9 "$victim"
    recover "$cport" "$victim" "$t0" unsupervised || { fail "control (b): no new server answered within 30 s of kill -9"; break; }
    echo "$recovered_ms" >>"$work/control-b.kills"
    sleep "$interval"
done
stop_load client-new
kill -9 "$b_loop" 2>/dev/null || true
if current "$cport"; then kill -9 "$cur_ns" 2>/dev/null || true; fi
control_rows+=("| (b) no supervisor: a shell loop restarts the example after kill -9 | $(wc -l <"$work/control-b.kills") kills; the recovery probe refused $probe_refused times | $requests | $errors | $(median_max <"$work/control-b.kills") |")
[ "$refused" -gt 0 ] || fail "control (b): restarting after kill -9 without a supervisor refused no connection: $errors"

run_end=$EPOCHREALTIME
echo
echo "== supervisor ($([ "$quick" = 1 ] && echo "--quick" || echo "full run")): the upgrade example as PID 1 of unshare --pid --fork --mount-proc; $workers connections per load, --drain-timeout $drain_timeout"
echo
echo "1. SIGHUP upgrades of PID 1 under load (one every ${interval}s; PID 1 the same process after all $upgrades_total, the supervisor followed the main pid $followed_by_p1 times)"
echo
echo "| load | upgrades | requests ok | errors | SIGHUP to the new generation answering, ms (median / max) | SIGHUP to the old service gone (reaped), ms (median / max) |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${upgrade_rows[@]}"
echo
echo "2. kill -9 of the service under load (one every ${interval}s; recovery: from the kill until a new process answers GET / on a new connection)"
echo
echo "| load | kills | requests ok | refused | broken (accepted by the killed process) | errors | recovery, ms (median / max) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${kill_rows[@]}"
echo
echo "3, 4, 6. queued while down, orphans, SIGTERM"
echo
echo "| check | | | |"
echo "| --- | --- | --- | --- |"
echo "$queued_row"
echo "$orphans_row"
echo "$term_row"
echo
echo "5. the supervisor (PID 1)"
echo
echo "| when | descriptors | VmRSS, kB |"
echo "| --- | --- | --- |"
echo "| after the start | $fds_start | $rss_start |"
echo "| after $upgrades_total upgrades | $fds_upgrades | $rss_upgrades |"
echo "| after $(wc -l <"$work/kills") kills under load | $fds_kills | $rss_kills |"
echo "| after the queued and orphans checks | $fds_before_restarts | $rss_before_restarts |"
echo "| after $restarts_done more kill -9 restarts without load (recovery ms, median / max: $restart_recovery); $restarts_total restarts in all | $fds_restarts | $rss_restarts |"
echo
echo "7. controls (upgrade_load --new-connection, $workers workers)"
echo
echo "| control | what happened | requests ok | client counts | recovery after kill -9, ms (median / max) |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${control_rows[@]}"
echo
if [ "$instance" -gt 1 ]; then echo "PID 1 ended $((instance - 1)) times before SIGTERM (see FAIL above): steps 1-6 ran in $instance namespaces"; fi
echo "warnings and errors logged: $warnings ($unexpected other than the supervisor's restart after a kill -9)"
echo "time: build $(elapsed "$run_start" "$build_done") s, checks $(elapsed "$build_done" "$run_end") s"
if [ "$failed" = 0 ]; then echo "supervisor-check: all checks hold"; else echo "supervisor-check: FAILED"; fi
exit "$failed"
