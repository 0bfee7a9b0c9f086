#!/usr/bin/env bash
# Soak: kill -9 / restart cycles of a server made by #[restartable_listener],
# with clients connected in every cycle, bounded in time. Reports bind
# failures (must be 0), the restart time distribution (min / median / p99 /
# max) and whether open file descriptors grow over 10,000 bind/close cycles
# and 10,000 failed binds (they must not). Exits non-zero on any of those.
#
# Usage: scripts/soak.sh [CYCLES] [SECONDS]   (default 1000 cycles, 300 s bound)
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"
cd "$(dirname "$0")/.."
cargo build -q --release -p restartable-tests --bin soak
exec target/release/soak --cycles "${1:-1000}" --seconds "${2:-300}"
