#!/usr/bin/env bash
# Upgrade faults, against our server (examples/upgrade.rs, when present) and a server made
# with Cloudflare's ecdysis 1.1.1 (compare/ecdysis-server), the same procedure for both:
# each server is copied to a temp dir and started from there; with two wrk clients running
# (keep-alive, and `Connection: close`), the file at that path is replaced by a faulty one
# and an upgrade is triggered (ours: `upgrade --upgrade PID` run from a good copy; ecdysis:
# SIGHUP, its outcome read from its log); then a good binary is put back and an upgrade is
# triggered again. Faults:
#   exit3         a script `exit 3` (exits before ready)
#   hang          `exec sleep HOLD` (never ready)
#   child-hangs   `sleep HOLD & wait` (never ready; its child holds the inherited fds)
#   child-left    `sleep HOLD &` then exit 0 (exits; a background child holds the fds)
#   ready-crash   speaks the ready protocol by hand, then exits 1 (ours: writes R, exits
#                 without waiting for G; ecdysis: writes OK, exits)
#   commit-crash  crashes once the upgrade is committed (ours: R, reads G, writes T, exit 1;
#                 ecdysis: OK, sleep 1 (past its 0.5 s check), exit 1) — nothing serves after:
#                 the control that shows the load clients see refusals
#   noexec        the good binary, chmod -x
#   missing       the file removed
# Reports per fault and server: the load's errors during the fault (refused = wrk's connect
# + write errors, reset = read errors, failed = timeouts + non-2xx), whether the old
# serves after it, what the initiator is told and after how long, processes of the attempt
# left over (holding the listener or the ready channel) and how long, and whether the next
# upgrade with a good binary succeeds.
# What a fault does to our process without load (the initiator told, nothing left over, the
# old serving, the next upgrade) is asserted by `cargo test` (tests/tests/upgrade_faults.rs);
# here, what needs wrk: asserts for OUR server only (ecdysis is reported) 0 refused/reset/
# failed under load during a fault before commit, and, as a control, that commit-crash is
# seen as refused connections. The other columns are reported for both servers, side by
# side. Our ready timeout is set to 2 s; ecdysis's is fixed at 5 s.
# Takes about 6 minutes (HOLD = 60 s); --quick about 3 (HOLD = 15 s).
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"
# shellcheck source=scripts/upgrade-lib.sh
source "$(dirname "$0")/upgrade-lib.sh"

quick=0
[ "${1:-}" = --quick ] && quick=1
hold=60
((quick)) && hold=15
trap cleanup_all EXIT
close_inherited_fds
need_tools
build_servers
kinds=()
((have_ours)) && kinds+=(ours)
kinds+=(ecdysis)
# FAULTS="a b" runs only those.
read -r -a faults <<<"${FAULTS:-exit3 hang child-hangs child-left ready-crash commit-crash noexec missing}"
failures=()
rows=()

# write_fault KIND FAULT DIR: puts the faulty file at DIR/server.
write_fault() {
    local kind=$1 fault=$2 dir=$3 f=$3/server
    rm -f "$f"
    case $fault in
    exit3) printf '#!/bin/sh\nexit 3\n' >"$f" ;;
    hang) printf '#!/bin/sh\nexec sleep %s\n' "$hold" >"$f" ;;
    child-hangs) printf '#!/bin/sh\nsleep %s &\nwait\n' "$hold" >"$f" ;;
    child-left) printf '#!/bin/sh\nsleep %s >/dev/null 2>&1 &\nexit 0\n' "$hold" >"$f" ;;
    ready-crash | commit-crash)
        if [ "$kind" = ours ]; then
            # RESTARTABLE_UPGRADE=v=2,fd=N,generation=n,pid=p
            cat >"$f" <<'EOF'
#!/bin/bash
fd=${RESTARTABLE_UPGRADE#*fd=}
fd=${fd%%,*}
printf R >&"$fd"
if [ -e "$0.commit" ]; then
    IFS= read -r -n1 -u "$fd" reply
    [ "$reply" = G ] && printf T >&"$fd"
    sleep 0.2
fi
exit 1
EOF
        else
            cat >"$f" <<'EOF'
#!/bin/bash
printf OK >&"$ECDYSIS_RUST_PIPE_READY"
[ -e "$0.commit" ] && sleep 1
exit 1
EOF
        fi
        rm -f "$f.commit"
        [ "$fault" = commit-crash ] && : >"$f.commit"
        ;;
    noexec) cp "$dir/good" "$f" && chmod -x "$f" ;;
    missing) ;;
    esac
    [ -e "$f" ] && [ "$fault" != noexec ] && chmod +x "$f"
    return 0
}

