#!/usr/bin/env bash
# examples/socket_activated.rs under a real systemd (252, PID 1 of a
# throw-away container: scripts/systemd/harness.sh), one container per
# scenario:
#
#   socket-activation  a socket unit on 127.0.0.1:18090 passes its socket as
#                      "http" to a service with Restart=always; one connection
#                      activates it. Asserted: the service takes the passed
#                      socket (whatever its address), runs with no restart,
#                      and answers through 127.0.0.1:18090; nothing on 8080.
#   without-socket     the same service with no socket unit: nothing is
#                      passed and the listener binds its address, 0.0.0.0:8080
#                      (the control).
#   no-fallback        a listener that names the socket and gives no address,
#                      with no socket unit: the start fails with an error that
#                      nothing was passed, and nothing is bound.
#
# Each scenario prints what it ran and what it saw (ss, systemctl status,
# the service's journal, NRestarts, the socket unit's result), then its
# checks; the script exits 1 when a check fails. Needs root; installs
# systemd-container (pinned to the installed systemd) and iproute2 if
# missing. About 5 s per scenario.
#
# Usage: scripts/systemd-check.sh [--keep] [SCENARIO...]
#        scripts/systemd-check.sh --teardown WORK_DIR
#   --keep      stop at the first scenario that fails (or after the last)
#               and leave its container running; prints how to enter it and
#               the --teardown command.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/systemd/harness.sh
source scripts/systemd/harness.sh
units=$root/scripts/systemd/units
default_scenarios=(socket-activation without-socket no-fallback)

keep=false
scenarios=()
while (($#)); do
    case $1 in
        --keep) keep=true ;;
        --teardown)
            [ $# = 2 ] || { echo "usage: $0 --teardown WORK_DIR" >&2; exit 2; }
            sd_teardown_saved "$2"
            exit ;;
        socket-activation | without-socket | no-fallback) scenarios+=("$1") ;;
        *)
            echo "usage: $0 [--keep] [socket-activation|without-socket|no-fallback ...]" >&2
            echo "       $0 --teardown WORK_DIR" >&2
            exit 2 ;;
    esac
    shift
