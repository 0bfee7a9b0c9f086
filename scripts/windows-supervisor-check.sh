#!/usr/bin/env bash
# The Windows supervisor under Wine, driven from Linux: tests/src/bin/
# win_service.rs built for x86_64-pc-windows-gnu runs under
# `Supervisor::start`; the classifying load client (upgrade_load, a Linux
# program) connects throughout. Every figure is Wine's.
#
#   kills     N kills of the serving process (TerminateProcess, as
#             `taskkill /F`) under a 4-worker connect loop: 0 refused; only
#             requests the killed process had accepted may fail, counted
#             on their own. A second program binds the port with
#             SO_REUSEADDR in a loop the whole time and must never succeed.
#   queued    20 requests sent right after a kill, before the next service
#             listens: every one answered by it.
#   forged    a service that sends the record of its listener twice more
#             by hand (a second library writing to the pipe): the second
#             names a socket the supervisor holds; refused, and 3 kills
#             under load refuse nothing.
#   upgrades  a service with upgrades under the supervisor: 4 times, an
#             upgrade (upgrade::request) and then a kill of the new
#             process, under load: the supervisor follows each upgrade, and
#             nothing is refused.
#   loop      a service that exits 3 before it listens: the supervisor ends
#             with status 3 at the crash-loop limit.
#   stop      SIGINT to the console's processes (a terminal's Ctrl-C, as
#             Wine delivers it): the service drains, both exit 0.
#   controls  the same kills without the supervisor, the service started
#             again by a shell loop: with the crate's bind and `retry`, and
#             with std's plain bind. These refuse connections.
#
# Usage: scripts/windows-supervisor-check.sh [--quick]
#   (run by scripts/windows-check.sh, which sets up Wine and the compiler,
#   with --quick unless WINDOWS_CHECK=--full; --quick: 10 kills
#   and 3 per control, instead of 20 and 5)
# Needs: WIN_SERVICE (the .exe), WINEPREFIX, and UPGRADE_LOAD (the Linux
# load client) in the environment.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

kills=20
control_kills=5
if [ "${1:-}" = "--quick" ]; then
    kills=10
    control_kills=3
