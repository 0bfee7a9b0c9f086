#!/usr/bin/env bash
# The test suite on a fresh clone, as the README gives it: first the tools
# that some tests run, installed when they are missing (systemfd 0.4.6 with
# `cargo install`, into a cache outside the clone; systemd-socket-activate,
# ip, ss, flock, setpriv, unshare, nsenter, prlimit, kill and strace with
# apt-get, as root or through sudo), then
# `cargo test --workspace` (UI, expansion snapshots, behaviour, doctests),
# with any arguments given passed on to it.
#
# A test whose tool is still missing says "skipped:" and passes; with
# RESTARTABLE_REQUIRE_ALL=1 (.ci/run sets it) it fails instead.
# Usage: bash scripts/test.sh [cargo test arguments]
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "systemfd 0.4.6 (cargo install, cached)"
tools=${XDG_CACHE_HOME:-$HOME/.cache}/restartable-tools
if [ ! -x "$tools/bin/systemfd" ]; then
    cargo install systemfd --version 0.4.6 --locked --quiet --root "$tools"
fi
export PATH=$tools/bin:$PATH
systemfd --version

step "systemd-socket-activate, ip, ss, flock, setpriv, unshare, nsenter, prlimit, kill, strace (apt-get, when missing)"
# Each tool and the Debian package that has it.
needed=(systemd-socket-activate ip ss flock setpriv unshare nsenter prlimit kill strace)
declare -A package_of=(
    [systemd-socket-activate]=systemd
    [ip]=iproute2
    [ss]=iproute2
    [flock]=util-linux
    [setpriv]=util-linux
    [unshare]=util-linux
    [nsenter]=util-linux
    [prlimit]=util-linux
    [kill]=procps
    [strace]=strace
)
missing=()
for tool in "${needed[@]}"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    packages=$(for tool in "${missing[@]}"; do echo "${package_of[$tool]}"; done | sort -u | paste -sd ' ' -)
    as_root=()
    [ "$(id -u)" = 0 ] || as_root=(sudo)
    if ! command -v apt-get >/dev/null; then
        echo "missing: ${missing[*]} (Debian packages: $packages); no apt-get here to install them: the tests that run them are skipped"
    elif [ ${#as_root[@]} -gt 0 ] && ! command -v sudo >/dev/null; then
        echo "missing: ${missing[*]}; installing $packages needs root, and there is no sudo: the tests that run them are skipped"
    else
        echo "missing: ${missing[*]}; installing $packages"
        "${as_root[@]}" apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends $packages >/dev/null
    fi
fi
for tool in "${needed[@]}"; do
    printf '%-24s %s\n' "$tool" "$(command -v "$tool" || echo 'missing: its tests are skipped')"
done

step "cargo test --workspace $*"
cargo test --workspace "$@"
