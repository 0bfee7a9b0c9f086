#!/usr/bin/env bash
# The Rust versions the packages state, checked where no compiler of that
# version is at hand: a crate that depends on restartable with its default
# features (the attribute), one with `tokio` and one with `async-io`, are resolved as a user on
# the stated version would resolve them (cargo's MSRV-aware fallback), and
# every package in each graph must state a rust-version no newer than ours.
# The crates' own code is checked against the same version by clippy's
# `incompatible_msrv` lint, which reads rust-version (cargo clippy in .ci/run).
#
# Usage: scripts/msrv-check.sh
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v python3 >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stated=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$root/runtime/Cargo.toml")
echo "restartable states rust-version $stated (its default features: the attribute)"

check() {
    local label=$1 features=$2 msrv=$3
    local dir=$work/$label
    mkdir -p "$dir/src"
    echo "fn main() {}" > "$dir/src/main.rs"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "msrv-$label"
version = "0.0.0"
edition = "2021"
rust-version = "$msrv"
publish = false

[dependencies]
restartable = { path = "$root/runtime"$features }
TOML
    (cd "$dir" && CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet)
    (cd "$dir" && cargo metadata --quiet --format-version 1) > "$dir/metadata.json"
    python3 - "$dir/metadata.json" "$msrv" "$label" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1])); msrv = sys.argv[2]; label = sys.argv[3]
def key(v): return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
resolved = {n["id"] for n in meta["resolve"]["nodes"]}
newest, too_new = ("", "0"), []
for p in meta["packages"]:
    if p["id"] not in resolved or p["name"].startswith("msrv-"):
        continue
    rv = p.get("rust_version") or "0"
    if key(rv) > key(newest[1]):
        newest = (f'{p["name"]} {p["version"]}', rv)
    if key(rv) > key(msrv):
        too_new.append(f'{p["name"]} {p["version"]} (rust-version {rv})')
print(f"{label}: {len(resolved) - 1} packages for Rust {msrv}; the newest stated: {newest[0]} needs {newest[1]}")
if too_new:
    print("FAIL: newer than " + msrv + ": " + ", ".join(too_new)); sys.exit(1)
PY
}

check default "" "$stated"
# tokio's own MSRV moves with its releases; "1.25" lets an older compiler
# resolve an older tokio.
check tokio ', features = ["tokio"]' "$stated"
check async-io ', features = ["async-io"]' "$stated"
echo "msrv check passed"