fi
: "${WIN_SERVICE:?the path of win_service.exe}" "${UPGRADE_LOAD:?the path of upgrade_load}"
: "${WINEPREFIX:?}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" RUST_BACKTRACE=0
unset DISPLAY
wine=/usr/lib/wine/wine64
work=$(mktemp -d /tmp/windows-supervisor.XXXXXX)
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
cleanup() {
    local job
    for job in $(jobs -p); do kill -9 "$job" 2>/dev/null || true; done
    wineserver -k 2>/dev/null || true
    wineserver -w 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The Windows pid that answers on port $1, or nothing.
serving_pid() {
    { curl -s -m 2 "http://127.0.0.1:$1/" 2>/dev/null || true; } | sed -n 's/^pid=\([0-9]*\) .*/\1/p'
}

# Waits up to $2 s for a service on port $1 other than pid $3; prints its pid.
await_serving() {
    local port=$1 seconds=$2 old=${3:-} pid end=$((SECONDS + $2))
    while [ $SECONDS -le $end ]; do
        pid=$(serving_pid "$port")
        if [ -n "$pid" ] && [ "$pid" != "$old" ]; then
            echo "$pid"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

win_kill() {
    timeout 30 "$wine" "$WIN_SERVICE" kill "$1" >/dev/null
}

field() { # field NAME LINE
    sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"
}

# kills N PORT LABEL: N kills of whatever serves on PORT, under load; the
# load's summary line is left in $work/LABEL.load.
kill_under_load() {
    local n=$1 port=$2 label=$3 pid new i
    "$UPGRADE_LOAD" --connect "127.0.0.1:$port" --duration 600 --workers 4 --timeout 5 \
        --until "$work/$label.done" >"$work/$label.load" &
    local load=$!
    sleep 1
    pid=$(await_serving "$port" 20) || { fail "$label: nothing serves on port $port"; return 1; }
    for ((i = 1; i <= n; i++)); do
        win_kill "$pid"
        new=$(await_serving "$port" 90 "$pid") || { fail "$label: no service after kill $i"; break; }
        pid=$new
        sleep 0.3
    done
    sleep 0.5
    touch "$work/$label.done"
    wait "$load"
}

echo "== kills under the supervisor ($kills, Wine)"
port=$(free_port)
# Kills every second or two are no crash loop here: the limit is raised.
RESTARTABLE_START_LIMIT=1000/10 "$wine" "$WIN_SERVICE" serve "$port" >"$work/serve.out" 2>"$work/serve.err" &
supervisor=$!
await_serving "$port" 30 >/dev/null || { cat "$work/serve.err"; fail "the supervised service never served"; exit 1; }
"$wine" "$WIN_SERVICE" hijack "$port" 100000 >"$work/hijack.out" &
hijack=$!
start=$SECONDS
kill_under_load "$kills" "$port" kills
seconds=$((SECONDS - start))
summary=$(grep '^summary' "$work/kills.load")
echo "$summary"
refused=$(field refused "$summary")
ok=$(field ok "$summary")
lost=$(($(field failed "$summary") - refused))
[ "$refused" = 0 ] || fail "$refused connections refused across $kills kills under the supervisor"
[ "$ok" -gt 0 ] || fail "no request answered"
[ "$lost" -le $((kills * 4)) ] || fail "$lost requests lost: more than the 4 workers' requests in flight at each kill"
echo "kills: $kills in ${seconds}s; ok=$ok refused=$refused lost_in_flight=$lost (reset, eof, timeout, other: requests the killed process had accepted, at most one per worker per kill)"

kill "$hijack" 2>/dev/null || true
timeout 30 "$wine" "$WIN_SERVICE" hijack "$port" 1 >>"$work/hijack.out" || true
wait "$hijack" 2>/dev/null || true
hijacks=$(tail -n 1 "$work/hijack.out")
echo "hijack (a second program, SO_REUSEADDR, bind in a loop): $hijacks"
[ "$(field bound "$hijacks")" = 0 ] || fail "another program bound the port: $hijacks"
grep -q "^hijack attempts=" "$work/hijack.out" || fail "the hijack loop reported nothing"

echo "== queued: 20 requests right after a kill, the next service slow to start (Wine)"
qport=$(free_port)
RESTARTABLE_START_LIMIT=1000/10 WIN_SERVICE_START_DELAY_MS=1500 \
    "$wine" "$WIN_SERVICE" serve "$qport" >"$work/queued.out" 2>"$work/queued.err" &
queued_supervisor=$!
pid=$(await_serving "$qport" 30) || fail "queued: nothing serves"
win_kill "$pid"
sent=$(date +%s%N)
requests=()
for i in $(seq 20); do
    curl -s -m 30 "http://127.0.0.1:$qport/" >"$work/queued.$i" 2>/dev/null &
    requests+=($!)
done
for request in "${requests[@]}"; do wait "$request" || true; done
wait_ms=$((($(date +%s%N) - sent) / 1000000))
new=$(serving_pid "$qport")
answered=$(cat "$work"/queued.[0-9]* | grep -c "^pid=$new " || true)
[ "$answered" = 20 ] || fail "queued: $answered of 20 requests sent after the kill were answered by the next service (pid $new)"
echo "queued: $answered of 20, sent right after the kill, answered by pid $new (a start delay of 1500 ms); all answered ${wait_ms} ms after they were sent"
kill -INT $(pgrep -f "win_service.exe serve $qport") 2>/dev/null || true
wait "$queued_supervisor" || true

echo "== stop: SIGINT to the console's processes (Wine)"
service_pid=$(serving_pid "$port")
kill -INT $(pgrep -f "win_service.exe serve $port") 2>/dev/null || true
set +e
timeout 30 tail --pid="$supervisor" -f /dev/null
if kill -0 "$supervisor" 2>/dev/null; then
    kill -9 "$supervisor"
fi
wait "$supervisor"
status=$?
set -e
if grep -q "^stopped pid=$service_pid" "$work/serve.out" && [ "$status" = 0 ]; then
    echo "stop: the service drained (\"stopped pid=$service_pid\"), the supervisor exited $status"
else
    fail "stop: supervisor status $status; service output: $(tr '\n' ' ' <"$work/serve.out")"
fi

echo "== forged: a record sent twice by other code in the service (Wine)"
fport=$(free_port)
RESTARTABLE_START_LIMIT=1000/10 "$wine" "$WIN_SERVICE" replay "$fport" >"$work/forged.out" 2>"$work/forged.err" &
forged_supervisor=$!
await_serving "$fport" 30 >/dev/null || fail "forged: nothing serves"
grep -q "^replayed the record twice" "$work/forged.out" || fail "forged: the service did not send the records"
kill_under_load 3 "$fport" forged || true
summary=$(grep '^summary' "$work/forged.load" || true)
refusals=$(grep -c "names a socket this process holds already" "$work/forged.err" || true)
[ "$refusals" -ge 1 ] || fail "forged: the replayed record was not refused"
[ "$(field refused "$summary")" = 0 ] || fail "forged: $(field refused "$summary") refused across 3 kills after the forged records"
echo "forged: $refusals replayed record(s) refused by the supervisor; 3 kills after: refused=$(field refused "$summary") ok=$(field ok "$summary")"
kill -INT $(pgrep -f "win_service.exe replay $fport") 2>/dev/null || true
wait "$forged_supervisor" || true

echo "== upgrades and kills under the supervisor (Wine)"
uport=$(free_port)
RESTARTABLE_START_LIMIT=1000/10 "$wine" "$WIN_SERVICE" upgradable "$uport" >"$work/upgradable.out" 2>"$work/upgradable.err" &
upgradable_supervisor=$!
await_serving "$uport" 30 >/dev/null || fail "upgradable: nothing serves"
"$UPGRADE_LOAD" --connect "127.0.0.1:$uport" --duration 600 --workers 4 --timeout 5 \
    --until "$work/upgradable.done" >"$work/upgradable.load" &
uload=$!
sleep 1
for ((i = 1; i <= 4; i++)); do
    pid=$(serving_pid "$uport")
    [ -n "$pid" ] || { fail "upgrade $i under the supervisor: nothing serves"; break; }
    answer=$(timeout 60 "$wine" "$WIN_SERVICE" ask "$pid" 2>&1) || { fail "upgrade $i under the supervisor: $answer"; break; }
    new=$(await_serving "$uport" 30 "$pid") || { fail "upgrade $i under the supervisor: the old process still answers"; break; }
    sleep 0.3
    # Then a kill of the upgraded service: the supervisor follows it.
    win_kill "$new" || { fail "kill $i after an upgrade: cannot kill $new"; break; }
    await_serving "$uport" 30 "$new" >/dev/null || { fail "kill $i after an upgrade: no service"; break; }
    sleep 0.3
done
touch "$work/upgradable.done"
wait "$uload"
summary=$(grep '^summary' "$work/upgradable.load" || true)
follows=$(grep -c "was upgraded; pid" "$work/upgradable.err" || true)
[ "$follows" = 4 ] || fail "the supervisor followed $follows of 4 upgrades"
[ "$(field refused "$summary")" = 0 ] || fail "$(field refused "$summary") refused across upgrades and kills under the supervisor"
kill -0 "$upgradable_supervisor" 2>/dev/null || fail "the supervisor exited during the upgrades"
echo "upgrades and kills under the supervisor: 4 upgrades each followed by a kill; the supervisor followed $follows; refused=$(field refused "$summary") ok=$(field ok "$summary") lost_in_flight=$(($(field failed "$summary") - $(field refused "$summary")))"
kill -INT $(pgrep -f "win_service.exe upgradable $uport") 2>/dev/null || true
wait "$upgradable_supervisor" || true

echo "== crash loop: a service that exits 3 before it listens (Wine)"
port=$(free_port)
set +e
RESTARTABLE_START_LIMIT=3/30 timeout 60 "$wine" "$WIN_SERVICE" exit3 "$port" >"$work/loop.out" 2>"$work/loop.err"
status=$?
set -e
starts=$(grep -c "exited with status 3" "$work/loop.err" || true)
if [ "$status" = 3 ] && grep -q "crash loop" "$work/loop.err"; then
    echo "crash loop: exit status 3 after $starts starts (limit 3/30); $(grep -o 'after [0-9.]*ms (it had passed no listener)' "$work/loop.err" | tr '\n' ' ')"
else
    fail "crash loop: status $status; $(tail -n 3 "$work/loop.err")"
fi

for mode in alone plain; do
    echo "== control: $control_kills kills without the supervisor, '$mode' (Wine)"
    port=$(free_port)
    (
        while [ ! -e "$work/$mode.done" ]; do
            "$wine" "$WIN_SERVICE" "$mode" "$port" >>"$work/$mode.out" 2>>"$work/$mode.err" || sleep 0.2
        done
    ) &
    loop=$!
    kill_under_load "$control_kills" "$port" "$mode" || true
    summary=$(grep '^summary' "$work/$mode.load" || true)
    echo "$summary"
    echo "control $mode: refused=$(field refused "$summary") ok=$(field ok "$summary") across $control_kills kills"
    pid=$(serving_pid "$port")
    [ -z "$pid" ] || win_kill "$pid" || true
    kill "$loop" 2>/dev/null || true
    wait "$loop" 2>/dev/null || true
    [ "$(field refused "$summary")" -gt 0 ] || fail "control $mode refused nothing: the check could not see refusals"
done

if [ "$failures" != 0 ]; then
    echo "windows supervisor check: $failures failed (logs in $work)"
    exit 1
fi
echo "windows supervisor check passed (every figure is Wine's)"
