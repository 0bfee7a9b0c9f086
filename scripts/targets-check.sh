#!/usr/bin/env bash
# Compiles restartable for every target its policy names, with a current Rust
# (Debian's rustc-web) and `cargo -Zbuild-std`, which builds std for any
# target from Debian's rust-web-src. Per target: the runtime with every
# feature, every expansion snapshot (tests/expand/*.expanded.rs, the macro's
# real output: the code that runs there), the Builder (plain and async) and
# the tokio and async-io return types. And per target, the two expansions whose cfg
# branch is a compile error on some targets:
#   reuse_port = true  builds on Linux, Android, FreeBSD; elsewhere fails with
#                      the expansion's own message (Windows has its own)
#   only_v6 = false    builds everywhere but OpenBSD and DragonFly, which have
#                      no dual-stack sockets; there it fails with its message
#   path = "..."       a Unix-domain listener (the unix_path snapshot) builds
#                      on every unix target; on Windows it fails with the
#                      expansion's message
#   abstract_name      builds on Linux and Android; fails on other unix
#                      targets and on Windows with the expansion's messages
#   a 105-byte path    builds on Linux, Android, illumos and Solaris; fails on
#                      macOS, iOS and the BSDs (sun_path holds 104 there)
# A target outside unix and windows (wasm32) must fail with the crate's one
# error first, and no error from socket2 or tokio.
#
# A check compiles; it does not run. What the kernels do stays on paper.
#
# Usage: scripts/targets-check.sh [--ci | TARGET ...]
#   no argument: all 15 targets below (18 minutes cold on this 2-core machine
#                with other builds beside it)
#   --ci: one target of each set that takes the same branch of every cfg
#         predicate in the code (runtime/src, macros/src with the cfgs the
#         expansion emits, the snapshots, the crates checked here): the sets
#         are computed each run, by rustc resolving those predicates for
#         every target, so a new cfg that tells two targets apart checks
#         both. Of a set, the first in the list below is checked.
#   TARGET ...: those.
# std is checked for each target without the `backtrace` and `panic-unwind`
# features (-Zbuild-std-features=): they change std's insides, not its API,
# and their crates (gimli, object, addr2line...) were a sixth of the time;
# all targets are checked in one cargo call, so that two compile at once.
# Caches the unpacked compiler and the build outside the clone, in
# ${XDG_CACHE_HOME:-~/.cache}/restartable-targets (RESTARTABLE_TARGETS_CACHE).
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
# In the order --ci prefers within a set of targets with the same branches:
# where a set spans libc modules, the one whose libc lacks the most first
# (macOS: no SOCK_CLOEXEC, MSG_NOSIGNAL or accept4), musl before glibc (the
# host, x86_64-unknown-linux-gnu, is built by every other check).
all_targets=(
    x86_64-unknown-freebsd x86_64-apple-darwin x86_64-unknown-netbsd
    aarch64-apple-darwin aarch64-apple-ios x86_64-unknown-openbsd
    x86_64-unknown-dragonfly x86_64-unknown-illumos x86_64-pc-solaris
    aarch64-linux-android x86_64-pc-windows-msvc aarch64-pc-windows-msvc
    x86_64-unknown-linux-musl aarch64-unknown-linux-gnu wasm32-unknown-unknown
)
ci=false
if [ "${1:-}" = --ci ]; then
    ci=true
    targets=("${all_targets[@]}")
