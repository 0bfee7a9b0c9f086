# shellcheck shell=bash
# A real systemd as PID 1 of a throw-away container, for scenarios that need
# the service manager itself (socket units, restarts, the fd store).
#
# Sourced by a scenario script that runs as root with `set -euo pipefail`:
#
#   source scripts/systemd/harness.sh
#   sd_require                                   # installs what is missing
#   sd_boot NAME UNIT_FILE... -- BINARY...       # boots, installs the units
#   sd_in systemctl start foo.socket             # a command inside
#   sd_net bash -c 'exec 3<>/dev/tcp/127.0.0.1/80'  # a client in its netns
#   sd_teardown                                  # powers off, removes all
#
# The container is systemd-nspawn with the host's /usr read-only on a tmpfs
# root (--volatile=yes: no image), its own loopback only
# (--private-network), the unit files in /etc/systemd/system and the
# binaries in /srv/test and /usr/local/bin. It boots in about half a
# second. It runs in cgroups of its own, made here (else nspawn leaves
# empty payload/ and supervisor/ cgroups at the root of the host's
# hierarchies), and teardown
# stops only the processes it started and removes what nspawn cannot remove
# on a /run that is not a tmpfs. Needs root with full capabilities.

set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"

# systemctl and journalctl inside print straight to the pipe, never a pager.
export SYSTEMD_PAGER=cat

# Where binaries are inside the container: the same directory twice, at
# /srv/test and at /usr/local/bin (where the unit files of examples/systemd/
# expect theirs).
SD_BIN_DIR=/srv/test
SD_LOCAL_BIN_DIR=/usr/local/bin
SD_BOOT_LIMIT=${SD_BOOT_LIMIT:-60}    # seconds from launch to "running" (a loaded machine is slow)
SD_STOP_LIMIT=${SD_STOP_LIMIT:-10}    # seconds for poweroff before nspawn is signalled

SD_START_US=${SD_START_US:-${EPOCHREALTIME/./}}
SD_NAME='' SD_WORK='' SD_NSPAWN='' SD_PID1='' SD_BOOT_SECONDS=''
SD_CGROUPS=()        # the private cgroup directories, one per hierarchy
SD_RUN_BEFORE=()     # the nspawn directories under /run that existed before

# --- output ---------------------------------------------------------------

# A line of the log, after the seconds since the script started.
sd_say() {
    local us=$((${EPOCHREALTIME/./} - SD_START_US))
    printf '[%3d.%03ds] %s\n' $((us / 1000000)) $((us / 1000 % 1000)) "$*"
}

# Runs a command, showing it and its output (indented); returns its status.
sd_show() {
    sd_say "\$ $*"
    local status=0
    "$@" 2>&1 | sed 's/^/      /' || status=${PIPESTATUS[0]}
    return "$status"
}

sd_die() {
    sd_say "error: $*" >&2
    exit 1
}

# Seconds since $1 (microseconds from ${EPOCHREALTIME/./}), as 1.234.
sd_seconds_since() {
    local us=$((${EPOCHREALTIME/./} - $1))
    printf '%d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
}

# Polls COMMAND every 50 ms until it succeeds; after SECONDS, prints what it
# waited for and returns 1.
sd_wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((${EPOCHREALTIME/./} + seconds * 1000000))
    until "$@" >/dev/null 2>&1; do
        if ((${EPOCHREALTIME/./} > deadline)); then
            sd_say "timed out after ${seconds}s waiting for $what"
            return 1
        fi
        sleep 0.05
    done
}

# --- setup ----------------------------------------------------------------

