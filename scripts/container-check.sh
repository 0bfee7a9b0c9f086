#!/usr/bin/env bash
# The supervisor in a real container: podman 4.3 + runc (Debian's packages,
# no registry), the upgrade example (examples/upgrade.rs) as the entrypoint,
# so PID 1 of the container's PID namespace, with --network=host and a
# loopback client on the host.
#
# With the supervisor (the default at PID 1), under the classifying load
# client (tests/src/bin/upgrade_load.rs, a new connection per request):
#   - `podman kill -s HUP` N times, each followed (GET /, curl) until the next
#     generation answers and PID 1 has reaped the old service: none refused,
#     reset or failed, PID 1 the same, the container running;
#   - kill -9 of the serving process (the child of the container's PID 1,
#     its host pid found by its NSpid) a few times, each followed until a new
#     service answers: none refused, timed out or failed otherwise; a request
#     the killed process had already accepted may end reset or cut short:
#     counted apart, at most one per worker per kill;
#   - one more `podman kill -s HUP`: the restarted service upgrades too;
#   - `podman stop`: timed; the container's exit status must be 143 (the
#     SIGTERM passed to the service, which dies of it), not 137 (SIGKILL
#     after podman's 10 s).
# Controls, the same container with RESTARTABLE_SUPERVISE=0 (PID 1 is the
# server itself): `podman kill -s HUP` under the same load: the container
# exits and the port refuses (refused > 0); `podman stop` of a fresh one:
# timed, status 137 (PID 1 has no SIGTERM handler: podman SIGKILLs it after
# 10 s).
# It fails when one of these does not hold. Timings are reported, not
# asserted (its waits are bounded for a loaded machine).
#
# Usage: scripts/container-check.sh [--quick] [--upgrades N]
#   --quick: 5 upgrades, 3 kills (1 s apart); 20-40 s after the packages
#            are installed and the build done (10 s of it the control's
#            `podman stop`).
#   full:    20 upgrades, 5 kills (2.5 s apart, under the supervisor's
#            crash-loop limit of 5 starts in 10 s); 40-60 s.
#   --upgrades N: N upgrades instead.
# Needs root; installs podman, runc and busybox-static with apt-get when
# missing. Every container and the image it makes are named with a token of
# this run and removed on exit, also on failure. KEEP_WORK=1 keeps the work
# directory (logs, the load client's output).
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0 upgrades=20 kills=5 kill_gap=2.5 count=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 upgrades=5 kills=3 kill_gap=1 ;;
        --upgrades) count=${2:?--upgrades needs a number}; shift ;;
        *) echo "usage: scripts/container-check.sh [--quick] [--upgrades N]" >&2; exit 2 ;;
    esac
    shift
done
upgrades=${count:-$upgrades}
workers=3 interval=0.5 drain_timeout=2 slack=10
if [ "$(id -u)" != 0 ]; then
    echo "error: scripts/container-check.sh needs root (podman with runc, rootful)" >&2
    exit 1
fi
started=$EPOCHREALTIME
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
# Seconds since $1 (an $EPOCHREALTIME), 1 decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# --- packages, build ---
install_s=0
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || [ ! -x /bin/busybox ] ||
    ! command -v curl >/dev/null || ! command -v ss >/dev/null || ! command -v pgrep >/dev/null; then
    t=$EPOCHREALTIME
    echo "installing podman, runc, busybox-static (apt-get)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman runc busybox-static curl iproute2 procps >/dev/null
    install_s=$(since "$t")
fi
t=$EPOCHREALTIME
cargo build -q --release --example upgrade
cargo build -q --release -p restartable-tests --bin upgrade_load
build_s=$(since "$t")
server_bin=$root/target/release/examples/upgrade
load_bin=$root/target/release/upgrade_load
checks_started=$EPOCHREALTIME