# The ready channel's descriptor number a process of the attempt got (from its environment).
ready_fd_of() {
    local env
    env=$({ tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null) || return 0
    if [ "$2" = ours ]; then
        sed -n 's/^RESTARTABLE_UPGRADE=\(.*,\)\{0,1\}fd=\([0-9]*\).*/\2/p' <<<"$env"
    else
        sed -n 's/^ECDYSIS_RUST_PIPE_READY=\([0-9]*\)$/\1/p' <<<"$env"
    fi
}

# describe_extra KIND OLD INITIATOR INO: one line per process of this run other than the
# old server and the initiator: "pid comm ppid listener=y/n ready=y/n".
describe_extra() {
    local kind=$1 old=$2 init=$3 ino=$4 pid comm ppid l r rfd f
    for pid in $(token_pids); do
        [ "$pid" = "$old" ] || [ "$pid" = "$init" ] && continue
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
        l=n r=n
        for f in /proc/"$pid"/fd/*; do
            [ "$(readlink "$f" 2>/dev/null)" = "socket:[$ino]" ] && l=y
        done
        rfd=$(ready_fd_of "$pid" "$kind")
        [ -n "$rfd" ] && [ -e "/proc/$pid/fd/$rfd" ] && r=y
        echo "$pid $comm $ppid $l $r"
    done
}

# run_trigger KIND DIR PID: triggers an upgrade and waits for its outcome (bounded),
# sampling the attempt's processes meanwhile. Sets: o_ok (1 success), o_msg, o_secs,
# o_held (seconds after the trigger when a process other than the new one — the old's
# direct child — was last seen holding the listener or the ready channel, or -).
run_trigger() {
    local kind=$1 dir=$2 pid=$3 port ino start lines ipid=0 status line t extra
    port=$(cat "$dir/port")
    ino=$(listener_inode "$port")
    o_ok=0 o_msg="no outcome within $((hold + 20)) s" o_secs=- o_held=-
    start=$(now)
    if [ "$kind" = ours ]; then
        env UPGRADE_RUN_TOKEN="$token" "$dir/good" --upgrade "$pid" \
            >"$dir/init.out" 2>"$dir/init.err" &
        ipid=$!
    else
        lines=$(wc -l <"$dir/err")
        kill -HUP "$pid"
    fi
    while :; do
        t=$(elapsed "$start" "$(now)")
        if awk -v t="$t" -v m="$((hold + 20))" 'BEGIN { exit !(t > m) }'; then
            if [ "$ipid" != 0 ]; then kill -9 "$ipid" 2>/dev/null || true; fi
            break
        fi
        if [ "$kind" = ours ]; then
            if ! kill -0 "$ipid" 2>/dev/null; then
                status=0
                wait "$ipid" || status=$?
                o_secs=$(elapsed "$start" "$(now)")
                if [ "$status" = 0 ]; then
                    o_ok=1
                    o_msg="exit 0: $(head -1 "$dir/init.out")"
                else
                    o_msg="exit $status: $(head -1 "$dir/init.err")"
                fi
                break
            fi
        else
            line=$(tail -n +"$((lines + 1))" "$dir/err" | grep -m1 -E 'Upgrade (failed|successful)' || true)
            if [ -n "$line" ]; then
                o_secs=$(elapsed "$start" "$(now)")
                case $line in
                *successful*) o_ok=1 ;;
                esac
                o_msg="log: ${line#* * }"
                break
            fi
        fi
        extra=$(describe_extra "$kind" "$pid" "$ipid" "$ino" |
            awk -v old="$pid" '$3 != old && ($4 == "y" || $5 == "y")')
        [ -n "$extra" ] && o_held=$t
        sleep 0.05
    done
    ipid_last=$ipid
}

# Wait (up to 30 s) until GET / on a new connection answers generation $2; prints the body.
await_generation() {
    local port=$1 gen=$2 body="" deadline=$((${EPOCHREALTIME/./} + 30000000))
    while ((${EPOCHREALTIME/./} < deadline)); do
        body=$(probe "$port")
        case $body in *"generation=$gen"*) echo "$body"; return 0 ;; esac
        sleep 0.05
    done
    echo "$body"
    return 1
}

kill_run() {
    local pid
    for pid in $(token_pids); do kill -9 "$pid" 2>/dev/null || true; done
    sleep 0.1
}

fail() { failures+=("$1"); echo "FAIL: $1" >&2; }

for fault in "${faults[@]}"; do
    for kind in "${kinds[@]}"; do
        dir=$work/$kind-$fault
        port=$(free_port)
        start_server "$kind" "$dir" "$port"
        echo "$port" >"$dir/port"
        old=$srv_pid
        echo "== $fault / $kind (pid $old, port $port)" >&2
        write_fault "$kind" "$fault" "$dir"
        start_wrk "$kind-$fault-ka" "$port" keepalive
        wka=$wrk_pid
        start_wrk "$kind-$fault-close" "$port" close
        wcl=$wrk_pid
        sleep 0.5
        ino=$(listener_inode "$port")
        run_trigger "$kind" "$dir" "$old"
        told=$o_msg known=$o_secs held=$o_held
        # Processes of the attempt still there once the failure is known, and how long.
        left=$(describe_extra "$kind" "$old" "$ipid_last" "$ino")
        left_desc=none left_secs=0
        if [ -n "$left" ]; then
            left_desc=$(awk '{ printf "%s%s(l=%s,r=%s)", sep, $2, $4, $5; sep = " " }' <<<"$left")
            t0=$(now)
            for _ in $(seq 1 $((hold * 10 + 100))); do
                [ -z "$(describe_extra "$kind" "$old" "$ipid_last" "$ino")" ] && break
                sleep 0.1
            done
            left_secs=$(elapsed "$t0" "$(now)")
        fi
        sleep 1
        after=$(probe "$port")
        figures=$(stop_wrk "$wka" "$kind-$fault-ka")
        read -r ka_req ka_ref ka_rst ka_fail <<<"$figures"
        figures=$(stop_wrk "$wcl" "$kind-$fault-close")
        read -r cl_req cl_ref cl_rst cl_fail <<<"$figures"
        case $after in
        "pid=$old generation=0") serves=yes ;;
        *) serves="no (${after%$'\n'})" ;;
        esac
        next=-
        if [ "$fault" = commit-crash ]; then
            next="n/a (nothing left to upgrade)"
            [ "$serves" = yes ] && next="-"
        else
            # Put a good binary back and upgrade again.
            cp "$dir/good" "$dir/server.tmp" && mv -f "$dir/server.tmp" "$dir/server"
            run_trigger "$kind" "$dir" "$old"
            if ((o_ok)) && body=$(await_generation "$port" 1); then
                next="ok in ${o_secs}s (${body%$'\n'})"
            else
                next="FAILED: $o_msg"
            fi
        fi
        short_told=${told:0:90}
        rows+=("| $fault | $kind | ka $ka_req/$ka_ref/$ka_rst/$ka_fail, close $cl_req/$cl_ref/$cl_rst/$cl_fail | $serves | $short_told | $known | $held | $left_desc ${left_secs}s | $next |")
        if [ "$kind" = ours ]; then
            if [ "$fault" = commit-crash ]; then
                ((ka_ref + cl_ref > 0)) || fail "$fault/ours: control: no refused connection seen after the new process crashed past commit"
            else
                ((ka_ref + ka_rst + ka_fail + cl_ref + cl_rst + cl_fail == 0)) ||
                    fail "$fault/ours: load errors during the fault"
            fi
        fi
        kill_run
    done
done

echo
echo "Upgrade faults (ours: --ready-timeout 2; ecdysis: fixed 5 s; HOLD = ${hold}s)."
echo "load: requests/refused/reset/failed for wrk keep-alive (ka) and Connection: close,"
echo "from just before the trigger to 1 s after the outcome; held: last second after the"
echo "trigger a process other than the new one held the listener or the ready channel;"
echo "left: processes of the attempt still there once the failure was known (l = holds the"
echo "listener, r = holds the ready channel) and how long until they were gone."
echo
echo "| fault | server | load during fault | old serves after | initiator told | known after (s) | held (s) | left | next upgrade |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if ((${#failures[@]})); then
    printf 'FAIL: %s\n' "${failures[@]}"
    exit 1
fi
if ((have_ours)); then
    echo "ok: our server met every fault"
else
    echo "note: our server was not measured (examples/upgrade.rs absent); ecdysis only, nothing asserted"
fi
