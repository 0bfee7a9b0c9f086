#!/usr/bin/env bash
# Side by side, in one run: our server (examples/upgrade.rs, when present) and one made with
# Cloudflare's ecdysis 1.1.1 (compare/ecdysis-server), each started from a copy of its binary,
# under the same minimal load — wrk keep-alive and wrk `Connection: close`, 2 connections
# each, 1 ms between a connection's requests — upgraded N times by SIGHUP, one about every
# 0.5 s (the next once the previous one is complete). Reports per server, as a markdown table:
# the load's refused (wrk's connect + write errors) / reset (read errors; wrk counts here
# too each idle keep-alive connection a draining server closes) / failed (timeouts, non-2xx)
# over the N upgrades; probes (GET / on a new connection, curl, every ~5 ms) that got no
# answer; the time from SIGHUP to the new generation serving alone
# (GET / on a new connection answers the new generation and the old process no longer holds
# the listening socket), median and max; VmRSS and descriptor count of generation 0 and of
# generation N; processes of the run still alive at the end.
# Asserts only what must hold for OUR server: every upgrade reaches its generation, 0 refused,
# no probe unanswered. ecdysis is reported. Control: the same load across 3 plain restarts
# (stop, then bind again) must show refusals. Takes about 4 minutes (N = 100); --quick: N = 5, about 30 s.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"
# shellcheck source=scripts/upgrade-lib.sh
source "$(dirname "$0")/upgrade-lib.sh"

n=100
if [ "${1:-}" = --quick ]; then n=5; fi
trap cleanup_all EXIT
close_inherited_fds
need_tools
build_servers
kinds=()
((have_ours)) && kinds+=(ours)
kinds+=(ecdysis)
failures=()
rows=()

holds_inode() {
    local f
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" = "socket:[$2]" ] && return 0
    done
    return 1
}

# Median and max of the numbers on stdin (one a line), in ms.
median_max() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- -"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.0f %.0f\n", m * 1000, v[NR] * 1000 }'
}

