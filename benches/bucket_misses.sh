#!/usr/bin/env bash
# Cache misses per operation of a `BucketStore` of N buckets, counted by valgrind's cache
# simulator (deterministic: the same binary and inputs give the same counts). Each operation of
# benches/buckets.rs's `--misses` mode runs 2 000 times in a function of its own (a preflight and a
# PutBucketCors: one call each, the request or configuration made just before); each function's
# inclusive costs are divided by 2 000. The last-level cache is simulated at LL bytes (default
# 16 MiB: where this machine's random-read latency starts to climb; see the floor column of
# `cargo bench --bench buckets`).
#
#   benches/bucket_misses.sh [N] [LL]      defaults: 1000000 and 16777216
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-1000000}
ll=${2:-16777216}
. benches/valgrind_prelude.sh buckets
# The whole run is simulated; each operation's figures are its function's inclusive costs.
# (Counting only inside those functions with --toggle-collect missed the allocator's calls.)
valgrind --tool=callgrind --cache-sim=yes --LL="$ll,16,64" --callgrind-out-file="$tmp/out" \
    "$bench" --misses "$n" >/dev/null 2>"$tmp/log"
echo "$n buckets, last-level cache $((ll >> 20)) MiB: per operation"
printf '%-12s %12s %14s %14s %14s\n' operation instructions "L1 read miss" "LL read miss" "LL write miss"
callgrind_annotate --threshold=100 --inclusive=yes --show=Ir,D1mr,DLmr,DLmw "$tmp/out" 2>/dev/null \
    | grep -E 'buckets::counted_(preflight|put|deletes|creates) ' \
    | sed -E 's/\([^)]*\)//g; s/,//g; s/\?\?\?:buckets::counted_([a-z]+).*/\1/' \
    | awk '{ for (i = 1; i <= 4; i++) if ($i == ".") $i = 0
             printf "%-12s %12.0f %14.1f %14.1f %14.1f\n", $5, $1 / 2000, $2 / 2000, $3 / 2000, $4 / 2000 }'
