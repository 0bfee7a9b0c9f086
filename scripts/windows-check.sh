#!/usr/bin/env bash
# Builds the runtime and the attribute's generated code (the expansion
# snapshots in tests/expand, written on the host by the real macro) for
# x86_64-pc-windows-gnu with Debian's rustc 1.63, and runs their tests under
# Wine; builds the same for Linux with rustc 1.63 (the MSRV of the runtime
# without its `macros` feature) and runs the runtime's unit tests there. Also checks that `reuse_port = true` is a compile error for Windows
# and builds for Linux, and that the runtime's docs build for Windows.
#
# Usage: scripts/windows-check.sh   (root, Debian bookworm; installs what it needs)
# WINDOWS_CHECK_DIR sets the scratch folder (default: target/windows-check).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${WINDOWS_CHECK_DIR:-$root/target/windows-check}
target=x86_64-pc-windows-gnu
debian_cargo=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export WINEPREFIX=$scratch/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY

timings=()
step_start=0
step() {
    finish_step
    step_name=$1
    step_start=$SECONDS
    printf '\n== %s\n' "$step_name"
}
finish_step() {
    if [ "$step_start" != 0 ] || [ -n "${step_name:-}" ]; then
        timings+=("$(printf '%4ss  %s' $((SECONDS - step_start)) "$step_name")")
    fi
}
stop_wine() {
    if command -v wineserver >/dev/null 2>&1 && [ -d "$WINEPREFIX" ]; then
        wineserver -k 2>/dev/null || true
        wineserver -w 2>/dev/null || true
    fi
}
report() {
    finish_step
    step_name=""
    printf '\n== step times\n'
    printf '%s\n' "${timings[@]}"
}
trap 'stop_wine; report' EXIT

step "Debian packages"
packages=(rustc cargo libstd-rust-dev-windows gcc-mingw-w64-x86-64 wine64 wine)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "all present"
fi
"$RUSTC" --version
"$debian_cargo" --version

step "scratch workspace"
rm -rf "$scratch/runtime" "$scratch/wintest" "$scratch/tests" "$scratch/reuse_port" "$scratch/vendor" "$scratch/.cargo"
mkdir -p "$scratch/tests" "$scratch/reuse_port/src" "$scratch/.cargo"
cp -rL "$root/runtime" "$root/wintest" "$scratch/"
cp -r "$root/tests/expand" "$scratch/tests/"
# wintest builds the suite's Windows policy tests and the shared list of
# snapshot modules from their own files.
mkdir -p "$scratch/tests/tests"
cp -r "$root/tests/tests/windows_policy.rs" "$root/tests/tests/snapshots" "$scratch/tests/tests/"
# The proc macro runs on the host only (it needs a newer compiler than 1.63):
# the scratch copy of the runtime has no `macros` feature. The workspace's
# lint table stays behind too (Debian's cargo predates `[lints]`), and so
# does tokio, which needs a newer compiler than 1.63.
sed -i -e '/^restartable-macros = /d' \
    -e '/^tokio = { /d' \
    -e 's/^tokio = \["dep:tokio"\]/tokio = []/' \
    -e '/^\[lints\]$/,/^workspace = true$/d' \
    -e 's/^default = \["macros"\]/default = []/' \
    -e 's/^macros = \["dep:restartable-macros"\]/macros = []/' \
    -e 's/^rust-version = .*/rust-version = "1.63"/' \
    "$scratch/runtime/Cargo.toml"
cat > "$scratch/reuse_port/Cargo.toml" <<'TOML'
[package]
name = "reuse-port-check"
version = "0.0.0"
edition = "2021"
rust-version = "1.63"
publish = false

[dependencies]
restartable = { path = "../runtime" }
TOML
cat > "$scratch/reuse_port/src/lib.rs" <<'RUST'
//! The expansion of `reuse_port = true`: builds for Linux, and on Windows
//! its cfg(windows) branch is a compile error.
include!("../../tests/expand/reuse_port.expanded.rs");
RUST
{
    echo '[workspace]'
    echo 'members = ["runtime", "wintest", "reuse_port"]'
    echo 'resolver = "2"'
    echo
    # The runtime inherits these from the real workspace.
    sed -n '/^\[workspace.package\]/,/^$/p' "$root/Cargo.toml"
} > "$scratch/Cargo.toml"
cat > "$scratch/wine-runner" <<RUNNER
#!/bin/sh
# A failing test must report its failure, not crash Wine: RUST_BACKTRACE=0.
export WINEPREFIX="$WINEPREFIX" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" RUST_BACKTRACE=0
unset DISPLAY
exec /usr/lib/wine/wine64 "\$@"
RUNNER
chmod +x "$scratch/wine-runner"