# Checks for root and installs systemd-nspawn (systemd-container, pinned to
# the installed systemd's version so that apt does not upgrade systemd with
# it) and ss (iproute2) when missing.
sd_require() {
    [ "$(id -u)" = 0 ] || sd_die "this needs root (systemd-nspawn boots a container)"
    command -v nsenter >/dev/null || sd_die "nsenter (util-linux) is missing"
    local systemd_version packages=()
    systemd_version=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) ||
        sd_die "systemd is not installed (dpkg-query -W systemd found nothing)"
    command -v systemd-nspawn >/dev/null || packages+=("systemd-container=$systemd_version")
    command -v ss >/dev/null || packages+=(iproute2)
    # The load and probe clients run inside with the host's /usr/bin/python3.
    [ -x /usr/bin/python3 ] || packages+=(python3)
    if ((${#packages[@]})); then
        sd_say "installing ${packages[*]}"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${packages[@]}" >/dev/null
        fi
    fi
    local nspawn_version
    nspawn_version=$(dpkg-query -W -f='${Version}' systemd-container)
    [ "$nspawn_version" = "$systemd_version" ] ||
        sd_die "systemd-container $nspawn_version does not match systemd $systemd_version"
}

# The mount points of the hierarchies nspawn puts a container in: cgroup2
# (unified) and, on a hybrid host, the named v1 hierarchy name=systemd.
sd_cgroup_mounts() {
    awk '{ for (i = 7; $i != "-"; i++); fstype = $(i + 1); options = $(i + 3) }
        fstype == "cgroup2" || (fstype == "cgroup" && options ~ /(^|,)name=systemd(,|$)/) { print $5 }' \
        /proc/self/mountinfo
}

# Every cgroup hierarchy's mount point (for the leftover check).
sd_all_cgroup_mounts() {
    awk '{ for (i = 7; $i != "-"; i++) } $(i + 1) ~ /^cgroup2?$/ { print $5 }' /proc/self/mountinfo
}

# --- the container --------------------------------------------------------

# Boots a container named NAME with the given unit files in
# /etc/systemd/system and the given binaries in /srv/test, and waits until
# its systemd is "running". Sets SD_NAME, SD_WORK (a host directory that
# holds units/, bin/, the launcher and nspawn's log), SD_NSPAWN, SD_PID1.
sd_boot() {
    local name=$1
    shift
    local unit_files=() binaries=()
    while (($#)) && [ "$1" != -- ]; do unit_files+=("$1"); shift; done
    (($#)) && shift
    binaries=("$@")
    [ -z "$SD_NSPAWN" ] || sd_die "a container is already up ($SD_NAME)"

    SD_NAME=$name
    SD_WORK=$(mktemp -d "/tmp/$name.XXXXXX")
    mkdir "$SD_WORK/units" "$SD_WORK/bin"
    # Without a tty firstboot fails and the system would be "degraded".
    ln -s /dev/null "$SD_WORK/units/systemd-firstboot.service"
    ((${#unit_files[@]} == 0)) || cp "${unit_files[@]}" "$SD_WORK/units/"
    ((${#binaries[@]} == 0)) || cp "${binaries[@]}" "$SD_WORK/bin/"

    local dir
    SD_RUN_BEFORE=()
    for dir in /run/systemd/nspawn /run/systemd/nspawn/propagate /run/systemd/nspawn-root; do
        [ ! -e "$dir" ] || SD_RUN_BEFORE+=("$dir")
    done
    # Private parent cgroups: without them nspawn leaves empty payload/ and
    # supervisor/ cgroups at the root of the host's hierarchies.
    SD_CGROUPS=()
    local mount
    for mount in $(sd_cgroup_mounts); do
        mkdir "$mount/$name"
        SD_CGROUPS+=("$mount/$name")
    done
    ((${#SD_CGROUPS[@]})) || sd_die "no cgroup2 or name=systemd hierarchy in /proc/self/mountinfo"

    # The launcher moves itself into the private cgroups and becomes nspawn
    # (exec keeps its pid, which it writes down first).
    {
        echo 'set -e'
        # shellcheck disable=SC2016 # expanded by the launcher
        echo 'echo $$ >"$0.pid"'
        for dir in "${SD_CGROUPS[@]}"; do printf 'echo $$ >%q\n' "$dir/cgroup.procs"; done
        printf 'exec systemd-nspawn --quiet --directory=/ --volatile=yes --register=no --keep-unit'
        printf ' --machine=%q --hostname=%q --private-network' "$name" "$name"
        printf ' --bind-ro=%q --bind-ro=%q' "$SD_WORK/units:/etc/systemd/system" "$SD_WORK/bin:$SD_BIN_DIR"
        printf ' --bind-ro=%q' "$SD_WORK/bin:$SD_LOCAL_BIN_DIR"
        printf ' --console=pipe --boot\n'
    } >"$SD_WORK/launch"
    sd_write_state

    local start=${EPOCHREALTIME/./}
    sd_say "booting container $name (work dir $SD_WORK)"
    setsid bash "$SD_WORK/launch" </dev/null >"$SD_WORK/nspawn.log" 2>&1 &
    sd_wait_for 30 "the launcher to write its pid" test -s "$SD_WORK/launch.pid" ||
        sd_boot_failed "the launcher did not start"
    SD_NSPAWN=$(cat "$SD_WORK/launch.pid")
    sd_wait_for 30 "the container's PID 1 (a child of nspawn $SD_NSPAWN in another pid namespace)" \
        sd_find_pid1 || sd_boot_failed "no PID 1 appeared"
    SD_PID1=$(sd_find_pid1)
    sd_write_state
    # Asking systemctl before the manager's socket exists: "Failed to connect to bus".
    sd_wait_for "$SD_BOOT_LIMIT" "systemd's private socket in the container" \
        sd_in test -S /run/systemd/private || sd_boot_failed "systemd did not come up"
    local state
    state=$(timeout "$SD_BOOT_LIMIT" nsenter -t "$SD_PID1" -a systemctl is-system-running --wait 2>&1) ||
        true
    [ "$state" = running ] || sd_boot_failed "systemctl is-system-running says \"$state\""
    SD_BOOT_SECONDS=$(sd_seconds_since "$start")
    sd_say "container $name running after ${SD_BOOT_SECONDS}s: nspawn pid $SD_NSPAWN, PID 1 is host pid $SD_PID1"
}

sd_boot_failed() {
    sd_say "boot failed: $*"
    sd_show cat "$SD_WORK/nspawn.log" || true
    if [ -n "$SD_PID1" ]; then
        sd_show sd_in systemctl --failed --no-pager || true
    fi
    sd_die "the container did not boot"
}

# The host pid of the container's PID 1: the child of nspawn whose pid
# namespace differs from ours.
sd_find_pid1() {
    local stat pid rest ppid ours
    ours=$(readlink /proc/self/ns/pid)
    for stat in /proc/[0-9]*/stat; do
        read -r pid rest 2>/dev/null <"$stat" || continue
        rest=${rest##*) }        # after the command name, which may hold spaces
        read -r _ ppid _ <<<"$rest"
        if [ "$ppid" = "$SD_NSPAWN" ] &&
            [ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" != "$ours" ]; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

# A command inside the container: all its namespaces, its files.
sd_in() {
    nsenter -t "$SD_PID1" -a "$@"
}

# A command in the container's network namespace only, with the host's
# files (the host's bash, python3, curl).
sd_net() {
    nsenter -t "$SD_PID1" -n "$@"
}

# Copies unit files into the container's /etc/systemd/system and reloads.
sd_install_units() {
    cp "$@" "$SD_WORK/units/"
    sd_in systemctl daemon-reload
}

# One value of `systemctl show`, e.g. sd_prop foo.service NRestarts.
sd_prop() {
    sd_in systemctl show -p "$2" --value "$1"
}

# Succeeds when UNIT is not on its way anywhere (active, failed or inactive,
# not activating, deactivating or waiting to restart) and no job is queued.
sd_unit_settled() {
    local unit=$1 state jobs
    state=$(sd_in systemctl show -p ActiveState --value "$unit")
    case $state in active | failed | inactive) ;; *) return 1 ;; esac
    jobs=$(sd_in systemctl list-jobs --no-legend --no-pager)
    [ -z "$jobs" ]
}

# Waits until every UNIT is settled on two looks 200 ms apart (a restart
# with RestartSec=0 passes through "failed" for a moment).
sd_settle() {
    local seconds=$1
    shift
    sd_wait_for "$seconds" "$* to settle (no job queued, no unit activating)" \
        sd_units_settled_twice "$@"
}

sd_units_settled_twice() {
    local unit
    for unit in "$@"; do sd_unit_settled "$unit" || return 1; done
    sleep 0.2
    for unit in "$@"; do sd_unit_settled "$unit" || return 1; done
}

# One HTTP request to HOST:PORT from inside the container's network
# namespace (bash's /dev/tcp, at most 5 s); prints the response, or what
# went wrong.
sd_http_get() {
    # shellcheck disable=SC2016 # the inner bash expands its arguments
    sd_net timeout 5 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" >&3
        cat <&3' http-get "$1" "$2"
}

# --- teardown -------------------------------------------------------------

# Where a kept container's state is written, for `sd_teardown_saved DIR`.
sd_write_state() {
    {
        declare -p SD_NAME SD_WORK SD_NSPAWN SD_PID1 SD_CGROUPS SD_RUN_BEFORE
    } >"$SD_WORK/state"
}

sd_alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Powers the container off (or, failing that, signals nspawn and then the
# container's PID 1), waits for both to be gone, removes the private cgroups
# and what nspawn leaves under /run, and the work directory. Safe to call
# twice and after a failed boot.
sd_teardown() {
    [ -n "$SD_NAME" ] || return 0
    local start=${EPOCHREALTIME/./} how=poweroff
    if [ -n "$SD_NSPAWN" ] && sd_alive "$SD_NSPAWN"; then
        if [ -z "$SD_PID1" ] || ! sd_in systemctl poweroff --no-block >/dev/null 2>&1 ||
            ! sd_wait_for "$SD_STOP_LIMIT" "nspawn to exit after poweroff" sd_gone "$SD_NSPAWN"; then
            how=SIGTERM
            kill -TERM "$SD_NSPAWN" 2>/dev/null || true
            if ! sd_wait_for 5 "nspawn to exit after SIGTERM" sd_gone "$SD_NSPAWN"; then
                how=SIGKILL
                [ -z "$SD_PID1" ] || kill -KILL "$SD_PID1" 2>/dev/null || true
                kill -KILL "$SD_NSPAWN" 2>/dev/null || true
                sd_wait_for 5 "nspawn to exit after SIGKILL" sd_gone "$SD_NSPAWN" || true
            fi
        fi
    fi
    # Reap it when it is this shell's child (setsid did not fork).
    wait "$SD_NSPAWN" 2>/dev/null || true
    if [ -n "$SD_PID1" ]; then
        sd_wait_for 5 "the container's PID 1 ($SD_PID1) to be gone" sd_gone "$SD_PID1" || true
    fi
    local dir
    for dir in "${SD_CGROUPS[@]}"; do
        [ ! -d "$dir" ] || find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    # On a /run that is not a tmpfs nspawn cannot remove these ("Attempted to
    # remove disk file system ... and we can't allow that"). Ours by name; the
    # shared parents only when they were not there before and are empty.
    rm -rf "/run/systemd/nspawn/propagate/$SD_NAME"
    for dir in /run/systemd/nspawn/propagate /run/systemd/nspawn /run/systemd/nspawn-root; do
        if [[ " ${SD_RUN_BEFORE[*]} " != *" $dir "* ]] && [ -d "$dir" ] && ! mountpoint -q "$dir"; then
            rmdir "$dir" 2>/dev/null || true
        fi
    done
    local leftovers
    leftovers=$(sd_leftovers)
    if [ -n "$leftovers" ]; then
        sd_say "teardown ($how) left behind:"
        printf '      %s\n' "$leftovers"
        sd_say "kept $SD_WORK for inspection"
        SD_NAME='' SD_NSPAWN='' SD_PID1=''
        return 1
    fi
    rm -rf "$SD_WORK"
    sd_say "container $SD_NAME gone ($how, $(sd_seconds_since "$start")s), nothing left behind"
    SD_NAME='' SD_NSPAWN='' SD_PID1=''
}

sd_gone() {
    ! sd_alive "$1"
}

# What of the container is still there: its processes, cgroups, mounts,
# directories under /run. Prints nothing when all is gone.
sd_leftovers() {
    local pid mount
    for pid in $SD_NSPAWN $SD_PID1; do
        ! sd_alive "$pid" || echo "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"
    done
    for mount in $(sd_all_cgroup_mounts); do
        [ ! -e "$mount/$SD_NAME" ] || echo "cgroup $mount/$SD_NAME"
    done
    [ ! -e "/run/systemd/nspawn/propagate/$SD_NAME" ] || echo "/run/systemd/nspawn/propagate/$SD_NAME"
    awk -v name="$SD_NAME" -v work="$SD_WORK" 'index($0, name) || index($0, work) { print "mount " $5 }' \
        /proc/self/mountinfo
}

# Tears down a container kept by a scenario script's --keep, from the state
# file in its work directory.
sd_teardown_saved() {
    local work=$1
    [ -r "$work/state" ] || sd_die "no state file in $work"
    # shellcheck disable=SC1091
    source "$work/state"
    sd_teardown
}