token=$(printf '%s-%04x' "$$" "$RANDOM")
image=localhost/restartable-check:$token
name_sup=restartable-check-$token-supervised
name_ctl=restartable-check-$token-unsupervised
name_stop=restartable-check-$token-unsupervised-stop
work=$(mktemp -d /tmp/container-check.XXXXXX)
bg_pids=()
made_image=0
cleanup() {
    local status=$? pid name
    for pid in "${bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for name in "$name_sup" "$name_ctl" "$name_stop"; do
        if [ "$status" != 0 ] && pm container exists "$name" 2>/dev/null; then
            echo "--- podman logs $name (the last 30 lines)" >&2
            pm logs "$name" 2>&1 | tail -n 30 >&2 || true
        fi
        pm rm -f -t 0 "$name" >/dev/null 2>&1 || true
    done
    if [ "$made_image" = 1 ]; then pm rmi -f "$image" >/dev/null 2>&1 || true; fi
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# podman's default ulimits cannot be set in this sandbox; cgroupfs, and no
# journald for logs and events.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
pids_limit = 0
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$work/containers.conf
# (crun, podman's default here, fails: "cgroups in hybrid mode not supported".)
pm() { podman --runtime runc "$@"; }

failed=0
fail() {
    echo "FAIL: $*"
    failed=1
}

# --- the image: the example, its shared libraries, busybox ---
t=$EPOCHREALTIME
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/etc"
cp "$server_bin" "$rootfs/bin/upgrade"
while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done < <(ldd "$server_bin" | grep -o '/[^ ]*' | sort -u)
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sh"
tar -C "$rootfs" -cf "$work/rootfs.tar" .
made_image=1
pm import -q "$work/rootfs.tar" "$image" >/dev/null
image_s=$(since "$t")

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

# GET / on a new connection: prints the body (`pid=P generation=N`) and
# succeeds, or prints curl's exit status (7: refused) and fails.
get() {
    local out status=0
    out=$(curl -s --max-time 2 -H 'Connection: close' "http://127.0.0.1:$1/" 2>/dev/null) || status=$?
    if [ "$status" = 0 ] && [[ $out == pid=* ]]; then
        echo "$out"
        return 0
    fi
    echo "curl-$status"
    return 1
}

# follow PORT REGEX SECONDS [PID]: GET / until the body matches REGEX (its
# first group a pid other than PID, when given); BASH_REMATCH is left set.
# Counts the GETs that failed in follow_refused (curl 7) and follow_failed
# (any other). Fails when none matched in time, or at once when the host
# pid $follow_watch (a container's PID 1, when set) has exited.
follow_refused=0 follow_failed=0 follow_watch=""
follow() {
    local port=$1 regex=$2 deadline=$(($(now_ms) + $3 * 1000)) not=${4:-} out
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if [ -n "$follow_watch" ] && gone "$follow_watch"; then return 1; fi
        if out=$(get "$port"); then
            if [[ $out =~ $regex ]] && [ "${BASH_REMATCH[1]}" != "$not" ]; then return 0; fi
        elif [ "$out" = curl-7 ]; then
            follow_refused=$((follow_refused + 1))
        else
            follow_failed=$((follow_failed + 1))
        fi
        sleep 0.005
    done
    return 1
}

state() { pm inspect --format "{{.State.$2}}" "$1"; }

# run_container NAME PORT [ENV...]: starts it and waits (60 s) for its
# generation 0 to answer; sets pid1 (its PID 1's host pid).
run_container() {
    local name=$1 port=$2 env=() e
    shift 2
    for e in "$@"; do env+=(-e "$e"); done
    pm run -d --name "$name" --network=host "${env[@]}" "$image" \
        /bin/upgrade --listen "127.0.0.1:$port" --ready-timeout 5 --drain-timeout "$drain_timeout" >/dev/null
    if ! follow "$port" '^pid=([0-9]+) generation=0$' 60; then
        echo "error: container $name: no answer from generation 0 on 127.0.0.1:$port within 60 s; status $(state "$name" Status), its log:" >&2
        pm logs "$name" >&2 || true
        return 1
    fi
    pid1=$(state "$name" Pid)
}

nspid() { awk '/^NSpid:/ { print $NF }' "/proc/$1/status" 2>/dev/null; }
# The host pid of the child of host pid $1 that is pid $2 in its
# namespace. Waits for it up to 5 s: a process whose parent exited is the
# child of PID 1 only once every thread of that parent has ended.
child_with_nspid() {
    local p deadline=$(($(now_ms) + 5000))
    while :; do
        for p in $(pgrep -P "$1" || true); do
            if [ "$(nspid "$p")" = "$2" ]; then
                echo "$p"
                return 0
            fi
        done
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.005
    done
}
# Succeeds when PID has exited (absent, or a zombie not yet reaped).
gone() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [ "${stat%% *}" = Z ]
}
# await_reaped PID SECONDS: fails when PID is still there (running, or a
# zombie its parent has not reaped) after SECONDS. (A process whose main
# thread ended shows as a zombie while its other threads end.)
await_reaped() {
    local deadline=$(($(now_ms) + $2 * 1000))
    while [ -e "/proc/$1" ]; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.005
    done
}
zombies_under() { # the children of host pid $1 that are zombies
    local p n=0 stat
    for p in $(pgrep -P "$1" || true); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        [ "${stat%% *}" = Z ] && n=$((n + 1))
    done
    echo "$n"
}

