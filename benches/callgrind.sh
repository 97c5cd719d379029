#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind (deterministic: the same binary
# and inputs give the same count whatever else the machine is doing). Each variant of
# benches/cors.rs serves requests alone, each made just before it is served (as a server
# parses one). The whole run is counted twice, with N and with 2N requests, so that setting
# up the cases cancels out; making the requests, counted the same way, is subtracted.
# (Counting only inside one function with --toggle-collect is not used: it missed the
# allocator's calls made from inside it.)
#
#   benches/callgrind.sh [N] [CASE/VARIANT ...]     defaults: 1000 and the main cases
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-1000}
shift || true
ids=("$@")
if [ ${#ids[@]} -eq 0 ]; then
    ids=(
        actual_allowed/none actual_allowed/insert_only actual_allowed/minimal_layer actual_allowed/minimal_s3_layer
        actual_allowed/tower_http actual_allowed/s3_cors
        actual_not_matching/s3_cors
        preflight_allowed/prebuilt preflight_allowed/tower_http preflight_allowed/s3_cors
        preflight_allowed_unseen/prebuilt preflight_allowed_unseen/tower_http preflight_allowed_unseen/s3_cors
        preflight_allowed_one_header/prebuilt preflight_allowed_one_header/s3_cors
        preflight_refused/tower_http_allowed preflight_refused/tower_http preflight_refused/s3_cors
    )
fi
. benches/valgrind_prelude.sh cors
# Instructions of the whole run of `$1` with `$2` requests.
total() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
        "$bench" --callgrind "$1" "$2" >/dev/null 2>"$tmp/log"
    sed -n 's/^summary: //p' "$tmp/out"
}
# Instructions per request of `$1`: (2N run - N run) / N.
per_request() {
    echo $(( ($(total "$1" $((2 * n))) - $(total "$1" "$n")) / n ))
}
for id in "${ids[@]}"; do
    serve=$(per_request "$id")
    build=$(per_request "$id:build")
    printf '%-46s %8d instructions per request\n' "$id" $((serve - build))
done