for kind in "${kinds[@]}"; do
    dir=$work/$kind
    port=$(free_port)
    start_server "$kind" "$dir" "$port"
    pid=$srv_pid
    echo "== $kind: $n upgrades (pid $pid, port $port)" >&2
    start_wrk "$kind-ka" "$port" keepalive
    wka=$wrk_pid
    start_wrk "$kind-close" "$port" close
    wcl=$wrk_pid
    sleep 0.5
    rss0=$(vm_rss_kb "$pid") fds0=$(fd_count "$pid")
    ok=0 probe_failed=0
    : >"$dir/alone"
    for i in $(seq 1 "$n"); do
        ino=$(listener_inode "$port")
        start=$(now)
        kill -HUP "$pid"
        new=
        # Up to 30 s for the new generation to serve alone (a loaded machine is slow).
        deadline=$((${EPOCHREALTIME/./} + 30000000))
        while ((${EPOCHREALTIME/./} < deadline)); do
            body=$(probe "$port")
            [ "$body" = none ] && probe_failed=$((probe_failed + 1))
            case $body in
            *"generation=$i"*)
                if ! holds_inode "$pid" "$ino"; then
                    elapsed "$start" "$(now)" >>"$dir/alone"
                    echo >>"$dir/alone"
                    new=${body#pid=}
                    new=${new%% *}
                    break
                fi
                ;;
            esac
            sleep 0.005
        done
        if [ -z "$new" ]; then
            echo "upgrade $i of $kind did not complete within its bound (last answer: $body)" >&2
            break
        fi
        ok=$i
        pid=$new
        # About one upgrade every 0.5 s.
        rest=$(awk -v s="$start" -v t="$(now)" 'BEGIN { r = 0.5 - (t - s); print (r > 0 ? r : 0) }')
        sleep "$rest"
    done
    rssn=$(vm_rss_kb "$pid") fdsn=$(fd_count "$pid")
    figures=$(stop_wrk "$wka" "$kind-ka")
    read -r ka_req ka_ref ka_rst ka_fail <<<"$figures"
    figures=$(stop_wrk "$wcl" "$kind-close")
    read -r cl_req cl_ref cl_rst cl_fail <<<"$figures"
    read -r med max <<<"$(grep . "$dir/alone" | median_max)"
    # Old generations drain and exit (default drain deadline 5 s): count what is left then.
    sleep 6
    alive=$(token_pids | grep -cvx "$pid" || true)
    rows+=("| $kind | $ok/$n | $ka_req / $ka_ref / $ka_rst / $ka_fail | $cl_req / $cl_ref / $cl_rst / $cl_fail | $probe_failed | $med / $max | $rss0 / $rssn | $fds0 / $fdsn | $alive |")
    if [ "$kind" = ours ]; then
        ((ok == n)) || failures+=("ours: $ok of $n upgrades completed")
        ((ka_ref + cl_ref == 0)) || failures+=("ours: $((ka_ref + cl_ref)) connections refused")
        ((probe_failed == 0)) || failures+=("ours: $probe_failed probes unanswered")
    fi
    for p in $(token_pids); do kill -9 "$p" 2>/dev/null || true; done
done

# Control: the same load and probes across 3 plain restarts (SIGTERM, then a fresh process
# binds the port again): refusals must show, or the figures above could not show any.
dir=$work/control
port=$(free_port)
start_server ecdysis "$dir" "$port"
start_wrk control-ka "$port" keepalive
wka=$wrk_pid
start_wrk control-close "$port" close
wcl=$wrk_pid
sleep 0.5
probe_failed=0
for i in 1 2 3; do
    kill -TERM "$srv_pid"
    for _ in $(seq 1 600); do
        kill -0 "$srv_pid" 2>/dev/null || break
        [ "$(probe "$port")" = none ] && probe_failed=$((probe_failed + 1))
        sleep 0.01
    done
    wait "$srv_pid" 2>/dev/null || true
    [ "$(probe "$port")" = none ] && probe_failed=$((probe_failed + 1))
    start_server ecdysis "$dir" "$port"
    sleep 0.5
done
figures=$(stop_wrk "$wka" control-ka)
read -r ka_req ka_ref ka_rst ka_fail <<<"$figures"
figures=$(stop_wrk "$wcl" control-close)
read -r cl_req cl_ref cl_rst cl_fail <<<"$figures"
rows+=("| control: 3 restarts, no handoff | - | $ka_req / $ka_ref / $ka_rst / $ka_fail | $cl_req / $cl_ref / $cl_rst / $cl_fail | $probe_failed | - | - | - | - |")
((ka_ref + cl_ref + probe_failed > 0)) || failures+=("control: 3 restarts without handoff showed no refusal")
for p in $(token_pids); do kill -9 "$p" 2>/dev/null || true; done

echo
echo "$n upgrades by SIGHUP, about one every 0.5 s, under wrk keep-alive and Connection: close"
echo "(2 connections each, 1 ms between requests). Load: requests / refused / reset / failed"
echo "(refused: wrk connect + write errors; reset: read errors, including each idle keep-alive"
echo "connection a draining server closes). Probes: GET / on a new connection every ~5 ms."
echo "Alone: SIGHUP to the new generation answering new connections with the old no longer"
echo "holding the listener. RSS (KiB) and descriptors: generation 0 / generation N."
echo "Left: processes of the run other than the last generation alive 6 s after the last upgrade."
echo
echo "| server | upgrades | keep-alive load | Connection: close load | probes unanswered | alone median / max (ms) | VmRSS KiB gen 0 / N | fds gen 0 / N | left |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if ((${#failures[@]})); then
    printf 'FAIL: %s\n' "${failures[@]}"
    exit 1
fi
if ((have_ours)); then
    echo "ok: every upgrade of our server completed, none refused"
else
    echo "note: our server was not measured (examples/upgrade.rs absent); ecdysis only, nothing asserted"
fi