# start_load NAME PORT: the classifying client, a new connection per
# request; sets load_pid. stop_load NAME: ends it, sets summary.
start_load() {
    rm -f "$work/$1.stop"
    "$load_bin" --connect "127.0.0.1:$2" --workers "$workers" --duration 600 \
        --until "$work/$1.stop" --new-connection > "$work/$1.load" 2>&1 &
    load_pid=$!
    bg_pids+=("$load_pid")
    sleep 0.3
}
stop_load() {
    touch "$work/$1.stop"
    wait "$load_pid" || true
    summary=$(grep '^summary ' "$work/$1.load") || {
        echo "error: the load client ($1) printed no summary: $(tr '\n' ' ' < "$work/$1.load")" >&2
        return 1
    }
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$summary"; }
counts() { grep -o 'ok=[0-9]* bad_status=[0-9]* refused=[0-9]* reset=[0-9]* eof=[0-9]* timeout=[0-9]* other=[0-9]*' <<<"$summary"; }

# Whether podman said it SIGKILLed the container `podman stop` stopped.
fallback() { if grep -q 'resorting to SIGKILL' "$work/stop-$1.err"; then echo yes; else echo no; fi; }

# Statistics of a column of numbers: median / max.
median_max() {
    sort -n | awk '{a[NR] = $1} END {if (NR) printf "%d / %d", a[int((NR + 1) / 2)], a[NR]; else printf "-"}'
}

rows=()

# ============ with the supervisor ============
port=$(free_port)
run_container "$name_sup" "$port"
sup_pid1=$pid1 follow_watch=$pid1
generation=0 served=${BASH_REMATCH[1]}
if [ "$served" = 1 ]; then
    fail "supervised: GET / answered from pid 1: no supervisor split off (the server is PID 1 itself)"
fi
if [ "$(nspid "$sup_pid1")" != 1 ]; then
    fail "supervised: the container's State.Pid $sup_pid1 is pid $(nspid "$sup_pid1") in its namespace, not 1"
fi
service_host=$(child_with_nspid "$sup_pid1" "$served") ||
    fail "supervised: the service (pid $served in the container) is no child of PID 1 (host pid $sup_pid1)"

# --- upgrades by `podman kill -s HUP` ---
start_load upgrades "$port"
: > "$work/upgrades"
follow_refused=0 follow_failed=0
done_upgrades=0
for i in $(seq "$upgrades"); do
    old_host=$service_host
    trigger=$(now_ms)
    pm kill -s HUP "$name_sup" >/dev/null
    sent=$(now_ms)
    if ! follow "$port" "^pid=([0-9]+) generation=$((generation + 1))\$" 30; then
        fail "supervised: upgrade $i: no answer from generation $((generation + 1)) $(gone "$sup_pid1" && echo "before the container's PID 1 exited" || echo "within 30 s") after podman kill -s HUP"
        break
    fi
    answered=$(now_ms)
    served=${BASH_REMATCH[1]} generation=$((generation + 1))
    if ! await_reaped "$old_host" $((drain_timeout + slack)); then
        fail "supervised: upgrade $i: the old service (host pid $old_host) still runs or is unreaped $((drain_timeout + slack)) s after generation $generation answered"
    fi
    gone_at=$(now_ms)
    # The old one reaped, the new one is PID 1's child (reparented to it).
    service_host=$(child_with_nspid "$sup_pid1" "$served") || {
        fail "supervised: upgrade $i: generation $generation (pid $served in the container) is no child of PID 1 once the old service is reaped"
        break
    }
    echo "$((sent - trigger)) $((answered - trigger)) $((gone_at - trigger)) $(pgrep -P "$sup_pid1" | wc -l) $(zombies_under "$sup_pid1")" >> "$work/upgrades"
    done_upgrades=$i
    sleep "$interval"
done
sleep 0.3
stop_load upgrades
running=$(state "$name_sup" Running)
pid1_now=$(state "$name_sup" Pid)
up_bad=$(field failed)
[ "$done_upgrades" = "$upgrades" ] || fail "supervised: $done_upgrades of $upgrades upgrades done"
[ "$up_bad" = 0 ] || fail "supervised: requests failed under upgrades: $(counts)"
[ "$follow_refused$follow_failed" = 00 ] ||
    fail "supervised: GETs of the follow loop failed under upgrades: refused $follow_refused, other $follow_failed"
[ "$running" = true ] || fail "supervised: the container is not running after the upgrades (status $(state "$name_sup" Status))"
[ "$pid1_now" = "$sup_pid1" ] || fail "supervised: PID 1's host pid went from $sup_pid1 to $pid1_now"
kill_ms=$(awk '{print $1}' "$work/upgrades" | median_max)
follow_ms=$(awk '{print $2}' "$work/upgrades" | median_max)
gone_ms=$(awk '{print $3}' "$work/upgrades" | median_max)
children=$(awk '{print $4}' "$work/upgrades" | sort -n | uniq | paste -sd, -)
zombies=$(awk '{s += $5} END {print s + 0}' "$work/upgrades")
[ "$zombies" = 0 ] || fail "supervised: zombies left under PID 1 after upgrades: $zombies"
rows+=("| supervised: \`podman kill -s HUP\` | $done_upgrades upgrades (to generation $generation) | $(counts) | follow loop: refused $follow_refused, other $follow_failed | podman kill returns: $kill_ms ms; new generation answers: $follow_ms ms; old service reaped: $gone_ms ms (median / max) | PID 1 same: $([ "$pid1_now" = "$sup_pid1" ] && echo yes || echo no); running: $running; PID 1's children after each: $children; zombies: $zombies |")

# --- kill -9 of the service ---
phase_kills() {
    start_load kills "$port"
    : > "$work/kills"
    follow_refused=0 follow_failed=0
    done_kills=0
    for i in $(seq "$kills"); do
        victim_ns=$served victim=$service_host
        t0=$(now_ms)
        kill -9 "$victim" || {
            fail "supervised: kill $i: kill -9 of the service's host pid $victim failed"
            break
        }
        if ! await_reaped "$victim" 10; then
            fail "supervised: kill $i: host pid $victim still there (unreaped) 10 s after SIGKILL"
            break
        fi
        reaped=$(now_ms)
        if ! follow "$port" '^pid=([0-9]+) generation=([0-9]+)$' 30 "$victim_ns"; then
            fail "supervised: kill $i: no other service answered within 30 s of kill -9 of $victim (pid $victim_ns in the container); container status $(state "$name_sup" Status)"
            break
        fi
        answered=$(now_ms)
        served=${BASH_REMATCH[1]} generation=${BASH_REMATCH[2]}
        service_host=$(child_with_nspid "$sup_pid1" "$served") || {
            fail "supervised: kill $i: the new service (pid $served in the container) is no child of PID 1"
            break
        }
        echo "$((reaped - t0)) $((answered - t0)) $generation" >> "$work/kills"
        done_kills=$i
        sleep "$kill_gap"
    done
    sleep 0.3
    stop_load kills
    in_flight=$(($(field reset) + $(field eof)))
    hard=$(($(field refused) + $(field timeout) + $(field other) + $(field bad_status)))
    running=$(state "$name_sup" Running)
    [ "$done_kills" = "$kills" ] || fail "supervised: $done_kills of $kills kills followed by a new service"
    [ "$hard" = 0 ] || fail "supervised: requests refused, timed out or failed across kill -9: $(counts)"
    [ "$in_flight" -le $((workers * kills)) ] ||
        fail "supervised: $in_flight requests reset or cut short across $kills kills of $workers workers: more than those in flight at the kills"
    [ "$follow_refused" = 0 ] || fail "supervised: the follow loop was refused $follow_refused times across kill -9"
    [ "$follow_failed" = 0 ] || fail "supervised: $follow_failed GETs of the follow loop failed after the killed service was gone"
    [ "$running" = true ] || fail "supervised: the container is not running after the kills (status $(state "$name_sup" Status))"
    reap_ms=$(awk '{print $1}' "$work/kills" | median_max)
    restart_ms=$(awk '{print $2}' "$work/kills" | median_max)
    restart_gens=$(awk '{print $3}' "$work/kills" | paste -sd, -)
    rows+=("| supervised: kill -9 of the service (every ${kill_gap}s) | $done_kills kills (generations answering after: $restart_gens) | $(counts) | in flight at a kill (reset + eof, at most $workers per kill): $in_flight; follow loop: refused $follow_refused, other $follow_failed | kill to reaped: $reap_ms ms; kill to a new service answering: $restart_ms ms (median / max) | running: $running |")
}

# --- one more upgrade, of the restarted service ---
phase_upgrade_again() {
    follow_refused=0 follow_failed=0
    old_host=$service_host
    trigger=$(now_ms)
    pm kill -s HUP "$name_sup" >/dev/null
    if follow "$port" "^pid=([0-9]+) generation=$((generation + 1))\$" 30; then
        after_ms=$(($(now_ms) - trigger))
        generation=$((generation + 1))
        await_reaped "$old_host" $((drain_timeout + slack)) ||
            fail "supervised: the restarted service (host pid $old_host) still runs or is unreaped $((drain_timeout + slack)) s after its upgrade"
    else
        after_ms=-
        fail "supervised: after the kills, no generation $((generation + 1)) within 30 s of podman kill -s HUP"
    fi
    [ "$follow_refused$follow_failed" = 00 ] ||
        fail "supervised: the follow loop failed in the upgrade after the kills: refused $follow_refused, other $follow_failed"
    rows+=("| supervised: \`podman kill -s HUP\` after the kills | to generation $generation | - | follow loop: refused $follow_refused, other $follow_failed | new generation answers: $after_ms ms | |")
}

# --- podman stop ---
phase_stop() {
    t=$EPOCHREALTIME
    pm stop "$name_sup" >/dev/null 2> "$work/stop-supervised.err"
    stop_s=$(since "$t")
    sup_exit=$(state "$name_sup" ExitCode)
    pm logs "$name_sup" > "$work/supervised.log" 2>&1 || true
    [ "$sup_exit" = 143 ] || fail "supervised: podman stop: exit status $sup_exit, not 143 (took $stop_s s)"
    supervisor_said=$(grep -o 'supervisor: exiting with status [0-9]*' "$work/supervised.log" | tail -1 || true)
    restarts_logged=$(grep -c 'supervisor: the service (pid [0-9]*) .*started again' "$work/supervised.log" || true)
    rows+=("| supervised: \`podman stop\` | | | | $stop_s s | exit status $sup_exit; SIGKILL fallback: $(fallback supervised) (log: \"${supervisor_said:-none}\"; restarts logged: $restarts_logged) |")
}

# Each next phase only while the container runs (else: failed above).
for phase in phase_kills phase_upgrade_again phase_stop; do
    if [ "$(state "$name_sup" Running)" = true ]; then
        "$phase"
    else
        fail "supervised: $phase skipped: the container is not running (status $(state "$name_sup" Status), exit status $(state "$name_sup" ExitCode))"
        rows+=("| supervised: $phase | skipped: the container exited | | | | exit status $(state "$name_sup" ExitCode) |")
    fi
done

# ============ controls: RESTARTABLE_SUPERVISE=0 ============
follow_watch=""
cport=$(free_port)
run_container "$name_ctl" "$cport" RESTARTABLE_SUPERVISE=0
[ "${BASH_REMATCH[1]}" = 1 ] ||
    fail "control: RESTARTABLE_SUPERVISE=0: generation 0 answered from pid ${BASH_REMATCH[1]}, not 1"
start_load control "$cport"
follow_refused=0 follow_failed=0
trigger=$(now_ms)
pm kill -s HUP "$name_ctl" >/dev/null
# The old PID 1 drains and exits; with it every process of the namespace.
ctl_pid1=$pid1 ctl_gen1=- ctl_exit_ms=-
deadline=$(($(now_ms) + 30000))
while [ "$(now_ms)" -lt "$deadline" ]; do
    if [ "$ctl_gen1" = - ] && out=$(get "$cport") && [[ $out == *" generation=1" ]]; then
        ctl_gen1=$(($(now_ms) - trigger))
    fi
    if gone "$ctl_pid1"; then
        ctl_exit_ms=$(($(now_ms) - trigger))
        break
    fi
    sleep 0.005
done
for _ in $(seq 100); do
    [ "$(state "$name_ctl" Running)" = true ] || break
    sleep 0.1
done
sleep 1
stop_load control
pm logs "$name_ctl" > "$work/unsupervised.log" 2>&1 || true
ctl_took_over=$(grep -c '^serving pid=[0-9]* generation=1 ' "$work/unsupervised.log" || true)
ctl_gen1_ok=$(sed -n 's/^generation 1 pid=[0-9]* ok=\([0-9]*\).*/\1/p' "$work/control.load")
ctl_refused=$(field refused)
ctl_status=$(state "$name_ctl" Status)
ctl_exit=$(state "$name_ctl" ExitCode)
[ "$ctl_exit_ms" != - ] || fail "control: RESTARTABLE_SUPERVISE=0: PID 1 still runs 30 s after podman kill -s HUP"
[ "$ctl_status" = exited ] || fail "control: RESTARTABLE_SUPERVISE=0: the container is $ctl_status after its PID 1 exited"
[ "$ctl_refused" -gt 0 ] || fail "control: RESTARTABLE_SUPERVISE=0: no connection refused after the HUP upgrade: $(counts)"
rows+=("| control, RESTARTABLE_SUPERVISE=0: \`podman kill -s HUP\` | 1 upgrade | $(counts) | generation 1 served (its log): $([ "$ctl_took_over" -gt 0 ] && echo yes || echo no); answered: the load client ${ctl_gen1_ok:-0} requests, the follow loop $([ "$ctl_gen1" = - ] && echo "none" || echo "at $ctl_gen1 ms") | PID 1 exited: $ctl_exit_ms ms after podman kill -s HUP | $ctl_status, exit status $ctl_exit |")

sport=$(free_port)
run_container "$name_stop" "$sport" RESTARTABLE_SUPERVISE=0
t=$EPOCHREALTIME
pm stop "$name_stop" >/dev/null 2> "$work/stop-unsupervised.err"
ctl_stop_s=$(since "$t")
ctl_stop_exit=$(state "$name_stop" ExitCode)
[ "$ctl_stop_exit" = 137 ] ||
    fail "control: RESTARTABLE_SUPERVISE=0: podman stop: exit status $ctl_stop_exit, not 137 (took $ctl_stop_s s)"
rows+=("| control, RESTARTABLE_SUPERVISE=0: \`podman stop\` | | | | $ctl_stop_s s | exit status $ctl_stop_exit; SIGKILL fallback: $(fallback unsupervised) |")

echo
echo "== $([ "$quick" = 1 ] && echo "--quick: ")the upgrade example as a podman (runc) container's entrypoint, --network=host; load: upgrade_load --new-connection, $workers workers; --drain-timeout $drain_timeout"
echo "| scenario | done | load client | other counts | timings | container |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "podman $(podman --version | awk '{print $3}'), runc $(runc --version | awk 'NR == 1 {print $3}'); packages installed: $([ "$install_s" = 0 ] && echo "already" || echo "$install_s s"); build: $build_s s; image: $image_s s; checks: $(since "$checks_started") s; total: $(since "$started") s"
if [ "$failed" = 0 ]; then echo "container-check: ok"; else echo "container-check: FAILED"; fi
exit "$failed"
