#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, starting from the committed seeds.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s, every target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on stable Rust without
# sanitizers (`-s none`). The seeds in fuzz/seeds/TARGET are copied to a temporary corpus so
# the committed ones never change; set FUZZ_CORPUS_DIR to keep the grown corpus between runs.
# A crash stops the run with a non-zero status and leaves the input in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(xml_parser json_parser round_trip request_path)
fi
corpus_root="${FUZZ_CORPUS_DIR:-$(mktemp -d)}"
cargo fuzz build -s none >/dev/null 2>&1 || cargo fuzz build -s none
for target in "${targets[@]}"; do
    corpus="$corpus_root/$target"
    mkdir -p "$corpus"
    cp -n seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    log="$(mktemp)"
    if ! cargo fuzz run -s none "$target" "$corpus" -- \
        -max_total_time="$seconds" -dict=dict/cors.dict -max_len=70000 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target FAILED (see fuzz/artifacts/$target)"
        exit 1
    fi
    runs="$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -n 1)"
    echo "fuzz $target: ${runs:-no summary}, corpus $(ls "$corpus" | wc -l) inputs"
    rm -f "$log"
done