done
((${#scenarios[@]})) || scenarios=("${default_scenarios[@]}")

stage=$(mktemp -d /tmp/restartable-systemd-bin.XXXXXX)
finished=false
on_exit() {
    local status=$? command=$BASH_COMMAND
    if ! $finished && [ "$status" != 0 ] && [[ $command != exit* ]]; then
        sd_say "stopped (status $status) while running: $command"
    fi
    if $keep && [ -n "$SD_NAME" ]; then
        sd_say "kept container $SD_NAME (PID 1 is host pid $SD_PID1):"
        echo "      a shell inside:     nsenter -t $SD_PID1 -a bash"
        echo "      its journal:        nsenter -t $SD_PID1 -a journalctl -b --no-pager"
        echo "      a client in its netns: nsenter -t $SD_PID1 -n bash"
        echo "      tear it down:       bash scripts/systemd-check.sh --teardown $SD_WORK"
    else
        sd_teardown || status=1
    fi
    rm -rf "$stage"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- checks and observations ----------------------------------------------

failures=()
scenario=

# Runs COMMAND as a check of the current scenario; a failure is recorded and
# the scenario goes on, so that all of what it saw is printed.
check() {
    local what=$1
    shift
    if "$@"; then
        sd_say "  ok    $what"
    else
        sd_say "  FAIL  $what"
        failures+=("$scenario: $what")
    fi
}

equals() {
    [ "$1" = "$2" ] || { echo "        saw \"$1\", expected \"$2\""; return 1; }
}

# The TCP listeners on PORT inside the container, as `ss -ltnpH` prints them.
listeners_on() {
    sd_in ss -ltnpH "sport = :$1"
}

# Succeeds when ADDR (e.g. 127.0.0.1:18090) is a listener that process PID
# (a pid inside the container) holds.
held_by() {
    local addr=$1 pid=$2 port=${1##*:}
    [ -n "$pid" ] && [ "$pid" != 0 ] &&
        listeners_on "$port" | awk -v addr="$addr" -v pid="pid=$pid," \
            '$4 == addr && index($0, pid) { found = 1 } END { exit !found }'
}

# PORT, or every port when none is given.
nothing_listens_on() {
    local seen
    if (($#)); then seen=$(listeners_on "$1"); else seen=$(sd_in ss -ltnpH); fi
    [ -z "$seen" ] || { echo "        saw: $seen"; return 1; }
}

# Succeeds when an HTTP response (from sd_http_get) ends with BODY.
answered_with() {
    local response=$1 body=$2
    [[ $response == HTTP/1.1\ 200* ]] && [ "$(printf '%s' "$response" | tail -n 1)" = "$body" ]
}

# Succeeds once the service's current process has said what it listens on
# or that it failed, or when it has no process.
service_spoke() {
    local pid
    pid=$(sd_prop "$1" MainPID)
    [ "$pid" != 0 ] || return 0
    sd_in journalctl _PID="$pid" -o cat --no-pager | grep -q '^listening on \|^error: '
}

# Waits until the units settle and the last one, the service, has said what
# it listens on; goes on (to print what it sees) when they do not.
settle_and_listen() {
    sd_settle 20 "$@" || true
    sd_wait_for 5 "${*: -1} to say what it listens on" service_spoke "${*: -1}" || true
}

# Prints the state of the container's units and listeners.
observe() {
    local unit
    sd_show sd_in ss -ltnp || true
    for unit in "$@"; do
        sd_show sd_in systemctl status --no-pager --full "$unit" || true
        sd_say "$unit: $(sd_in systemctl show --no-pager \
            -p ActiveState -p SubState -p Result -p NRestarts -p MainPID "$unit" | tr '\n' ' ')"
    done
}

# The service's journal (systemd's lines and the example's stderr), then
# figures from it: how often the example started, how often it failed with
# "error:", over how long, and what it last said it listens on.
service_journal() {
    local unit=$1
    sd_show sd_in journalctl -u "$unit" -o short-monotonic --no-pager || true
    sd_in journalctl -u "$unit" -o short-monotonic --no-pager | awk '
        function stamp(line) { sub(/^\[ */, "", line); sub(/\].*/, "", line); return line + 0 }
        / socket_activated[^:]*: started with / { starts++; if (first == "") first = stamp($0) }
        / socket_activated[^:]*: error: / { errors++; last_error = stamp($0) }
        / socket_activated[^:]*: listening on / { listening = $0; sub(/.*: listening on /, "", listening) }
        END {
            printf "figures: the example started %d times, %d of them ended with \"error:\"", starts, errors
            if (errors) printf ", the first start to the last error %.3f s", last_error - first
            printf "; last said it listens on: %s\n", listening == "" ? "(never)" : listening
        }' | while read -r line; do sd_say "$line"; done
}

# --- scenarios --------------------------------------------------------------

scenario_socket_activation_takes_passed_socket() {
    local socket=restartable-http.socket service=restartable-http.service
    sd_boot "rs-sd-act-$$" "$units/$socket" "$units/$service" -- "$stage/socket_activated"
    sd_show sd_in systemctl start "$socket"
    sd_show sd_in ss -ltnp || true

    sd_say "connecting to 127.0.0.1:18090 in the container's network namespace (activates $service)"
    local first second main
    first=$(sd_http_get 127.0.0.1 18090 2>&1) || first="$first (client exit status $?)"
    sd_say "the first connection got: $(printf '%s' "${first:-nothing}" | tail -n 1)"
    settle_and_listen "$socket" "$service"
    observe "$socket" "$service"
    service_journal "$service"
    sd_show sd_in journalctl -u "$socket" -o short-monotonic --no-pager || true
    second=$(sd_http_get 127.0.0.1 18090 2>&1) || second="$second (client exit status $?)"
    sd_say "GET / through 127.0.0.1:18090 now: $(printf '%s' "$second" | tail -n 1)"

    main=$(sd_prop "$service" MainPID)
    check "$socket did not fail (Result=success)" equals "$(sd_prop "$socket" Result)" success
    check "$socket is active" equals "$(sd_prop "$socket" ActiveState)" active
    check "$service is active (running)" \
        equals "$(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState))" "active (running)"
    check "$service was never restarted (NRestarts=0)" equals "$(sd_prop "$service" NRestarts)" 0
    check "the service's process ($main) holds the passed socket on 127.0.0.1:18090" \
        held_by 127.0.0.1:18090 "$main"
    check "GET / through 127.0.0.1:18090 is answered by the service's process (pid=$main)" \
        answered_with "$second" "pid=$main"

    local after=
    if [ "$(sd_prop "$service" ActiveState)" != active ]; then
        # What a user does next. Without reset-failed the start is refused
        # ("start request repeated too quickly") until StartLimitIntervalSec
        # (10 s) has passed; after that a plain start does the same as this.
        sd_say "$service is not running: started again by hand, as a user would"
        sd_show sd_in systemctl reset-failed "$service"
        sd_show sd_in systemctl start "$service" || true
        settle_and_listen "$service"
        observe "$socket" "$service"
        main=$(sd_prop "$service" MainPID)
        [ "$main" = 0 ] || sd_show sd_in journalctl _PID="$main" -o short-monotonic --no-pager || true
        local reply
        reply=$(sd_http_get 127.0.0.1 8080 2>&1) || reply="$reply (client exit status $?)"
        sd_say "GET / through 127.0.0.1:8080 now: $(printf '%s' "$reply" | tail -n 1)"
        after=", nor after $service was started again by hand"
    fi
    check "nothing listens on port 8080 (the function's own address)$after" nothing_listens_on 8080
}

# The control: with nothing passed, the port = 8080 listener binds its
# address, before and after the fix.
scenario_unit_without_socket_binds_fallback() {
    local service=restartable-plain.service
    sd_boot "rs-sd-plain-$$" "$units/$service" -- "$stage/socket_activated"
    sd_show sd_in systemctl start "$service"
    settle_and_listen "$service"
    observe "$service"
    service_journal "$service"

    local reply main
    reply=$(sd_http_get 127.0.0.1 8080 2>&1) || reply="$reply (client exit status $?)"
    sd_say "GET / through 127.0.0.1:8080: $(printf '%s' "$reply" | tail -n 1)"

    main=$(sd_prop "$service" MainPID)
    check "$service is active (running)" \
        equals "$(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState))" "active (running)"
    check "$service was never restarted (NRestarts=0)" equals "$(sd_prop "$service" NRestarts)" 0
    check "the service's process ($main) listens on 0.0.0.0:8080, the function's address" \
        held_by 0.0.0.0:8080 "$main"
    check "GET / through 127.0.0.1:8080 is answered by the service's process (pid=$main)" \
        answered_with "$reply" "pid=$main"
}

# A listener with no address to fall back to (socket_activated
# --no-fallback: `#[restartable_listener(inherit = "http")]`), and nothing
# passed.
scenario_unit_without_socket_fails_without_fallback() {
    local service=restartable-no-fallback.service
    sd_boot "rs-sd-nofb-$$" "$units/$service" -- "$stage/socket_activated"
    sd_show sd_in systemctl start "$service" || true
    settle_and_listen "$service"
    observe "$service"
    service_journal "$service"

    local error
    error=$(sd_in journalctl -u "$service" -o cat --no-pager | grep '^error: ' | tail -n 1) || true
    check "$service failed (exit status 1)" \
        equals "$(sd_prop "$service" ActiveState) $(sd_prop "$service" Result) $(sd_prop "$service" ExecMainStatus)" \
        "failed exit-code 1"
    check "its error says that nothing was passed (names LISTEN_FDS): ${error:-no error line}" \
        grep -q LISTEN_FDS <<<"$error"
    check "nothing listens on TCP in the container" nothing_listens_on
}

# --- run --------------------------------------------------------------------

sd_require
sd_say "systemd $(dpkg-query -W -f='${Version}' systemd), systemd-container $(dpkg-query -W -f='${Version}' systemd-container)"
sd_say "\$ cargo build --release --example socket_activated"
cargo build -q --release -p restartable-examples --example socket_activated
cp target/release/examples/socket_activated "$stage/"

timings=()
for ((i = 0; i < ${#scenarios[@]}; i++)); do
    scenario=${scenarios[i]}
    before=${#failures[@]}
    SD_BOOT_SECONDS=''
    start=${EPOCHREALTIME/./}
    printf '\n'
    sd_say "== scenario $scenario"
    case $scenario in
        socket-activation) scenario_socket_activation_takes_passed_socket ;;
        without-socket) scenario_unit_without_socket_binds_fallback ;;
        no-fallback) scenario_unit_without_socket_fails_without_fallback ;;
    esac
    failed=$((${#failures[@]} > before))
    boot=${SD_BOOT_SECONDS:+boot ${SD_BOOT_SECONDS}s}
    if $keep && { ((failed)) || ((i == ${#scenarios[@]} - 1)); }; then
        timings+=("$scenario: $(sd_seconds_since "$start")s with the container kept (${boot:-no boot})")
        break
    fi
    sd_teardown || failures+=("$scenario: teardown left something behind")
    timings+=("$scenario: $(sd_seconds_since "$start")s wall (${boot:-no boot})")
done

finished=true
printf '\n'
for line in "${timings[@]}"; do sd_say "$line"; done
if ((${#failures[@]})); then
    sd_say "${#failures[@]} check(s) failed:"
    printf '      %s\n' "${failures[@]}"
    exit 1
fi
sd_say "all checks passed"
