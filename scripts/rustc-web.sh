# shellcheck shell=bash
# Sourced by the scripts that need a current Rust for other targets: unpacks
# Debian's rustc-web (a current rustc) with its std sources (rust-web-src, for
# `cargo -Zbuild-std`) into a cache outside the clone, and exports RUSTC,
# RUSTC_BOOTSTRAP and LD_LIBRARY_PATH to use it with rustup's cargo.
# rustc-web conflicts with Debian's rustc, so it is not installed; the
# package names move with updates, so they are discovered. Sets
# $rustc_web_cache (the cache folder).
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "${BASH_SOURCE[0]}")/on-error.sh"
rustc_web_cache=${RESTARTABLE_TARGETS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/restartable-targets}
mkdir -p "$rustc_web_cache"

rustc_web_depends_on() { # the first dependency of package $1 whose name matches $2
    apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: //p' | grep -E -m1 "$2" || true
}

if ! grep -q 'Candidate: [0-9]' <<<"$(apt-cache policy rustc-web 2>/dev/null)"; then
    apt-get update -qq
fi
rustc_web_version=$(apt-cache policy rustc-web | sed -n 's/^ *Candidate: //p')
if [ -z "$rustc_web_version" ] || [ "$rustc_web_version" = "(none)" ]; then
    echo "error: apt has no rustc-web (Debian bookworm's main and security archives hold it)" >&2
    return 1
fi
rustc_web_root=$rustc_web_cache/rustc-web-$rustc_web_version
if [ ! -f "$rustc_web_root/.complete" ]; then
    rustc_web_std_dev=$(rustc_web_depends_on rustc-web '^libstd-rust-web-dev$')
    rustc_web_std=$(rustc_web_depends_on "$rustc_web_std_dev" '^libstd-rust-web-[0-9]')
    rustc_web_llvm=$(rustc_web_depends_on "$rustc_web_std" '^libllvm[0-9]+$')
    if [ -z "$rustc_web_std_dev" ] || [ -z "$rustc_web_std" ] || [ -z "$rustc_web_llvm" ]; then
        echo "error: rustc-web $rustc_web_version: its std or LLVM package not found among its dependencies" \
            "(std-dev '$rustc_web_std_dev', std '$rustc_web_std', llvm '$rustc_web_llvm')" >&2
        return 1
    fi
    echo "unpacking rustc-web $rustc_web_version: rustc-web $rustc_web_std_dev $rustc_web_std $rustc_web_llvm rust-web-src"
    rm -rf "$rustc_web_root" "$rustc_web_cache/debs"
    mkdir -p "$rustc_web_root" "$rustc_web_cache/debs"
    # As this user: apt's own user (_apt) may not write to the cache.
    (cd "$rustc_web_cache/debs" && apt-get download -qq -o "APT::Sandbox::User=$(id -un)" rustc-web \
        "$rustc_web_std_dev" "$rustc_web_std" "$rustc_web_llvm" rust-web-src)
    for deb in "$rustc_web_cache"/debs/*.deb; do dpkg -x "$deb" "$rustc_web_root"; done
    rm -rf "$rustc_web_cache/debs"
    touch "$rustc_web_root/.complete"
fi
export LD_LIBRARY_PATH=$rustc_web_root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export RUSTC=$rustc_web_root/usr/bin/rustc RUSTDOC=$rustc_web_root/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
