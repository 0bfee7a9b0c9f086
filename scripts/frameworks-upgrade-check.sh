#!/usr/bin/env bash
# The load check of scripts/upgrade-check.sh (its loads only) against each
# upgrade example of frameworks/: axum_upgrade, hyper_upgrade,
# actix_upgrade. Each is upgraded N times in a row under wrk keep-alive, wrk
# `Connection: close`, and the classifying client (a new connection per
# request, and keep-alive). Each must lose nothing: no refused, reset or
# failed request, and every keep-alive connection the drain ended ended
# after a response that said `Connection: close` (UPGRADE_STRICT_DRAIN).
# The axum example's long-lived `GET /stream` (one started before each
# upgrade) must end cleanly by its generation's drain deadline.
#
# The control, in the same run: axum_upgrade --plain-drain, the recipe
# without the helpers (`with_graceful_shutdown(running.replaced())` on the
# plain listener), under the same loads: the check must fail there.
#
# Usage: scripts/frameworks-upgrade-check.sh [--quick] [--upgrades N]
#   --quick: 5 upgrades per load (CI); full: 50. About 1 minute per server
#   with --quick after the build. Needs what scripts/upgrade-check.sh needs
#   (wrk, iproute2, curl: installed with apt-get when missing).
# Exits 1 when a server loses a request, or the control loses none.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
upgrades=50
while [ $# -gt 0 ]; do
    case $1 in
        --quick) upgrades=5 ;;
        --upgrades) upgrades=${2:?--upgrades needs a number}; shift ;;
        *) echo "usage: scripts/frameworks-upgrade-check.sh [--quick] [--upgrades N]" >&2; exit 2 ;;
    esac
    shift
done
cargo build -q --release -p restartable-frameworks \
    --example axum_upgrade --example hyper_upgrade --example actix_upgrade
bin=$root/target/release/examples
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
summary=() streams=()

# run NAME BINARY [VAR=VALUE...]: the loads against BINARY; its report in
# $work/NAME.out; sets $status to the check's exit status.
run() {
    local name=$1 binary=$2
    shift 2
    echo "== $name"
    status=0
    # upgrade-check.sh's --quick leaves out oha; --upgrades sets the count.
    env UPGRADE_BIN="$binary" UPGRADE_LOADS_ONLY=1 UPGRADE_STRICT_DRAIN=1 "$@" \
        bash scripts/upgrade-check.sh --quick --upgrades "$upgrades" > "$work/$name.out" 2>&1 || status=$?
    cat "$work/$name.out"
    # The rows of its tables, the server's name first.
    while IFS= read -r row; do
        if [[ $row == "| GET "* ]]; then
            streams+=("| $name ${row#| }")
        else
            summary+=("| $name ${row#| }")
        fi
    done < <(grep "^| [^-]" "$work/$name.out" | grep -v "^| load \\|^| request " || true)
}

run axum "$bin/axum_upgrade" UPGRADE_STREAM=/stream
if [ "$status" != 0 ]; then failed=1; echo "FAIL: axum_upgrade lost requests"; fi
run hyper "$bin/hyper_upgrade"
if [ "$status" != 0 ]; then failed=1; echo "FAIL: hyper_upgrade lost requests"; fi
run actix-web "$bin/actix_upgrade"
if [ "$status" != 0 ]; then failed=1; echo "FAIL: actix_upgrade lost requests"; fi
run "axum --plain-drain (control)" "$bin/axum_upgrade" UPGRADE_ARGS=--plain-drain
if [ "$status" = 0 ]; then
    failed=1
    echo "FAIL: control: axum_upgrade --plain-drain lost no request in $upgrades upgrades per load"
elif ! grep -q '^FAIL: .*failed requests under upgrades\|^FAIL: .*without a response that said' "$work/axum --plain-drain (control).out"; then
    failed=1
    echo "FAIL: control: axum_upgrade --plain-drain failed otherwise than by losing requests"
fi

echo
echo "== frameworks under upgrades: $upgrades per load, 8 connections, one every 0.5 s"
echo "| server | load | upgrades | requests ok | errors | trigger to new generation answering, ms (median / max) | trigger to old pid gone, ms (median / max) | survivor's descriptors, not client connections |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${summary[@]}"
echo
echo "| server | long-lived request | started | ended cleanly (last line \`end\`) | cut |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${streams[@]}"
exit "$failed"
