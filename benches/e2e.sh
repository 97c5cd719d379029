#!/usr/bin/env bash
# End to end: examples/hyper.rs on loopback, with CorsLayer and without (--no-cors), driven
# by wrk with a cross-origin GET that a rule matches. Prints requests/s of every run and the
# ratio of the medians (with / without).
#
#   benches/e2e.sh [SECONDS_PER_RUN] [ROUNDS]        defaults: 5 and 3 (about a minute)
#
# Runs alternate (without, with, without, with, ...) so drift on a shared machine hits both.
# With two cores or more the server is pinned to CPU 0 and wrk to CPU 1. Needs wrk (Debian:
# apt-get install wrk). CONNECTIONS (default 32) sets wrk's open connections; ORIGIN (default
# http://localhost:8080, which a rule allows: six headers added) sets the request's Origin,
# e.g. ORIGIN=https://evil.example for a request no rule matches (the decision alone).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-5}
rounds=${2:-3}
connections=${CONNECTIONS:-32}
allowed='http://localhost:8080'
origin=${ORIGIN:-$allowed}

command -v wrk >/dev/null || { echo "wrk not found (Debian: apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --example hyper
server_bin="${CARGO_TARGET_DIR:-target}/release/examples/hyper"

pin_server=() pin_wrk=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server=(taskset -c 0) pin_wrk=(taskset -c 1)
fi

tmp=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# One run: start the server (extra args select the mode), warm up, measure, stop.
run() {
    "${pin_server[@]}" "$server_bin" --listen 127.0.0.1:0 "$@" >"$tmp/server.out" 2>&1 &
    server=$!
    local url=
    for _ in $(seq 100); do
        url=$(sed -n '1s/^listening on //p' "$tmp/server.out")
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || { echo "server did not start:" >&2; cat "$tmp/server.out" >&2; exit 1; }
    "${pin_wrk[@]}" wrk -t1 -c"$connections" -d1s -H "Origin: $origin" "$url/photo.jpg" >/dev/null
    "${pin_wrk[@]}" wrk -t1 -c"$connections" -d"${duration}s" -H "Origin: $origin" "$url/photo.jpg" \
        | awk '/^Requests\/sec:/ { print $2 }'
    kill "$server"; wait "$server" 2>/dev/null || true
    server=
}

# The layer must really be there: one allowed request with curl (when installed).
check() {
    "$server_bin" --listen 127.0.0.1:0 >"$tmp/check.out" 2>&1 &
    server=$!
    sleep 0.3
    local url
    url=$(sed -n '1s/^listening on //p' "$tmp/check.out")
    if command -v curl >/dev/null; then
        curl -s -D - -o /dev/null -H "Origin: $allowed" "$url/photo.jpg" \
            | grep -qi '^access-control-allow-origin: http://localhost:8080' \
            || { echo "the layer did not answer with CORS headers" >&2; exit 1; }
    fi
    kill "$server"; wait "$server" 2>/dev/null || true
    server=
}
check

without=() with=()
for round in $(seq "$rounds"); do
    without+=("$(run --no-cors)")
    with+=("$(run)")
    echo "round $round: without ${without[-1]} req/s, with ${with[-1]} req/s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_without=$(median "${without[@]}")
m_with=$(median "${with[@]}")
awk -v a="$m_with" -v b="$m_without" -v r="$rounds" -v d="$duration" -v c="$connections" -v o="$origin" 'BEGIN {
    printf "e2e (%d rounds of %d s, %d connections, Origin %s): median without %.0f req/s, with %.0f req/s, ratio with/without %.3f\n", r, d, c, o, b, a, a / b
}'
