#!/usr/bin/env bash
# End to end: examples/hyper.rs on loopback, driven by wrk with a cross-origin GET that a rule
# matches, in three forms: with CorsLayer; without it, the handler writing the same six headers
# itself (--headers-in-handler: the floor for sending S3's headers); and with no CORS headers at
# all (--no-cors). Prints requests/s of every run and, per round, the ratios; the summary gives
# their medians over the rounds.
#
#   benches/e2e.sh [SECONDS_PER_RUN] [ROUNDS]        defaults: 5 and 3 (about a minute and a half)
#
# Runs alternate (none, handler, layer, then the order rotates) so drift on a shared machine
# hits all three alike.
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
    for _ in $(seq 200); do
        url=$(sed -n '1s/^listening on //p' "$tmp/server.out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "server did not start:" >&2; cat "$tmp/server.out" >&2; exit 1; }
    "${pin_wrk[@]}" wrk -t1 -c"$connections" -d1s -H "Origin: $origin" "$url/photo.jpg" >/dev/null
    local rps
    rps=$("${pin_wrk[@]}" wrk -t1 -c"$connections" -d"${duration}s" -H "Origin: $origin" "$url/photo.jpg" \
        | awk '/^Requests\/sec:/ { print $2 }')
    [ -n "$rps" ] || { echo "wrk measured nothing against $url ($*)" >&2; exit 1; }
    echo "$rps"
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

none=() handler=() layer=() r_handler=() r_none=()
for round in $(seq "$rounds"); do
    for k in 0 1 2; do
        case $(( (round + k) % 3 )) in
            0) none+=("$(run --no-cors)") ;;
            1) handler+=("$(run --headers-in-handler)") ;;
            2) layer+=("$(run)") ;;
        esac
    done
    r_handler+=("$(awk -v a="${layer[-1]}" -v b="${handler[-1]}" 'BEGIN { print a / b }')")
    r_none+=("$(awk -v a="${layer[-1]}" -v b="${none[-1]}" 'BEGIN { print a / b }')")
    echo "round $round: no headers ${none[-1]} req/s, handler writes them ${handler[-1]} req/s, layer ${layer[-1]} req/s" \
        "(layer / handler ${r_handler[-1]}, layer / none ${r_none[-1]})"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk -v n="$(median "${none[@]}")" -v h="$(median "${handler[@]}")" -v l="$(median "${layer[@]}")" \
    -v rh="$(median "${r_handler[@]}")" -v rn="$(median "${r_none[@]}")" \
    -v r="$rounds" -v d="$duration" -v c="$connections" -v o="$origin" 'BEGIN {
    printf "e2e (%d rounds of %d s, %d connections, Origin %s): median req/s: no headers %.0f, handler writes them %.0f, layer %.0f\n", r, d, c, o, n, h, l
    printf "median of per-round ratios: layer / handler-writes-headers %.3f (goal >= 0.97), layer / no headers %.3f\n", rh, rn
}'
