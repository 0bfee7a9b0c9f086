#!/usr/bin/env bash
# Builds the behaviour suite (tests/tests: the Windows policy tests with the
# attribute's generated code, as its expansion snapshots hold it, errors,
# exclusivity, port_env, retry, tokio, no_fd_leak) for x86_64-pc-windows-gnu
# with a current Rust (Debian's rustc-web and `cargo -Zbuild-std`), runs it
# under Wine, and builds the runtime's docs for Windows. That `reuse_port =
# true` is a compile error there is checked by scripts/targets-check.sh.
#
# Then the supervisor and the upgrade, driven from Linux
# (scripts/windows-supervisor-check.sh, scripts/windows-upgrade-check.sh;
# --quick; WINDOWS_CHECK=--full for 20 kills and 20 upgrades).
#
# Usage: scripts/windows-check.sh   (root, Debian bookworm; installs what it needs)
# WINDOWS_CHECK_DIR sets the scratch folder (default: target/windows-check).
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${WINDOWS_CHECK_DIR:-$root/target/windows-check}
target=x86_64-pc-windows-gnu
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
packages=(gcc-mingw-w64-x86-64 wine64 wine)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p "$scratch"
cat > "$scratch/wine-runner" <<RUNNER
#!/bin/sh
# A failing test must report its failure, not crash Wine: RUST_BACKTRACE=0.
export WINEPREFIX="$WINEPREFIX" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" RUST_BACKTRACE=0
unset DISPLAY
exec /usr/lib/wine/wine64 "\$@"
RUNNER
chmod +x "$scratch/wine-runner"

step "wine prefix"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    /usr/lib/wine/wine64 wineboot -i >/dev/null 2>&1
    wineserver -w
fi
echo "$WINEPREFIX"

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
suite=(windows_policy errors exclusivity port_env retry tokio no_fd_leak windows_pass)
(
    # shellcheck source=scripts/rustc-web.sh
    source "$root/scripts/rustc-web.sh"
    "$RUSTC" --version
    cd "$root"
    export CARGO_TARGET_DIR=$rustc_web_cache/wine-target
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$scratch/wine-runner-current
    # The fixtures the tests start (win_service) run from debug/, not deps/.
    mkdir -p "$CARGO_TARGET_DIR/$target/debug"
    cp -f "$scratch/shim/bcryptprimitives.dll" "$CARGO_TARGET_DIR/$target/debug/"
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

step "the supervisor under Wine: kills, queued connections, a hijacker, stop, forged records, crash loop, controls"
(
    # shellcheck source=scripts/rustc-web.sh
    source "$root/scripts/rustc-web.sh"
    cd "$root"
    export CARGO_TARGET_DIR=$rustc_web_cache/wine-target
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    cargo build -q -Zbuild-std=std,panic_abort --target "$target" -p restartable-tests --bin win_service
    cargo build -q -Zbuild-std=std,panic_abort --target "$target" -p restartable-examples --example upgrade
    cp -f "$scratch/shim/bcryptprimitives.dll" "$CARGO_TARGET_DIR/$target/debug/"
    cp -f "$scratch/shim/bcryptprimitives.dll" "$CARGO_TARGET_DIR/$target/debug/examples/"
)
# The load client runs on Linux, built by the host's toolchain.
(cd "$root" && env -u RUSTC -u RUSTC_BOOTSTRAP -u LD_LIBRARY_PATH \
    cargo build -q -p restartable-tests --bin upgrade_load)
(
    # shellcheck source=scripts/rustc-web.sh
    source "$root/scripts/rustc-web.sh" >/dev/null
    WIN_SERVICE=$rustc_web_cache/wine-target/$target/debug/win_service.exe \
        UPGRADE_LOAD=$root/target/debug/upgrade_load \
        bash "$root/scripts/windows-supervisor-check.sh" "${WINDOWS_CHECK:---quick}"
)

step "the upgrade under Wine: upgrades under load, a hijacker, faults"
(
    # shellcheck source=scripts/rustc-web.sh
    source "$root/scripts/rustc-web.sh" >/dev/null
    debug=$rustc_web_cache/wine-target/$target/debug
    UPGRADE_EXE=$debug/examples/upgrade.exe WIN_SERVICE=$debug/win_service.exe \
        UPGRADE_LOAD=$root/target/debug/upgrade_load \
        bash "$root/scripts/windows-upgrade-check.sh" "${WINDOWS_CHECK:---quick}"
)

step "runtime docs for $target"
(
    # shellcheck source=scripts/rustc-web.sh
    source "$root/scripts/rustc-web.sh"
    cd "$root"
    # rustdoc needs std's API only: checked without the crates of its
    # `backtrace` and `panic-unwind` features, as scripts/targets-check.sh does.
    CARGO_TARGET_DIR=$rustc_web_cache/wine-target RUSTDOCFLAGS=-Dwarnings \
        cargo doc -q -Zbuild-std=core,alloc,std -Zbuild-std-features= --no-deps --target "$target" -p restartable
)

step "done"
echo "windows check passed"
