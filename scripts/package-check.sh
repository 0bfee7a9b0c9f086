#!/usr/bin/env bash
# The two publishable crates as crates.io would get them: `cargo package`
# builds each from its packaged sources (the macro crate first; the runtime
# against the packaged macro crate), then the runtime's own tests run from
# its packaged sources, with the packaged macro crate standing in for the
# crates.io one. Prints the file list of each package. Then the docs as
# docs.rs builds them (--cfg docsrs, all features, the nightly features of
# rustdoc: RUSTC_BOOTSTRAP=1 on a stable compiler), warnings as errors.
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)

step() { printf '\n-- %s\n' "$*"; }

step "cargo package -p restartable-macros -p restartable (build each from its package)"
cargo package -p restartable-macros -p restartable --allow-dirty
for crate in restartable-macros restartable; do
    step "files of $crate $version"
    cargo package -p "$crate" --list --allow-dirty
done

step "the runtime's own tests, from its packaged sources"
packaged=$root/target/package/restartable-$version
cargo test --manifest-path "$packaged/Cargo.toml" --all-features \
    --config "patch.crates-io.restartable-macros.path=\"$root/target/package/restartable-macros-$version\""

step "docs as docs.rs builds them: --cfg docsrs, all features, warnings as errors"
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -Dwarnings" \
    cargo doc -p restartable -p restartable-macros --all-features --no-deps
echo "package check passed"
