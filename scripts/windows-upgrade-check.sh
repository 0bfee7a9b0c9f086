#!/usr/bin/env bash
# The upgrade on Windows under Wine, driven from Linux: examples/upgrade.rs
# built for x86_64-pc-windows-gnu, asked to upgrade with `upgrade.exe
# --upgrade PID` (its named pipe), under the classifying load client
# (upgrade_load, a Linux program). Every figure is Wine's.
#
#   upgrades  N upgrades under a 4-worker connect loop: 0 refused, 0 reset,
#             0 failed; a second program binds the port with SO_REUSEADDR in
#             a loop throughout and never succeeds.
#   faults    the new binary exits, hangs, is missing (the running one is
#             renamed and another file put in its place, as on Windows):
#             the initiator is told, the old process serves on (no refusal
#             under load), nothing of the attempt is left running, and the
#             next upgrade succeeds. During the hang a second request is
#             refused (one upgrade at a time).
#   idle      four clients that connect to the request pipe and write
#             nothing: dropped after 5 s, and the next request is answered.
#
# Usage: scripts/windows-upgrade-check.sh [--quick]   (--quick: 10 upgrades)
#   (run by scripts/windows-check.sh; needs UPGRADE_EXE, WINEPREFIX and
#   UPGRADE_LOAD in the environment, and x86_64-w64-mingw32-gcc)
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

upgrades=20
if [ "${1:-}" = "--quick" ]; then
    upgrades=10
fi
: "${UPGRADE_EXE:?the path of upgrade.exe}" "${UPGRADE_LOAD:?the path of upgrade_load}" "${WINEPREFIX:?}"
: "${WIN_SERVICE:?the path of win_service.exe (the hijacker)}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" RUST_BACKTRACE=0
unset DISPLAY
wine=/usr/lib/wine/wine64
work=$(mktemp -d /tmp/windows-upgrade.XXXXXX)
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

# The program runs from a folder of its own, where its file is swapped.
cp "$UPGRADE_EXE" "$work/upgrade.exe"
cp "$UPGRADE_EXE" "$work/good.exe"
cp "$(dirname "$UPGRADE_EXE")"/bcryptprimitives.dll "$work/" 2>/dev/null || true
cat >"$work/exits.c" <<'C'
int main(void) { return 3; }
C
cat >"$work/hangs.c" <<'C'
#include <windows.h>
int main(void) { Sleep(INFINITE); return 0; }
C
x86_64-w64-mingw32-gcc -O2 -o "$work/exits.exe" "$work/exits.c"
x86_64-w64-mingw32-gcc -O2 -o "$work/hangs.exe" "$work/hangs.c"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serving() { # the pid and generation that answer, as "PID GEN"
    { curl -s -m 2 "http://127.0.0.1:$port/" 2>/dev/null || true; } |
        sed -n 's/^pid=\([0-9]*\) generation=\([0-9]*\).*/\1 \2/p'
}
await_serving_other() { # waits up to 30 s for a pid other than $1
    local end=$((SECONDS + 30)) now
    while [ $SECONDS -le $end ]; do
        now=$(serving)
        if [ -n "$now" ] && [ "${now%% *}" != "$1" ]; then
            echo "$now"
            return 0
        fi
        sleep 0.05
    done
    return 1
}
ask() { # asks the serving process to upgrade; prints the answer, keeps the status
    timeout 60 "$wine" "$work/good.exe" --upgrade "$1" 2>&1
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
processes() { pgrep -fc 'upgrade.exe --listen' || true; }

(cd "$work" && exec "$wine" "$work/upgrade.exe" --listen "127.0.0.1:$port" --ready-timeout 5 \
    --drain-timeout 2 >"$work/server.out" 2>"$work/server.err") &
end=$((SECONDS + 30))
until [ -n "$(serving)" ] || [ $SECONDS -gt $end ]; do sleep 0.1; done
[ -n "$(serving)" ] || { tail "$work/server.err"; fail "the server never served"; exit 1; }

"$UPGRADE_LOAD" --connect "127.0.0.1:$port" --duration 600 --workers 4 --timeout 5 \
    --until "$work/load.done" >"$work/load.out" &
load=$!
"$wine" "$WIN_SERVICE" hijack "$port" 100000 >"$work/hijack.out" &
hijack=$!
sleep 1

echo "== $upgrades upgrades under load (Wine)"
start_ms=$(date +%s%3N)
for ((i = 1; i <= upgrades; i++)); do
    now=$(serving)
    answer=$(ask "${now%% *}") || { fail "upgrade $i: $answer"; break; }
    case $answer in upgraded:*) ;; *) fail "upgrade $i answered: $answer" ;; esac
    await_serving_other "${now%% *}" >/dev/null || fail "upgrade $i: the old process still answers"
    sleep 0.2
