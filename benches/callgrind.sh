#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind (deterministic: the same binary
# and inputs give the same count whatever else the machine is doing). Each variant of
# benches/cors.rs serves N requests alone; only the serving is counted (--toggle-collect),
# then divided by N.
#
#   benches/callgrind.sh [N] [CASE/VARIANT ...]     defaults: 2000 and the main cases
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-2000}
shift || true
ids=("$@")
if [ ${#ids[@]} -eq 0 ]; then
    ids=(
        actual_allowed/none actual_allowed/insert_only actual_allowed/tower_http actual_allowed/s3_cors
        actual_not_matching/s3_cors
        preflight_allowed/prebuilt preflight_allowed/tower_http preflight_allowed/s3_cors
        preflight_allowed_one_header/prebuilt preflight_allowed_one_header/s3_cors
        preflight_refused/tower_http_allowed preflight_refused/tower_http preflight_refused/s3_cors
    )
fi
command -v valgrind >/dev/null || { echo "valgrind not found (Debian: apt-get install valgrind)" >&2; exit 1; }
bench=$(cargo bench --bench cors --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "could not build the cors bench" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for id in "${ids[@]}"; do
    valgrind --tool=callgrind --toggle-collect='*serve_all*' --callgrind-out-file="$tmp/out" \
        "$bench" --callgrind "$id" "$n" >/dev/null 2>"$tmp/log"
    total=$(sed -n 's/^summary: //p' "$tmp/out")
    printf '%-46s %8d instructions per request\n' "$id" $((total / n))
done