step "resolve for Rust 1.63 and vendor"
cd "$scratch"
rm -f Cargo.lock
# rustup's cargo picks versions whose rust-version is 1.63 or older and
# writes a lockfile Debian's cargo 1.65 reads.
env -u RUSTC -u RUSTDOC CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet
env -u RUSTC -u RUSTDOC cargo vendor --quiet --versioned-dirs vendor > /dev/null
awk '/^name = /{name=$3} /^version = /{if (name ~ /"(socket2|windows-sys)"/) print "  " name " " $3}' Cargo.lock
cat > .cargo/config.toml <<TOML
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"

[target.$target]
linker = "x86_64-w64-mingw32-gcc"
runner = "$scratch/wine-runner"
TOML

step "wine prefix"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    /usr/lib/wine/wine64 wineboot -i >/dev/null 2>&1
    wineserver -w
fi
echo "$WINEPREFIX"

step "build for $target (rustc 1.63)"
"$debian_cargo" build --offline --target "$target" -p restartable -p restartable-windows-tests --tests

step "test under Wine"
"$debian_cargo" test --offline --target "$target" -p restartable-windows-tests -- --test-threads=1 --nocapture

step "Linux with rustc 1.63: the runtime without macros, the expansion snapshots, the runtime's tests"
# The same generated code and runtime, for this machine's own target: the
# MSRV of the runtime without `macros` is 1.63 on every target.
"$debian_cargo" build --offline -p restartable -p restartable-windows-tests
"$debian_cargo" test --offline -p restartable --lib

step "the behaviour suite for $target with the current compiler (-Zbuild-std), under Wine"
# The same test files as on Linux (tests/tests/*.rs, per-OS expectations in
# cfg), tokio included, built by Debian's rustc-web. Its std imports
# ProcessPrng from bcryptprimitives.dll, which Wine 8 lacks: a shim DLL
# beside each test binary implements it with advapi32's RtlGenRandom
# (SystemFunction036). Real Windows 10 and later have the DLL.
mkdir -p "$scratch/shim"
cat > "$scratch/shim/shim.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
C
x86_64-w64-mingw32-gcc -shared -O2 -o "$scratch/shim/bcryptprimitives.dll" "$scratch/shim/shim.c" -ladvapi32
cat > "$scratch/wine-runner-current" <<RUNNER
#!/bin/sh
# As wine-runner, with the ProcessPrng shim beside the program.
cp -f "$scratch/shim/bcryptprimitives.dll" "\$(dirname "\$1")/"
exec "$scratch/wine-runner" "\$@"
RUNNER
chmod +x "$scratch/wine-runner-current"
suite=(windows_policy errors exclusivity port_env retry tokio no_fd_leak)
(
    # shellcheck source=scripts/rustc-web.sh
    source "$root/scripts/rustc-web.sh"
    "$RUSTC" --version
    cd "$root"
    export CARGO_TARGET_DIR=$rustc_web_cache/wine-target
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$scratch/wine-runner-current
    set +e
    cargo test -q --no-fail-fast -Zbuild-std=std,panic_abort --target "$target" -p restartable-tests \
        $(printf -- '--test %s ' "${suite[@]}") -- --test-threads=1 2>&1 | tee "$scratch/current.log"
    echo "exit status ${PIPESTATUS[0]}" >> "$scratch/current.log"
)
# Judged by what each test binary reports: once, a binary whose tests had
# all passed exited with status 1 under Wine (not reproduced in six runs
# since). A failed test or a binary that stops before its summary fails.
ok=$(grep -c '^test result: ok\.' "$scratch/current.log" || true)
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$scratch/current.log" | awk '{s += $4} END {print s + 0}')
status=$(sed -n 's/^exit status //p' "$scratch/current.log")
if [ "$ok" != "${#suite[@]}" ] || grep -q '^test result: FAILED' "$scratch/current.log"; then
    echo "FAIL: $ok of ${#suite[@]} test binaries reported success under Wine"
    exit 1
fi
if [ "$status" != 0 ]; then
    echo "note: cargo exited with status $status although every test binary reported success under Wine"
    grep -E '^error: test failed|exit status: ' "$scratch/current.log" || true
fi
echo "under Wine, current compiler: $passed tests passed in ${#suite[@]} test files (${suite[*]})"

step "reuse_port = true: compile error for Windows, builds for Linux"
if out=$("$debian_cargo" build --offline --target "$target" -p reuse-port-check 2>&1); then
    echo "$out"
    echo "FAIL: reuse_port = true built for Windows"
    exit 1
fi
expected='`reuse_port = true` is not supported on Windows'
if ! grep -qF "$expected" <<<"$out"; then
    echo "$out"
    echo "FAIL: the Windows build failed without the promised message: $expected"
    exit 1
fi
echo "as expected, the Windows build fails with: $(grep -F -m1 "$expected" <<<"$out" | sed 's/^error: //')"
"$debian_cargo" build --offline -p reuse-port-check
echo "builds for $(rustc -vV | sed -n 's/^host: //p')"

step "runtime docs for $target"
RUSTDOCFLAGS=-Dwarnings "$debian_cargo" doc --offline --no-deps --target "$target" -p restartable

step "done"
echo "windows check passed"
