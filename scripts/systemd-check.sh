#!/usr/bin/env bash
# Services under a real systemd (252, PID 1 of a throw-away container:
# scripts/systemd/harness.sh), one container per scenario. The unit files
# are the ones in examples/systemd/ as they are (except the first three
# scenarios', in scripts/systemd/units/); the program is bound at
# /usr/local/bin/myapp. Load: scripts/systemd/load.py inside the container,
# 2 clients, one connection per request.
#
#   socket-activation  a socket unit on 127.0.0.1:18090 passes its socket as
#                      "http" to examples/socket_activated.rs (Restart=always);
#                      one connection activates it. Asserted: it takes the
#                      passed socket, runs with no restart, answers through
#                      127.0.0.1:18090; nothing on 8080.
#   without-socket     the same service with no socket unit: nothing is
#                      passed and the listener binds its address, 0.0.0.0:8080
#                      (the control).
#   no-fallback        a listener that names the socket and gives no address,
#                      with no socket unit: the start fails with an error that
#                      nothing was passed, and nothing is bound.
#   crash-socket       myapp-tcp.{socket,service}: N kill -9 under load.
#                      Asserted: 0 refused, NRestarts=N, the socket unit
#                      stays active. Control: the same kills with no socket
#                      unit (the program binds 0.0.0.0:8080): refused > 0.
#   socket-group       which setting gives a socket file the service binds
#                      itself a group other than its own (five services).
#   unix-socket        myapp-unix.{socket,service}: the file is myapp:web
#                      0660, group web may connect, others get EACCES; the
#                      service gets it as "unix" and answers through it.
#   crash-fdstore      myapp-fdstore.service (examples/upgrade.rs, fd store,
#                      no socket unit): N kill -9 under TCP and Unix load:
#                      0 refused, the stored sockets come back by name; with
#                      RestartSec=2s a connection made while no process runs
#                      is answered by the next one. Controls:
#                      FileDescriptorStoreMax=0 refuses; without
#                      RuntimeDirectoryPreserve=restart the file is gone.
#   reload-upgrade     myapp-upgrade.service: R `systemctl reload` under load
#                      (0 refused, 0 lost; MainPID new, generation + 1), then
#                      two failing binaries (reload exits non-zero, MainPID
#                      unchanged, still serving), then restored (succeeds).
#   reload-rollback    myapp-upgrade.service: a new binary that dies between
#                      G and T (it says ready, is let take over, and exits 1
#                      at once or 0.3 s later, before it says it took over),
#                      under load: the reload fails, MainPID unchanged, the
#                      old process still runs and serves, no restart, no
#                      "reception only permitted for main PID" in the
#                      journal, nothing refused or lost; the good binary
#                      restored, the next reload succeeds.
#
# Each scenario prints what it ran and what it saw, with figures
# (connections, refused, max latency, NRestarts, MainPID), then its checks;
# the script exits 1 when a check fails. Its waits are polls bounded at
# 30-60 s: a loaded machine makes a scenario slower, not failed. Needs
# root; installs systemd-container (pinned to the installed systemd) and
# iproute2 if missing. N=3 kills and R=2 reloads by default (all scenarios: 35-45 s);
# --full: N=20, R=5 (60-80 s).
#
# Usage: scripts/systemd-check.sh [--keep] [--full] [SCENARIO...]
#        scripts/systemd-check.sh --teardown WORK_DIR
#   --keep      stop at the first scenario that fails (or after the last)
#               and leave its container running; prints how to enter it and
#               the --teardown command.
#   UPGRADE_BIN=PATH  runs that build of examples/upgrade.rs (e.g. one of an
#               earlier commit) instead of building it here.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/systemd/harness.sh
source scripts/systemd/harness.sh
units=$root/scripts/systemd/units
default_scenarios=(socket-activation without-socket no-fallback crash-socket socket-group
    unix-socket crash-fdstore reload-upgrade reload-rollback)

keep=false
full=false
scenarios=()
while (($#)); do
    case $1 in
        --keep) keep=true ;;
        --full) full=true ;;
        --teardown)
            [ $# = 2 ] || { echo "usage: $0 --teardown WORK_DIR" >&2; exit 2; }
            sd_teardown_saved "$2"
            exit ;;
        socket-activation | without-socket | no-fallback | crash-socket | socket-group | unix-socket | \
            crash-fdstore | reload-upgrade | reload-rollback) scenarios+=("$1") ;;
        *)
            echo "usage: $0 [--keep] [--full] [SCENARIO ...]" >&2
            echo "       scenarios: ${default_scenarios[*]}" >&2
            echo "       $0 --teardown WORK_DIR" >&2
            exit 2 ;;
    esac
    shift
