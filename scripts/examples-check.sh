#!/usr/bin/env bash
# Runs each web framework example (axum, actix-web, hyper, smol) on a free loopback
# port, sends it one HTTP request, checks the answer, and stops it.
#
# Usage: scripts/examples-check.sh
set -euo pipefail
# shellcheck source=scripts/on-error.sh
source "$(dirname "$0")/on-error.sh"

cd "$(dirname "$0")/.."
cargo build --quiet -p restartable-frameworks --examples
examples=target/debug/examples

# A port on 127.0.0.1 that nothing answers on, below the ephemeral range:
# there an outgoing connection of another program may hold it (seen: a
# port picked from 20000-39999 was the local port of a live connection,
# and the server's bind failed with AddrInUse).
free_port() {
    local port ephemeral
    ephemeral=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    for _ in $(seq 50); do
        port=$((10000 + RANDOM % (ephemeral - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    return 1
}

# The body of GET / on the port, or nothing while no server answers.
get() {
    local port=$1 response
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    response=$(timeout 5 cat <&3 || true)
    exec 3<&-
    printf '%s' "$response" | tr -d '\r' | sed '1,/^$/d'
}

failed=0
for example in axum actix hyper smol; do
    port=$(free_port)
    PORT=$port "$examples/$example" &
    server=$!
    body=""
    # Up to 60 s to answer (a loaded machine is slow), unless it exits.
    deadline=$((${EPOCHREALTIME/./} + 60000000))
    while ((${EPOCHREALTIME/./} < deadline)) && kill -0 "$server" 2>/dev/null; do
        if body=$(get "$port" 2>/dev/null) && [ -n "$body" ]; then
            break
        fi
        sleep 0.1
    done
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    if [[ "$body" == "hello from "* ]]; then
        printf '%-6s 127.0.0.1:%s  GET / -> %s\n' "$example" "$port" "$body"
    else
        printf '%-6s 127.0.0.1:%s  no answer (got %q)\n' "$example" "$port" "$body"
        failed=1
    fi
done
exit "$failed"
