# Sourced by benches/callgrind.sh and benches/bucket_misses.sh, from the crate's root, with the
# benchmark's name: checks for valgrind, builds the benchmark, and sets `bench` to its
# executable and `tmp` to a directory removed on exit.
command -v valgrind >/dev/null || { echo "valgrind not found (Debian: apt-get install valgrind)" >&2; exit 1; }
bench=$(cargo bench --bench "$1" --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "could not build the $1 bench" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