done
((${#scenarios[@]})) || scenarios=("${default_scenarios[@]}")
# kill -9 per crash scenario and good reloads in reload-upgrade.
if $full; then crash_kills=20 upgrade_reloads=5; else crash_kills=3 upgrade_reloads=2; fi

stage=$(mktemp -d /tmp/restartable-systemd-bin.XXXXXX)
finished=false
on_exit() {
    local status=$? command=$BASH_COMMAND
    if ! $finished && [ "$status" != 0 ] && [[ $command != exit* ]]; then
        sd_say "stopped (status $status) while running: $command"
    fi
    load_kill_all
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

# Succeeds when TEXT has no line with STRING; prints the lines that do.
not_in() {
    local seen
    seen=$(grep -F -- "$2" <<<"$1") || return 0
    printf '        saw: %s\n' "$seen"
    return 1
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
    grep -q '^listening on \|^error: ' <<<"$(sd_in journalctl _PID="$pid" -o cat --no-pager)"
}

# Waits until the units settle and the last one, the service, has said what
# it listens on; goes on (to print what it sees) when they do not.
settle_and_listen() {
    sd_settle 60 "$@" || true
    sd_wait_for 30 "${*: -1} to say what it listens on" service_spoke "${*: -1}" || true
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

# --- load, kills and figures (crash-socket, crash-fdstore, reload-upgrade) ---

examples_units=$root/examples/systemd
declare -A load_pids=()

# Starts a request loop (scripts/systemd/load.py, copied to the container's
# /srv/test) against TARGET (HOST:PORT or a Unix path in the container)
# inside the container; its figures go to $SD_WORK/load-NAME.out. Stopped by
# load_stop NAME.
load_start() {
    local name=$1 target=$2
    cp "$root/scripts/systemd/load.py" "$SD_WORK/bin/load.py"
    rm -f "$SD_WORK/bin/stop-$name"
    sd_in /usr/bin/python3 "$SD_BIN_DIR/load.py" --target "$target" \
        --stop-file "$SD_BIN_DIR/stop-$name" --clients 2 --max-seconds 300 \
        >"$SD_WORK/load-$name.out" 2>"$SD_WORK/load-$name.err" &
    load_pids[$name]=$!
    sd_say "request loop $name started against $target (2 clients, one connection per request)"
}

# Stops the loop NAME, prints its figures and sets LOAD (the figures line).
load_stop() {
    local name=$1
    touch "$SD_WORK/bin/stop-$name"
    wait "${load_pids[$name]}" 2>/dev/null || true
    unset "load_pids[$name]"
    LOAD=$(cat "$SD_WORK/load-$name.out")
    sed 's/^/      /' "$SD_WORK/load-$name.err"
    sd_say "request loop $name: ${LOAD:-no figures}"
}

# Stops every loop still running (on exit).
load_kill_all() {
    local pid
    for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${load_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    load_pids=()
}

# One figure of a loop's line: fig "$LOAD" refused.
fig() {
    local word
    for word in $1; do
        [ "${word%%=*}" != "$2" ] || { echo "${word#*=}"; return 0; }
    done
    echo "?"
}

at_least() {
    if [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2)); then return 0; fi
    echo "        saw \"$1\", expected at least $2"
    return 1
}

# Succeeds when UNIT is active.
unit_active() {
    [ "$(sd_prop "$1" ActiveState)" = active ]
}

# Succeeds when UNIT's main process is a new one (not OLD), and the unit
# is active (for Type=notify: READY=1 was received).
new_main_up() {
    local unit=$1 old=$2 pid
    pid=$(sd_prop "$unit" MainPID)
    [ "$pid" != 0 ] && [ "$pid" != "$old" ] &&
        [ "$(sd_prop "$unit" ActiveState)" = active ]
}

# kill -9 PID inside the container; refuses 0 or nothing (kill -9 0 would
# hit this script's own process group).
kill_main() {
    if ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
        sd_say "no main process to kill (MainPID=\"$1\")"
        failures+=("$scenario: no main process to kill")
        return 1
    fi
    sd_in kill -9 "$1"
}

# kill -9 UNIT's main process COUNT times, each time waiting until the
# next process is up and then letting the loop run 300 ms more.
kill_repeatedly() {
    local unit=$1 count=$2 i old start
    for ((i = 1; i <= count; i++)); do
        old=$(sd_prop "$unit" MainPID)
        start=${EPOCHREALTIME/./}
        kill_main "$old" || return 0
        sd_wait_for 30 "a new main process of $unit after kill -9 $old" new_main_up "$unit" "$old" || true
        sd_say "kill -9 $old ($i/$count): next main process $(sd_prop "$unit" MainPID) after $(sd_seconds_since "$start")s"
        sleep 0.3
    done
}

# The LISTEN_* variables of process PID inside the container.
listen_env() {
    sd_in cat "/proc/$1/environ" 2>/dev/null | tr '\0' '\n' | grep '^LISTEN_' | tr '\n' ' '
}

# Writes a drop-in NAME.conf for UNIT (into the bound units directory), in
# place of any earlier one, and reloads systemd.
drop_in() {
    local unit=$1 name=$2 text=$3
    rm -rf "$SD_WORK/units/$unit.d"
    mkdir -p "$SD_WORK/units/$unit.d"
    printf '%s\n' "$text" >"$SD_WORK/units/$unit.d/$name.conf"
    sd_say "drop-in $unit.d/$name.conf: $(tr '\n' ' ' <<<"$text")"
    sd_in systemctl daemon-reload
}

# Waits for UNIT to be active with a main process that answers on
# 127.0.0.1:PORT.
up_and_answering() {
    [ "$(sd_prop "$1" ActiveState)" = active ] && grep -q '^pid=' <<<"$(body_of "$2")"
}

# The body of GET / on TARGET (127.0.0.1:PORT, or a port, or a Unix path in
# the container), or what went wrong. (The upgrade example keeps a
# connection open after its response; load.py reads up to Content-Length.)
body_of() {
    local target=$1 reply
    [[ $target == */* || $target == *:* ]] || target=127.0.0.1:$target
    cp "$root/scripts/systemd/load.py" "$SD_WORK/bin/load.py"
    reply=$(sd_in timeout 15 /usr/bin/python3 "$SD_BIN_DIR/load.py" --once --target "$target" \
        --stop-file /nonexistent 2>"$SD_WORK/body.err") ||
        reply="$reply$(tail -n 1 "$SD_WORK/body.err") (client exit status $?)"
    printf '%s' "${reply:-nothing}" | tail -n 1
}

# --- crash-socket -------------------------------------------------------------

# kill -9 under load with the socket in a socket unit (examples/systemd/
# myapp-tcp.*): nothing refused. The control: the same program, kills and
# loop, with no socket unit: it binds 0.0.0.0:8080 itself after each start,
# and connections in the gap are refused.
scenario_crash_socket() {
    local socket=myapp-tcp.socket service=myapp-tcp.service kills=$crash_kills
    sd_boot "rs-sd-crs-$$" "$examples_units/$socket" "$examples_units/$service" --
    cp "$stage/socket_activated" "$SD_WORK/bin/myapp"
    cp "$stage/socket_activated" "$SD_WORK/bin/socket_activated"
    sd_show sd_in systemctl start "$socket"
    load_start socket 127.0.0.1:8080
    sd_wait_for 30 "$service to start on the first connection and answer" \
        up_and_answering "$service" 8080 || true
    local main
    main=$(sd_prop "$service" MainPID)
    sd_say "$service is up: main process $main, $(listen_env "$main")"
    kill_repeatedly "$service" "$kills"
    load_stop socket
    local with=$LOAD restarts
    restarts=$(sd_prop "$service" NRestarts)
    observe "$socket" "$service"
    sd_say "figures (socket unit): $kills kill -9, NRestarts=$restarts, connections ok=$(fig "$with" ok) refused=$(fig "$with" refused) reset=$(fig "$with" reset) empty=$(fig "$with" empty) max latency $(fig "$with" max_ms) ms, $(fig "$with" pids) distinct pids answered"

    check "no connection refused with the socket unit ($kills kill -9)" equals "$(fig "$with" refused)" 0
    check "connections were answered under the kills" at_least "$(fig "$with" ok)" 1
    check "NRestarts=$kills (one automatic restart per kill)" equals "$restarts" "$kills"
    check "$socket stayed active (Result=success)" \
        equals "$(sd_prop "$socket" ActiveState) $(sd_prop "$socket" Result)" "active success"
    check "$((kills + 1)) processes answered" at_least "$(fig "$with" pids)" $((kills + 1))

    sd_say "the control: the same program with no socket unit (restartable-plain.service, 0.0.0.0:8080, start limit off)"
    sd_show sd_in systemctl stop "$service" "$socket"
    cp "$units/restartable-plain.service" "$SD_WORK/units/"
    drop_in restartable-plain.service no-start-limit $'[Unit]\nStartLimitIntervalSec=0'
    sd_show sd_in systemctl start restartable-plain.service
    sd_wait_for 30 "restartable-plain.service to answer" up_and_answering restartable-plain.service 8080 || true
    main=$(sd_prop restartable-plain.service MainPID)
    sd_say "restartable-plain.service is up: main process $main, $(listen_env "$main")"
    load_start rebind 127.0.0.1:8080
    sleep 0.3
    kill_repeatedly restartable-plain.service "$kills"
    load_stop rebind
    local without=$LOAD
    restarts=$(sd_prop restartable-plain.service NRestarts)
    sd_say "figures (control, no socket unit): $kills kill -9, NRestarts=$restarts, connections ok=$(fig "$without" ok) refused=$(fig "$without" refused) reset=$(fig "$without" reset) max latency $(fig "$without" max_ms) ms"
    check "the control refused connections (the loop probed the gap after each kill)" \
        at_least "$(fig "$without" refused)" 1
    check "the control restarted $kills times too" equals "$restarts" "$kills"
}

# --- crash-fdstore ----------------------------------------------------------

# Succeeds when the upgrade example's process PID has said it serves.
said_serving() {
    grep -q '^serving ' <<<"$(sd_in journalctl _PID="$1" -o cat --no-pager)"
}

# kill -9 under load, no socket unit: the upgrade example stores its
# listeners in the fd store (examples/systemd/myapp-fdstore.service) and
# gets them back by name. Then a kill with RestartSec=2s: a connection made
# while no process runs is served by the next one. The controls: with
# FileDescriptorStoreMax=0 the same kills refuse connections; with
# RuntimeDirectoryPreserve=no the Unix socket's file is gone after a kill.
scenario_crash_fdstore() {
    local service=myapp-fdstore.service kills=$crash_kills sock=/run/myapp/myapp.sock
    sd_boot "rs-sd-crf-$$" "$examples_units/$service" --
    cp "$stage/upgrade" "$SD_WORK/bin/myapp"
    sd_show sd_in systemctl start "$service"
    local main
    main=$(sd_prop "$service" MainPID)
    sd_say "$service is up: main process $main, $(listen_env "$main")"
    sd_show sd_in journalctl _PID="$main" -o cat --no-pager || true
    sd_show sd_in ls -l "$sock" || true
    load_start tcp 127.0.0.1:8080
    load_start unix "$sock"
    sleep 0.3
    kill_repeatedly "$service" "$kills"
    load_stop tcp
    local tcp=$LOAD
    load_stop unix
    local unix=$LOAD restarts
    restarts=$(sd_prop "$service" NRestarts)
    main=$(sd_prop "$service" MainPID)
    observe "$service"
    local passed
    passed=$(listen_env "$main")
    sd_say "the last process ($main) was started with: ${passed:-no LISTEN_ variables}"
    sd_show sd_in journalctl _PID="$main" -o cat --no-pager || true
    sd_say "figures (fd store): $kills kill -9, NRestarts=$restarts; TCP ok=$(fig "$tcp" ok) refused=$(fig "$tcp" refused) reset=$(fig "$tcp" reset) empty=$(fig "$tcp" empty) max $(fig "$tcp" max_ms) ms; Unix ok=$(fig "$unix" ok) refused=$(fig "$unix" refused) reset=$(fig "$unix" reset) empty=$(fig "$unix" empty) max $(fig "$unix" max_ms) ms"
    check "no TCP connection refused ($kills kill -9)" equals "$(fig "$tcp" refused)" 0
    check "no Unix connection refused or missing file ($kills kill -9)" equals "$(fig "$unix" refused)" 0
    check "TCP and Unix connections were answered" at_least "$(($(fig "$tcp" ok) > 0 && $(fig "$unix" ok) > 0))" 1
    check "NRestarts=$kills" equals "$restarts" "$kills"
    check "the last process got the stored sockets by name (LISTEN_FDNAMES has http and unix)" \
        grep -Eq 'LISTEN_FDNAMES=(http:unix|unix:http) ' <<<"$passed"

    sd_say "a kill with RestartSec=2s: a connection while no process runs"
    drop_in "$service" slow-restart $'[Service]\nRestartSec=2s'
    local old start reply seconds
    old=$(sd_prop "$service" MainPID)
    kill_main "$old" || true
    sleep 0.2
    sd_show sd_in systemctl show -p ActiveState -p SubState -p MainPID "$service" || true
    sd_show sd_in ss -ltnp "sport = :8080" || true
    start=${EPOCHREALTIME/./}
    reply=$(body_of 8080)
    seconds=$(sd_seconds_since "$start")
    sd_say "GET / made 0.2 s after kill -9 $old: \"$reply\" after ${seconds}s"
    sd_wait_for 30 "a new main process" new_main_up "$service" "$old" || true
    main=$(sd_prop "$service" MainPID)
    check "the connection made while no process ran was answered by the next process ($main)" \
        grep -q "^pid=$main " <<<"$reply"

    sd_say "the control for the Unix socket: RuntimeDirectoryPreserve=no, one kill"
    drop_in "$service" no-preserve $'[Service]\nRuntimeDirectoryPreserve=no'
    old=$(sd_prop "$service" MainPID)
    kill_main "$old" || true
    sd_wait_for 3 "a new main process" new_main_up "$service" "$old" || true
    sd_show sd_in ls -la /run/myapp || true
    local after
    # shellcheck disable=SC2016
    after=$(sd_in /usr/bin/python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(type(e).__name__, e)' "$sock" 2>&1)
    sd_say "connect($sock) after the kill: $after"
    sd_say "$service now: $(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState)), NRestarts=$(sd_prop "$service" NRestarts); its last error: $(sd_in journalctl -u "$service" -o cat --no-pager | grep 'error: ' | tail -n 1)"
    check "the control: without RuntimeDirectoryPreserve=restart the socket file is gone after a kill (ENOENT)" \
        grep -q FileNotFoundError <<<"$after"

    sd_say "the control for TCP: FileDescriptorStoreMax=0 (nothing stored), the same kills"
    drop_in "$service" no-store $'[Service]\nFileDescriptorStoreMax=0'
    # stop + start: flushes the store (restart would keep it).
    sd_show sd_in systemctl stop "$service" || true
    sd_show sd_in systemctl start "$service" || true
    main=$(sd_prop "$service" MainPID)
    sd_say "main process $main, $(listen_env "$main")"
    load_start nostore 127.0.0.1:8080
    sleep 0.3
    kill_repeatedly "$service" "$kills"
    load_stop nostore
    sd_say "figures (control, no fd store): $kills kill -9, TCP ok=$(fig "$LOAD" ok) refused=$(fig "$LOAD" refused) reset=$(fig "$LOAD" reset) max $(fig "$LOAD" max_ms) ms"
    check "the control refused connections without the fd store" at_least "$(fig "$LOAD" refused)" 1
}

# --- reload-upgrade ---------------------------------------------------------

# The generation in GET / on 127.0.0.1:8080, or "?".
generation_now() {
    local body
    body=$(body_of 8080)
    [[ $body =~ generation=([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "? ($body)"
}

# `systemctl reload` as the upgrade (examples/systemd/myapp-upgrade.service)
# under load: nothing refused, the main process is the new one, its
# generation one more. Then a binary that fails (exit 3): the reload fails,
# the old process keeps serving; restored, the reload succeeds again.
scenario_reload_upgrade() {
    local service=myapp-upgrade.service reloads=$upgrade_reloads
    sd_boot "rs-sd-rel-$$" "$examples_units/$service" --
    cp "$stage/upgrade" "$SD_WORK/bin/myapp"
    sd_show sd_in systemctl start "$service"
    local main before generation i status
    main=$(sd_prop "$service" MainPID)
    generation=$(generation_now)
    sd_say "$service is up: main process $main, generation $generation"
    load_start reload 127.0.0.1:8080
    sleep 0.3
    for ((i = 1; i <= reloads; i++)); do
        before=$(sd_prop "$service" MainPID)
        local start=${EPOCHREALTIME/./}
        status=0
        sd_show sd_in systemctl reload "$service" || status=$?
        sd_say "reload $i/$reloads: exit status $status after $(sd_seconds_since "$start")s"
        main=$(sd_prop "$service" MainPID)
        local now
        now=$(generation_now)
        sd_say "MainPID $before -> $main, generation $generation -> $now"
        check "reload $i succeeded" equals "$status" 0
        check "reload $i: MainPID is a new process" test "$main" != "$before" -a "$main" != 0
        check "reload $i: generation $generation + 1" equals "$now" "$((generation + 1))"
        check "reload $i: GET / answered by the new main process" grep -q "^pid=$main " <<<"$(body_of 8080)"
        [[ $now =~ ^[0-9]+$ ]] && generation=$now
        sleep 0.5
    done

    # Two failing binaries: one that fails however it is started, so that
    # ExecReload= itself (the same path) exits 3; and one that runs the
    # upgrade request with the good binary but fails as the server, so that
    # the running process starts it, sees it exit and keeps serving.
    cp "$SD_WORK/bin/myapp" "$SD_WORK/bin/myapp.good"
    local variant
    for variant in broken server-fails; do
        if [ "$variant" = broken ]; then
            sd_say "a failing binary at the ExecStart path (a script: exit 3), then reload"
            printf '#!/bin/sh\nexit 3\n' >"$SD_WORK/bin/myapp.new"
        else
            sd_say "a binary that fails as the server (exit 3) but asks for the upgrade as the good one, then reload"
            # shellcheck disable=SC2016 # the script's own "$1" and "$@"
            printf '#!/bin/sh\n[ "$1" = --upgrade ] && exec %s/myapp.good "$@"\nexit 3\n' "$SD_LOCAL_BIN_DIR" \
                >"$SD_WORK/bin/myapp.new"
        fi
        chmod 755 "$SD_WORK/bin/myapp.new"
        mv "$SD_WORK/bin/myapp.new" "$SD_WORK/bin/myapp"
        before=$(sd_prop "$service" MainPID)
        status=0
        sd_show sd_in systemctl reload "$service" || status=$?
        main=$(sd_prop "$service" MainPID)
        sd_say "failing reload ($variant): exit status $status; MainPID $before -> $main; $(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState)); GET /: $(body_of 8080)"
        sd_show sd_in journalctl -u "$service" -n 6 -o cat --no-pager || true
        check "$variant: the reload failed (non-zero)" test "$status" != 0
        check "$variant: MainPID unchanged ($before)" equals "$main" "$before"
        check "$variant: the service is still active (running)" \
            equals "$(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState))" "active (running)"
        check "$variant: GET / still answered by $before, generation $generation" \
            equals "$(body_of 8080)" "pid=$before generation=$generation"
    done
    check "server-fails: the running process logged that the upgrade failed and it keeps serving" \
        grep -q 'upgrade: failed' <<<"$(sd_in journalctl _PID="$before" -o cat --no-pager)"

    sd_say "the binary restored, reload again"
    mv "$SD_WORK/bin/myapp.good" "$SD_WORK/bin/myapp"
    status=0
    sd_show sd_in systemctl reload "$service" || status=$?
    main=$(sd_prop "$service" MainPID)
    local now
    now=$(generation_now)
    sd_say "reload after restoring: exit status $status; MainPID $before -> $main; generation $generation -> $now"
    check "the reload after restoring succeeded" equals "$status" 0
    check "MainPID is a new process" test "$main" != "$before" -a "$main" != 0
    check "generation $generation + 1" equals "$now" "$((generation + 1))"
    sleep 0.3
    local restarts
    restarts=$(sd_prop "$service" NRestarts)

    # systemd 252 logs "Supervising process N which is not our child. We'll
    # most likely not notice when it exits." when MAINPID= names the new
    # process: does a crash of an upgraded main process still restart it?
    sd_say "kill -9 of the upgraded main process ($main, parent $(sd_in ps -o ppid= -p "$main" | tr -d ' '))"
    kill_repeatedly "$service" 1
    main=$(sd_prop "$service" MainPID)
    sd_say "after the kill: main process $main, $(listen_env "$main"), NRestarts=$(sd_prop "$service" NRestarts), GET /: $(body_of 8080)"
    check "a crash of the upgraded process is noticed and restarted (NRestarts $restarts -> $((restarts + 1)))" \
        equals "$(sd_prop "$service" NRestarts)" $((restarts + 1))
    check "the restarted process got the stored sockets by name" \
        grep -Eq 'LISTEN_FDNAMES=(http:unix|unix:http) ' <<<"$(listen_env "$main")"
    sleep 0.3
    load_stop reload
    observe "$service"
    sd_say "figures (reload): $((reloads + 3)) reloads ($((reloads + 1)) upgrades, 2 failing), NRestarts=$restarts before 1 kill -9; TCP requests=$(fig "$LOAD" requests) ok=$(fig "$LOAD" ok) refused=$(fig "$LOAD" refused) reset=$(fig "$LOAD" reset) empty=$(fig "$LOAD" empty) max $(fig "$LOAD" max_ms) ms, generations answered $(fig "$LOAD" generations)"
    check "no connection refused across the reloads and the kill" equals "$(fig "$LOAD" refused)" 0
    check "no connection lost but to the kill (reset + empty <= 2 for 2 clients; no timeout)" \
        test "$(($(fig "$LOAD" reset) + $(fig "$LOAD" empty)))" -le 2 -a "$(fig "$LOAD" timeout)" = 0
    check "no automatic restart across the reloads (NRestarts=0 before the kill)" equals "$restarts" 0
}

# The journal's cursor now (of its last entry), for journal_after.
journal_cursor() {
    sd_in journalctl -n 1 --show-cursor -o cat --no-pager | sed -n 's/^-- cursor: //p'
}

# The whole journal (systemd's lines and every process's) after CURSOR.
journal_after() {
    sd_in journalctl --after-cursor="$1" -o short-monotonic --no-pager
}

# A new binary that dies between G and T: it writes R on the ready channel,
# reads G (the old process lets it take over) and exits 1 before it writes
# T; the old process rolls back and serves on. Twice: exiting at once after
# G, and 0.3 s after G (as a binary that fails while it takes over). systemd
# must see nothing of it: MAINPID= moves only at C. (Were it moved before G,
# as an older protocol did, systemd would follow it to the new process while
# that still runs; after its death drop the old process's MAINPID=<itself>
# under NotifyAccess=main, "Got notification message from PID ..., but
# reception only permitted for main PID ..."; and when the reload command
# ends, find its main process gone, kill the cgroup, the old process with
# it, and start the service again. A new process already dead when systemd
# reads MAINPID= is refused, "New main PID ... does not exist or is a
# zombie", hence the second, slower death.) Under load; then the good binary
# restored, the next reload succeeds.
scenario_reload_rollback() {
    local service=myapp-upgrade.service
    sd_boot "rs-sd-rb-$$" "$examples_units/$service" --
    cp "$stage/upgrade" "$SD_WORK/bin/myapp"
    cp "$stage/upgrade" "$SD_WORK/bin/myapp.good"
    sd_show sd_in systemctl start "$service"
    local before generation
    before=$(sd_prop "$service" MainPID)
    generation=$(generation_now)
    sd_say "$service is up: main process $before, generation $generation"

    # As the new process of an upgrade: the channel's fd from
    # RESTARTABLE_UPGRADE (`v=2,fd=N,...`; the older protocol wrote
    # `fd=N,...` first, without v=), R, one byte (G), a pause (DELAY
    # seconds, written into each copy), exit 1. Started otherwise, the good
    # binary: as ExecReload= (`--upgrade PID`), so that the request itself
    # works, and as ExecStart= should systemd start the service again (with
    # argv[0] this path, which its next upgrade starts again).
    cat >"$SD_WORK/bin/dies-after-go" <<'SH'
#!/bin/bash
value=${RESTARTABLE_UPGRADE:-}
case $1,$value in
    --upgrade,* | *,) exec -a "$0" "${0%/*}/myapp.good" "$@" ;;
    *,fd=[0-9]*) ;;
    *) echo "dies-after-go: no fd= in RESTARTABLE_UPGRADE=$value" >&2; exit 2 ;;
esac
fd=${value#*fd=}
fd=${fd%%,*}
printf R >&"$fd"
IFS= read -r -n 1 -u "$fd" byte || byte=
sleep DELAY
echo "dies-after-go: pid $$ ($value) wrote R, read \"$byte\", exits 1 DELAY s later, before T" >&2
exit 1
SH
    local delay
    for delay in 0 0.3; do
        sd_say "-- a binary that dies ${delay} s after G (writes R, reads G, exits 1), then reload under load"
        local restarts_before
        before=$(sd_prop "$service" MainPID)
        generation=$(generation_now)
        restarts_before=$(sd_prop "$service" NRestarts)
        sd_say "main process $before, generation $generation, NRestarts=$restarts_before"
        sed "s/DELAY/$delay/g" "$SD_WORK/bin/dies-after-go" >"$SD_WORK/bin/myapp.new"
        chmod 755 "$SD_WORK/bin/myapp.new"
        mv "$SD_WORK/bin/myapp.new" "$SD_WORK/bin/myapp"
        load_start "dies-$delay" 127.0.0.1:8080
        sleep 0.3
        local cursor status=0 start=${EPOCHREALTIME/./}
        cursor=$(journal_cursor)
        sd_show sd_in systemctl reload "$service" || status=$?
        sd_say "reload: exit status $status after $(sd_seconds_since "$start")s"
        # What systemd does about it, if anything, comes after the reload job.
        sleep 1
        local main journal state body restarts old_runs=gone
        main=$(sd_prop "$service" MainPID)
        if [[ $before =~ ^[1-9][0-9]*$ ]] && sd_in kill -0 "$before" 2>/dev/null; then old_runs=runs; fi
        state="$(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState))"
        restarts=$(sd_prop "$service" NRestarts)
        body=$(body_of 8080)
        journal=$(journal_after "$cursor")
        load_stop "dies-$delay"
        sd_say "the journal from the reload on (at most 60 lines):"
        head -n 60 <<<"$journal" | sed 's/^/      /'
        sd_say "after the reload: MainPID $before -> $main; $state; NRestarts=$restarts; process $before $old_runs; GET /: $body"
        sd_say "figures (dies ${delay} s after G): TCP requests=$(fig "$LOAD" requests) ok=$(fig "$LOAD" ok) refused=$(fig "$LOAD" refused) reset=$(fig "$LOAD" reset) empty=$(fig "$LOAD" empty) timeout=$(fig "$LOAD" timeout) max $(fig "$LOAD" max_ms) ms, pids answered $(fig "$LOAD" pids)"
        check "${delay} s: the new process read G and exited 1 before T" \
            grep -q 'dies-after-go: .* read "G", exits 1' <<<"$journal"
        check "${delay} s: the reload failed (non-zero)" test "$status" != 0
        check "${delay} s: MainPID unchanged ($before)" equals "$main" "$before"
        check "${delay} s: the service is still active (running)" equals "$state" "active (running)"
        check "${delay} s: the old process ($before) still runs" equals "$old_runs" runs
        check "${delay} s: no automatic restart (NRestarts=$restarts_before)" equals "$restarts" "$restarts_before"
        check "${delay} s: GET / still answered by $before, generation $generation" \
            equals "$body" "pid=$before generation=$generation"
        check "${delay} s: no \"reception only permitted for main PID\" in the journal" \
            not_in "$journal" 'reception only permitted for main PID'
        check "${delay} s: no connection refused under the load" equals "$(fig "$LOAD" refused)" 0
        check "${delay} s: no connection lost (reset, empty, timeout all 0)" \
            equals "$(fig "$LOAD" reset) $(fig "$LOAD" empty) $(fig "$LOAD" timeout)" "0 0 0"
    done

    sd_say "the good binary restored, reload again"
    cp "$SD_WORK/bin/myapp.good" "$SD_WORK/bin/myapp.new"
    mv "$SD_WORK/bin/myapp.new" "$SD_WORK/bin/myapp"
    before=$(sd_prop "$service" MainPID)
    generation=$(generation_now)
    local status=0 main now
    sd_show sd_in systemctl reload "$service" || status=$?
    main=$(sd_prop "$service" MainPID)
    now=$(generation_now)
    sd_say "reload after restoring: exit status $status; MainPID $before -> $main; generation $generation -> $now; $(sd_prop "$service" ActiveState) ($(sd_prop "$service" SubState))"
    check "the reload after restoring succeeded" equals "$status" 0
    check "MainPID is a new process" test "$main" != "$before" -a "$main" != 0
    check "generation $generation + 1" equals "$now" "$((generation + 1))"
    check "GET / answered by the new main process" grep -q "^pid=$main " <<<"$(body_of 8080)"
}

# --- unix-socket, socket-group ------------------------------------------------

# The users and groups of examples/systemd/myapp-unix.*: myapp (its own
# group myapp) and the group web, made inside the container.
make_users() {
    sd_in groupadd --system web
    sd_in useradd --system --no-create-home --user-group --shell /usr/sbin/nologin myapp
    sd_say "made inside: $(sd_in id myapp), group $(sd_in getent group web)"
}

# connect(2) to PATH inside the container as uid nobody with the primary
# group GROUP and no other groups; prints "connected" or the error.
connect_as() {
    local group=$1 path=$2
    # shellcheck disable=SC2016
    sd_in setpriv --reuid=nobody --regid="$group" --clear-groups /usr/bin/python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(type(e).__name__, e)' "$path" 2>&1
}

# The socket unit of examples/systemd/myapp-unix.socket: the file's owner,
# group and mode, who may connect, and the service it starts.
scenario_unix_socket() {
    local socket=myapp-unix.socket service=myapp-unix.service sock=/run/myapp/myapp.sock
    sd_boot "rs-sd-unix-$$" "$examples_units/$socket" "$examples_units/$service" --
    cp "$stage/upgrade" "$SD_WORK/bin/myapp"
    make_users
    sd_show sd_in systemctl start "$socket"
    sd_show sd_in ls -ld /run/myapp "$sock" || true
    local owner as_web as_other
    owner=$(sd_in stat -c '%U %G %a' "$sock" 2>&1) || true
    as_web=$(connect_as web "$sock")
    as_other=$(connect_as nogroup "$sock")
    sd_say "as nobody in group web: $as_web; as nobody in group nogroup: $as_other"
    sd_wait_for 30 "$service to start" unit_active "$service" || true
    sd_wait_for 30 "$service to answer" up_and_answering "$service" 8081 || true
    local main reply
    main=$(sd_prop "$service" MainPID)
    reply=$(body_of "$sock")
    observe "$socket" "$service"
    sd_say "main process $main ($(sd_in ps -o user=,group= -p "$main" 2>/dev/null)), $(listen_env "$main"); GET / over $sock: $reply"
    check "$sock is owned by myapp, group web, mode 660" equals "$owner" "myapp web 660"
    check "a process in group web may connect" equals "$as_web" connected
    check "a process in no group of the file may not (EACCES)" grep -q PermissionError <<<"$as_other"
    check "the service got the socket as \"unix\"" grep -q 'LISTEN_FDNAMES=unix ' <<<"$(listen_env "$main")"
    check "GET / over $sock answered by the service ($main)" grep -q "^pid=$main " <<<"$reply"
}

# A service that binds its own Unix socket: which setting gives the socket
# file a group other than the service's own? Five small services (a python
# stand-in that binds DIR/s.sock, or keeps the file when it is there, as a
# program that got its socket back from the fd store does), each started,
# then killed and restarted automatically once.
scenario_socket_group() {
    sd_boot "rs-sd-grp-$$" --
    make_users
    local binder=$SD_WORK/bin/bind-unix
    cat >"$binder" <<'PY'
#!/usr/bin/python3
import os, socket, sys, time
path = sys.argv[1]
if os.path.exists(path):
    print("kept", path, flush=True)
else:
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen()
    print("bound", path, flush=True)
time.sleep(300)
PY
    chmod 755 "$binder"
    local common=$'[Unit]\nStartLimitIntervalSec=0\n[Service]\nUser=myapp\nUMask=0007\nRestart=always\nRestartSec=0\nRuntimeDirectoryPreserve=restart\n'
    local -A units=(
        [ga]=$'Group=myapp\nSupplementaryGroups=web\nRuntimeDirectory=ga\nExecStart=/srv/test/bind-unix /run/ga/s.sock'
        [gb]=$'Group=web\nRuntimeDirectory=gb\nExecStart=/srv/test/bind-unix /run/gb/s.sock'
        [gc]=$'Group=myapp\nSupplementaryGroups=web\nRuntimeDirectory=gc\nRuntimeDirectoryMode=2770\nExecStart=/srv/test/bind-unix /run/gc/s.sock'
        [gd]=$'Group=myapp\nRuntimeDirectory=gd\nExecStartPre=+/bin/sh -c "chgrp web /run/gd && chmod 2770 /run/gd && ls -ld /run/gd"\nExecStart=/srv/test/bind-unix /run/gd/s.sock'
        [ge]=$'Group=myapp\nExecStart=/srv/test/bind-unix /run/ge/s.sock'
    )
    local -A what=(
        [ga]="Group=myapp SupplementaryGroups=web, RuntimeDirectory="
        [gb]="Group=web, RuntimeDirectory="
        [gc]="Group=myapp SupplementaryGroups=web, RuntimeDirectoryMode=2770 (setgid)"
        [gd]="Group=myapp, RuntimeDirectory= made group web and setgid by ExecStartPre=+"
        [ge]="Group=myapp, a directory made beforehand (as tmpfiles.d would): myapp:web 2770"
    )
    # What systemd 252 did: only the process's own primary group (gb) or a
    # setgid directory of the group that systemd does not manage (ge) give
    # the file the group. gd: systemd sets the RuntimeDirectory='s owner and
    # mode again before ExecStart=, undoing what ExecStartPre= did.
    local -A expect_first=([ga]=myapp [gb]=web [gc]=myapp [gd]=myapp [ge]=web)
    local name
    for name in ga gb gc gd ge; do
        printf '%s%s\n' "$common" "${units[$name]}" >"$SD_WORK/units/$name.service"
    done
    sd_in install -d -m 2770 -o myapp -g web /run/ge
    sd_in systemctl daemon-reload
    local first second old
    for name in ga gb gc gd ge; do
        sd_say "-- $name: ${what[$name]}"
        sd_in systemctl start "$name.service"
        sd_wait_for 30 "$name to bind" sd_in test -S "/run/$name/s.sock" || true
        first=$(sd_in stat -c '%G' "/run/$name/s.sock" 2>&1) || true
        sd_show sd_in ls -la "/run/$name" || true
        old=$(sd_prop "$name.service" MainPID)
        kill_main "$old" || true
        sd_wait_for 30 "$name to restart" new_main_up "$name.service" "$old" || true
        sleep 0.3
        second=$(sd_in stat -c '%G' "/run/$name/s.sock" 2>&1) || true
        sd_show sd_in ls -la "/run/$name" || true
        sd_show sd_in journalctl -u "$name.service" -o cat --no-pager || true
        sd_say "$name: socket file group $first after the start, $second after a kill -9 and the restart (NRestarts=$(sd_prop "$name.service" NRestarts))"
        check "$name (${what[$name]}): the socket file's group is ${expect_first[$name]} after the start" \
            equals "$first" "${expect_first[$name]}"
        check "$name: the same group after an automatic restart" equals "$second" "$first"
    done
}

# --- run --------------------------------------------------------------------

sd_require
sd_say "systemd $(dpkg-query -W -f='${Version}' systemd), systemd-container $(dpkg-query -W -f='${Version}' systemd-container)"
if [[ " ${scenarios[*]} " =~ \ (socket-activation|without-socket|no-fallback|crash-socket)\  ]]; then
    sd_say "\$ cargo build --release --example socket_activated"
    cargo build -q --release -p restartable-examples --example socket_activated
    cp target/release/examples/socket_activated "$stage/"
fi
if [[ " ${scenarios[*]} " =~ \ (unix-socket|crash-fdstore|reload-upgrade|reload-rollback)\  ]]; then
    if [ -n "${UPGRADE_BIN:-}" ]; then
        [ -x "$UPGRADE_BIN" ] || sd_die "UPGRADE_BIN=$UPGRADE_BIN is not an executable file"
        sd_say "examples/upgrade: $UPGRADE_BIN (UPGRADE_BIN, not built here)"
        cp "$UPGRADE_BIN" "$stage/upgrade"
    else
        sd_say "\$ cargo build --release --example upgrade"
        cargo build -q --release -p restartable-examples --example upgrade
        cp target/release/examples/upgrade "$stage/"
    fi
fi

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
        crash-socket) scenario_crash_socket ;;
        socket-group) scenario_socket_group ;;
        unix-socket) scenario_unix_socket ;;
        crash-fdstore) scenario_crash_fdstore ;;
        reload-upgrade) scenario_reload_upgrade ;;
        reload-rollback) scenario_reload_rollback ;;
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
