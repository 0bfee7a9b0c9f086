#!/usr/bin/env bash
# The README as a user meets it, checked: every shell command it shows is run
# as shown, from the repository root, each bounded in time; every server it
# starts is ended, by the id of the process group it was started in. The
# commands are the list below, and the README's ```sh blocks must hold
# exactly these lines in this order: a command added to the README without a
# way to run it here fails the check, and so does one left out of it.
#
# Then what the README shows from elsewhere is compared with its source: the
# compile error with the UI test's .stderr, the example's error with the
# example's real output, the unit lines with the unit file, the axum lines
# with frameworks/axum.rs. (The Rust code blocks of the README and of the
# pages of restartable::docs, runtime/docs/*.md, are the crate's doctests:
# `cargo test` runs them.)
#
# Linux; needs curl, ps (procps) and systemd-socket-activate (.ci/run
# installs them).
# Usage: scripts/readme-check.sh
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
readme=README.md

# kind | command exactly as the README shows it | what is expected
#   run     the command exits 0
#   server  the command serves on the address; the next entries run against it
#   client  the command's output contains the text; after the last client of
#           a server, the server is ended (as before any entry of another kind)
#   fails   the command exits 1 and its last line on stderr is the README's
#           line that starts with the text
#   ci      not run here: the test suite, which .ci/run runs as this same
#           line (tests/tests/readme.rs checks that)
commands=(
    'run|cargo run --release --example crash_restart|'
    'server|cargo run -p restartable-frameworks --example axum|127.0.0.1:3000'
    'client|curl http://127.0.0.1:3000/|hello from axum'
    'run|cargo build --example socket_activated|'
    'server|systemd-socket-activate -l 127.0.0.1:8090 --fdname=http target/debug/examples/socket_activated|127.0.0.1:8090'
    'client|curl http://127.0.0.1:8090/|pid='
    'fails|target/debug/examples/socket_activated --no-fallback|error: no socket named'
    'ci|bash scripts/test.sh|'
)

step() { printf '\n-- %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

scratch=$(mktemp -d)
server_group=""
stop_server() {
    [ -n "$server_group" ] || return 0
    kill -TERM -- "-$server_group" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 -- "-$server_group" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$server_group" 2>/dev/null || true
    server_group=""
}
trap 'stop_server; rm -rf "$scratch"' EXIT

step "the README's shell commands are the ones this script runs"
shown=$(awk '/^```sh$/ { inside = 1; next } /^```$/ { inside = 0 } inside' "$readme")
listed=$(for entry in "${commands[@]}"; do cut -d'|' -f2 <<<"$entry"; done)
if [ "$shown" != "$listed" ]; then
    diff <(echo "$listed") <(echo "$shown") | sed 's/^/    /' >&2 || true
    fail "the README's \`\`\`sh blocks (>) differ from this script's list (<)"
fi
# A command written inline must be one of the list too.
while IFS= read -r inline; do
    grep -qxF -- "$inline" <<<"$listed" ||
        fail "the README shows \`$inline\` inline, and this script does not run it"
done < <(grep -o '`\(cargo\|bash\|curl\) [^`]*`' "$readme" | tr -d '`' || true)
echo "$(wc -l <<<"$listed") commands, each shown once"

# Whether something accepts connections on host:port.
answers() {
    local host=${1%:*} port=${1##*:}
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

for i in "${!commands[@]}"; do
    IFS='|' read -r kind command expected <<<"${commands[$i]}"
    [ "$kind" = client ] || stop_server
    step "$command"
    read -r -a words <<<"$command"
    case $kind in
    run)
        timeout 900 "${words[@]}" || fail "\`$command\` exited with status $?"
        ;;
    server)
        if answers "$expected"; then
            fail "something already answers on $expected: the README's command cannot run as shown"
        fi
        setsid "${words[@]}" </dev/null >"$scratch/server.log" 2>&1 &
        server_pid=$!
        # setsid makes the server the leader of a group of its own (it does
        # not fork: this script's children lead no group); until it has, the
        # group is this script's, and nothing is killed by group.
        for _ in $(seq 100); do
            [ "$(ps -o pgid= -p "$server_pid" | tr -d ' ')" = "$server_pid" ] && break
            sleep 0.05
        done
        [ "$(ps -o pgid= -p "$server_pid" | tr -d ' ')" = "$server_pid" ] || {
            kill "$server_pid" 2>/dev/null || true
            fail "\`$command\` did not get a process group of its own"
        }
        server_group=$server_pid
        # A build may come first: up to 10 minutes, while the server lives.
        for _ in $(seq 6000); do
            answers "$expected" && break
            kill -0 "$server_pid" 2>/dev/null || {
                cat "$scratch/server.log" >&2
                fail "\`$command\` ended before it served on $expected"
            }
            sleep 0.1
        done
        answers "$expected" || fail "\`$command\` did not serve on $expected within 10 minutes"
        echo "serving on $expected (process group $server_group)"
        ;;
    client)
        [ -n "$server_group" ] || fail "\`$command\` has no server before it in the list"
        got=$(timeout 30 "${words[@]}" 2>"$scratch/err") || {
            cat "$scratch/err" >&2
            fail "\`$command\` failed"
        }
        echo "$got"
        grep -qF -- "$expected" <<<"$got" || fail "\`$command\` said \"$got\", not \"$expected\""
        ;;
    fails)
        status=0
        timeout 60 "${words[@]}" >"$scratch/out" 2>"$scratch/err" || status=$?
        cat "$scratch/err"
        [ "$status" = 1 ] || fail "\`$command\` exited with status $status, expected 1"
        said=$(tail -n 1 "$scratch/err")
        shown_line=$(grep -m1 -F -- "$expected" "$readme") &&
            [ "${shown_line#"$expected"}" != "$shown_line" ] ||
            fail "the README shows no line that starts with \"$expected\""
        [ "$said" = "$shown_line" ] ||
            fail "the README shows \"$shown_line\"; the program said \"$said\""
        ;;
    ci)
        echo "not run here: .ci/run runs it, as shown"
        ;;
    *) fail "unknown kind $kind" ;;
    esac
done
stop_server

step "what the README shows from elsewhere is what is there"
shows() {
    grep -qF -- "$1" "$readme" || fail "the README no longer shows: $1 (update this check)"
    grep -qF -- "$1" "$2" || fail "the README shows \"$1\", and $2 does not have it"
    echo "as in $2: $1"
}
shows "$(grep -m1 '^error: unknown argument' tests/ui/args/unknown_key_far_from_any.stderr)" \
    tests/ui/args/unknown_key_far_from_any.stderr
for line in '[Socket]' 'ListenStream=127.0.0.1:18090' 'FileDescriptorName=http'; do
    shows "$line" scripts/systemd/units/restartable-http.socket
done
shows 'axum::serve(listener().await?, app)' frameworks/axum.rs
shows 'tokio::net::TcpListener' frameworks/axum.rs

step "done"
echo "readme check passed"