elif [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
# shellcheck disable=SC2054 # commas inside one argument
build_std=(-Zbuild-std=core,alloc,std -Zbuild-std-features=)

# --- the compiler: rustc-web, unpacked (it conflicts with Debian's rustc) ---
# shellcheck source=scripts/rustc-web.sh
source "$root/scripts/rustc-web.sh"
cache=$rustc_web_cache
export CARGO_TARGET_DIR=$cache/target
"$RUSTC" --version

# --- the crates that are checked ---
work=$cache/work
rm -rf "$work"
unix_crates=(unix_path unix_abstract long_path)
mkdir -p "$work"/{all,reuse_port,dual_stack,unix_path,unix_abstract,long_path}/src
cat > "$work/Cargo.toml" <<'TOML'
[workspace]
members = ["all", "reuse_port", "dual_stack", "unix_path", "unix_abstract", "long_path"]
resolver = "2"
TOML
for crate in all reuse_port dual_stack "${unix_crates[@]}"; do
    extra=""
    # tokio (mio) cannot build for wasm32 itself: like the runtime's own,
    # this dependency is for unix and windows only.
    [ "$crate" = all ] && extra=$'[target.\'cfg(any(unix, windows))\'.dependencies]\ntokio = { version = "1.25", features = ["net", "rt"] }\nasync-io = "2.0"'
    cat > "$work/$crate/Cargo.toml" <<TOML
[package]
name = "check-${crate//_/-}"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
restartable = { path = "$root/runtime", features = ["tokio", "async-io"] }
$extra
TOML
done
{
    echo '//! Every expansion snapshot, the Builder and the tokio types.'
    echo '#![allow(dead_code)]'
    for snapshot in "$root"/tests/expand/*.expanded.rs; do
        name=$(basename "$snapshot" .expanded.rs)
        case $name in
            reuse_port | link_local | unix_path | unix_abstract) continue ;;
            # Unix-domain listeners: a compile error on Windows by design
            # (checked below).
            unix_*) echo "#[cfg(unix)] pub mod $name { include!(\"$snapshot\"); }" ;;
            *) echo "pub mod $name { include!(\"$snapshot\"); }" ;;
        esac
    done
    cat <<'RUST'
#[cfg(any(unix, windows))]
pub use with_tokio::*;
#[cfg(any(unix, windows))]
mod with_tokio {
use std::io;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::time::Duration;

pub fn builder() -> io::Result<TcpListener> {
    restartable::Builder::new((Ipv4Addr::LOCALHOST, 0))
        .port_env("PORT")
        .inherit()
        .retry(Duration::from_secs(1))
        .bind()
}

pub async fn builder_async() -> io::Result<tokio::net::UdpSocket> {
    restartable::Builder::new((Ipv4Addr::LOCALHOST, 0)).bind_async().await
}

#[restartable::restartable_listener(port = 0, inherit = true, retry = "1s")]
pub async fn tokio_listener() -> io::Result<tokio::net::TcpListener> {}

#[restartable::restartable_listener(host = "::", port = 0)]
pub fn tokio_udp() -> io::Result<tokio::net::UdpSocket> {}

#[restartable::restartable_listener(port = 0, retry = "1s")]
pub async fn async_io_listener() -> io::Result<async_io::Async<TcpListener>> {}

#[restartable::restartable_listener(host = "::", port = 0)]
pub fn async_io_udp() -> io::Result<async_io::Async<UdpSocket>> {}

#[cfg(unix)]
pub async fn unix_builder() -> io::Result<tokio::net::UnixListener> {
    let _: fn() -> io::Result<std::os::unix::net::UnixDatagram> =
        || restartable::UnixBuilder::new("app.sock").mode(0o600).bind();
    restartable::UnixBuilder::new("app.sock").path_env("APP_SOCKET").bind_async().await
}

#[cfg(unix)]
#[restartable::restartable_listener(path = "app.sock", mode = 0o660)]
pub async fn tokio_unix() -> io::Result<tokio::net::UnixDatagram> {}

/// Text to a listener of either kind, on every target.
pub fn listen_any(text: &str) -> io::Result<restartable::Listener> {
    text.parse::<restartable::ListenAddr>()?.bind()
}

pub fn os_error(error: &io::Error) -> Option<i32> {
    let _: fn() -> io::Result<UdpSocket> = || restartable::Builder::new((Ipv4Addr::LOCALHOST, 0)).bind();
    restartable::os_error(error)
}
}
RUST
} > "$work/all/src/lib.rs"
echo "include!(\"$root/tests/expand/reuse_port.expanded.rs\");" > "$work/reuse_port/src/lib.rs"
echo "include!(\"$root/tests/expand/link_local.expanded.rs\");" > "$work/dual_stack/src/lib.rs"
echo "include!(\"$root/tests/expand/unix_path.expanded.rs\");" > "$work/unix_path/src/lib.rs"
echo "include!(\"$root/tests/expand/unix_abstract.expanded.rs\");" > "$work/unix_abstract/src/lib.rs"
# 105 bytes: over the 103 that macOS, iOS and the BSDs take.
long=/tmp/$(printf 'x%.0s' $(seq 1 96)).sock
cat > "$work/long_path/src/lib.rs" <<RUST
#[restartable::restartable_listener(path = "$long")]
pub fn listener() -> std::io::Result<restartable::socket2::Socket> {}
RUST

reuse_port_message() {
    case $1 in
        *-linux-* | *-linux | *-android* | *-freebsd) echo "" ;;
        *-windows-*) echo '`reuse_port = true` is not supported on Windows' ;;
        *) echo '`reuse_port = true` is supported on Linux, Android and FreeBSD only' ;;
    esac
}
dual_stack_message() {
    case $1 in
        *-openbsd | *-dragonfly) echo '`only_v6 = false` is not possible on OpenBSD and DragonFly BSD' ;;
        *) echo "" ;;
    esac
}
unix_only_message='Unix-domain listeners (`path`, `abstract_name`) are supported on unix targets only'
abstract_message() {
    case $1 in
        *-linux-* | *-linux | *-android*) echo "" ;;
        *-windows-*) echo "$unix_only_message" ;;
        *) echo '`abstract_name` is supported on Linux and Android only' ;;
    esac
}
long_path_message() {
    case $1 in
        *-linux-* | *-linux | *-android* | *-illumos | *-solaris) echo "" ;;
        *-windows-*) echo "$unix_only_message" ;;
        *) echo 'this `path` is too long for macOS, iOS and the BSDs' ;;
    esac
}
family_message='restartable supports the `unix` target family'

# --- --ci: one target per set of targets that take the same cfg branches ---
# Every cfg predicate of the code (cfg(...), cfg!(...), the first argument of
# cfg_attr(...)), as a module of a no_core crate; `rustc -Zunpretty=expanded`
# for a target keeps the modules whose predicate holds there, with no std.
cfg_predicates() {
    perl -0777 -ne '
        s/\\"/"/g;
        while (/\bcfg(_attr)?!?\s*(\((?:[^()]++|(?2))*\))/g) {
            my ($attr, $args) = ($1, substr($2, 1, -1));
            if ($attr) {
                my $depth = 0;
                for my $i (0 .. length($args) - 1) {
                    my $c = substr($args, $i, 1);
                    $depth++ if $c eq "(";
                    $depth-- if $c eq ")";
                    if ($c eq "," && $depth == 0) { $args = substr($args, 0, $i); last }
                }
            }
            $args =~ s/\s+/ /g;
            $args =~ s/^ | $//g;
            # Not a predicate: a macro'"'"'s `$target` or a format string'"'"'s `{cfg}`.
            next if $args =~ /[\$\{]/;
            print "$args\n" unless $seen{$args}++;
        }
        # The rows of the policy table (policy_table.rs): `[PREDICATES] =>`.
        while ($ARGV =~ /policy_table\.rs$/ && /^\s*\[([^\]\$]+)\]\s*=>/mg) {
            my $args = "any($1)";
            $args =~ s/\s+/ /g;
            print "$args\n" unless $seen{$args}++;
        }' "$@"
}
if $ci; then
    mapfile -t sources < <(find "$root/runtime/src" "$root/macros/src" -name '*.rs')
    sources+=("$root"/runtime/Cargo.toml "$root"/tests/expand/*.expanded.rs "$work"/*/src/lib.rs "$work"/*/Cargo.toml)
    mapfile -t predicates < <(cfg_predicates "${sources[@]}")
    {
        echo '#![feature(no_core)]'
        echo '#![no_core]'
        for i in "${!predicates[@]}"; do echo "#[cfg(${predicates[i]})] mod p$i {}"; done
    } > "$work/predicates.rs"
    declare -A first_of=() stands_for=()
    targets=()
    for target in "${all_targets[@]}"; do
        branches="holds:$("$RUSTC" --target "$target" --crate-type lib -Zunpretty=expanded "$work/predicates.rs" |
            { grep -o 'mod p[0-9]*' || true; } | tr '\n' ' ')"
        if [ -z "${first_of[$branches]+set}" ]; then
            first_of[$branches]=$target
            targets+=("$target")
        else
            stands_for[${first_of[$branches]}]+=" $target"
        fi
    done
    echo "--ci: ${#predicates[@]} cfg predicates, ${#targets[@]} sets of targets with the same branches; checked:"
    for target in "${targets[@]}"; do
        echo "  $target${stands_for[$target]:+ (the same branches as:${stands_for[$target]})}"
    done
fi

# --- every crate for every target, in one cargo call ---
# cargo compiles two units at once across the targets (one target's std is
# a chain: core, alloc, std), and goes on past the errors some crates must
# give (--keep-going). Its status is not judged here: each target's checks
# below find their crates compiled, and judge.
start=$SECONDS
compile_args=()
for target in "${targets[@]}"; do compile_args+=(--target "$target"); done
for crate in all reuse_port dual_stack "${unix_crates[@]}"; do compile_args+=(-p "check-${crate//_/-}"); done
(cd "$work" && cargo check -q "${build_std[@]}" --keep-going "${compile_args[@]}") > "$cache/all.log" 2>&1 || true
echo "std, the dependencies and the checked crates for ${#targets[@]} targets, in one cargo call: $((SECONDS - start)) s"

failures=0
rows=()
log=$cache/last.log
: > "$log"
# check TARGET PACKAGE EXPECTED: EXPECTED empty means it must build, else
# the build must fail and its first error must contain EXPECTED.
check() {
    local target=$1 package=$2 expected=$3 out rc first
    set +e
    out=$(cd "$work" && cargo check -q "${build_std[@]}" --target "$target" -p "$package" 2>&1)
    rc=$?
    set -e
    printf '== %s %s (rc %s)\n%s\n' "$target" "$package" "$rc" "$out" >> "$log"
    first=$(grep -m1 '^error' <<<"$out" || true)
    if [ -z "$expected" ]; then
        if [ "$rc" = 0 ]; then echo "builds"; return 0; fi
        echo "FAILED to build: ${first:-rc $rc}"
        return 1
    fi
    if [ "$rc" = 0 ]; then echo "FAILED: built, expected an error"; return 1; fi
    if ! grep -qF -- "$expected" <<<"$first"; then
        echo "FAILED: first error is not the expected one: $first"
        return 1
    fi
    if [ "$package" = check-all ] && grep -qE 'socket2|tokio' <<<"$(grep -A3 '^error' <<<"$out")"; then
        echo "FAILED: an error from socket2 or tokio as well"
        return 1
    fi
    echo "the expected compile error"
}

for target in "${targets[@]}"; do
    start=$SECONDS
    results=()
    ok=1
    if [[ $target == wasm32-* ]]; then
        result=$(check "$target" check-all "$family_message") || ok=0
        results+=("runtime+snapshots: $result")
    else
        result=$(check "$target" check-all "") || ok=0
        results+=("runtime (all features), $(($(ls "$root"/tests/expand/*.expanded.rs | wc -l) - 4)) snapshots, Builder, tokio: $result")
        result=$(check "$target" check-reuse-port "$(reuse_port_message "$target")") || ok=0
        results+=("reuse_port: $result")
        result=$(check "$target" check-dual-stack "$(dual_stack_message "$target")") || ok=0
        results+=("only_v6 = false: $result")
        unix_path=""
        [[ $target == *-windows-* ]] && unix_path=$unix_only_message
        result=$(check "$target" check-unix-path "$unix_path") || ok=0
        results+=("path: $result")
        result=$(check "$target" check-unix-abstract "$(abstract_message "$target")") || ok=0
        results+=("abstract_name: $result")
        result=$(check "$target" check-long-path "$(long_path_message "$target")") || ok=0
        results+=("105-byte path: $result")
    fi
    [ "$ok" = 1 ] || failures=$((failures + 1))
    rows+=("$(printf '| %s | %s | %s | %ss |' "$target" "$(IFS=';'; echo "${results[*]}" | sed 's/;/; /g')" \
        "$([ "$ok" = 1 ] && echo ok || echo FAILED)" $((SECONDS - start)))")
    echo "${rows[-1]}"
done

echo
echo "| target | checked | result | time |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo "(compiler: $("$RUSTC" --version); full output: $log)"
if [ "$failures" != 0 ]; then
    echo "FAIL: $failures target(s) with an unexpected result"
    exit 1
fi
echo "targets check passed"