done
took_ms=$(($(date +%s%3N) - start_ms))
now=$(serving)
[ "${now#* }" = "$upgrades" ] || fail "generation ${now#* } after $upgrades upgrades"

echo "== faults (Wine)"
fault() { # fault NAME: the new binary is replaced by NAME (missing: none)
    local name=$1 before answer after
    before=$(serving)
    mv "$work/upgrade.exe" "$work/running.exe"
    [ "$name" = missing ] || cp "$work/$name.exe" "$work/upgrade.exe"
    local started=$SECONDS
    answer=$(ask "${before%% *}") && fail "fault $name: the request succeeded: $answer"
    local seconds=$((SECONDS - started))
    after=$(serving)
    [ "$after" = "$before" ] || fail "fault $name: $before served before, $after after"
    sleep 0.5
    [ "$(processes)" = 1 ] || fail "fault $name: $(processes) server processes left (expected 1)"
    rm -f "$work/upgrade.exe"
    mv "$work/running.exe" "$work/upgrade.exe"
    echo "fault $name: told in ${seconds}s: ${answer#error: }"
    answer=$(ask "${before%% *}") || fail "after fault $name, the next upgrade: $answer"
    await_serving_other "${before%% *}" >/dev/null || fail "after fault $name: no new process"
    echo "  next upgrade: $answer"
}
fault exits
fault missing
# The hang, with a second request while it waits: one upgrade at a time.
(sleep 1.5; ask "$(serving | cut -d' ' -f1)" >"$work/second.out" || true) &
second=$!
fault hangs
wait "$second" || true
grep -q "WouldBlock\|under way" "$work/second.out" ||
    fail "a second request during an upgrade: $(cat "$work/second.out")"
echo "second request during the hang: $(cat "$work/second.out")"

echo "== idle clients (Wine)"
# Four clients hold every instance of the request pipe and write nothing:
# each is dropped after 5 s, and the next request is answered.
before=$(serving)
"$wine" "$WIN_SERVICE" hold "${before%% *}" 4 30 >"$work/hold.out" &
holder=$!
sleep 2
started=$SECONDS
answer=$(ask "${before%% *}") || fail "a request after 4 idle clients: $answer"
await_serving_other "${before%% *}" >/dev/null || fail "after 4 idle clients: no new process"
echo "4 idle clients ($(head -n 1 "$work/hold.out")): the next request answered in $((SECONDS - started))s: $answer"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

touch "$work/load.done"
wait "$load"
kill "$hijack" 2>/dev/null || true
wait "$hijack" 2>/dev/null || true
timeout 30 "$wine" "$WIN_SERVICE" hijack "$port" 1 >>"$work/hijack.out" || true
summary=$(grep '^summary' "$work/load.out")
echo "$summary"
for counter in refused reset eof timeout other failed; do
    [ "$(field "$counter" "$summary")" = 0 ] || fail "$counter=$(field "$counter" "$summary") under load"
done
hijacks=$(grep '^hijack' "$work/hijack.out" | head -n 1)
[ "$(field bound "$hijacks")" = 0 ] || fail "another program bound the port: $hijacks"
echo "upgrades: $upgrades in ${took_ms} ms (request to answer, each through a Wine start of the asker); ok=$(field ok "$summary") refused=$(field refused "$summary") reset=$(field reset "$summary") failed=$(field failed "$summary")"
echo "hijack (a second program, SO_REUSEADDR, bind in a loop): $hijacks"

if [ "$failures" != 0 ]; then
    echo "windows upgrade check: $failures failed (logs in $work)"
    exit 1
fi
echo "windows upgrade check passed (every figure is Wine's)"
