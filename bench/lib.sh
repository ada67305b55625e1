# Shared helpers for the benchmark scripts (sourced, not run).
# Measures whole commands with GNU time: wall seconds, CPU seconds (user + sys), peak RSS.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
# Outputs go to memory (tmpfs) when there is one: on ext4, a folder emptied by the previous
# run makes creating files slower run after run (the allocator skips recently deleted
# inodes), which measured the file system, not the tools (sys time 0.4 s -> 1.6 s over four
# 2,000-page runs). BENCH_TMP picks another place.
BENCH_TMP=${BENCH_TMP:-$( [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)}
WORK=$(mktemp -d "$BENCH_TMP/dragnet-bench.XXXXXX")
SITE_PID=""

cleanup() {
    [ -n "$SITE_PID" ] && kill "$SITE_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 for $1" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 \
        || { echo "cannot install $2; $1 rows will be missing" >&2; return 1; }
}

build_release() {
    (cd "$ROOT" && cargo build --release --locked -p dragnet-cli -p dragnet-testsite >&2)
}

# start_site ARGS...: starts dragnet-testsite serve ARGS, sets BASE_URL and START_URL.
start_site() {
    stop_site
    "$BIN/dragnet-testsite" serve "$@" >"$WORK/site.out" 2>"$WORK/site.err" &
    SITE_PID=$!
    for _ in $(seq 1 200); do
        [ "$(wc -l <"$WORK/site.out")" -ge 2 ] && break
        sleep 0.05
    done
    BASE_URL=$(sed -n 1p "$WORK/site.out")
    START_URL=$(sed -n 2p "$WORK/site.out")
    [ -n "$START_URL" ] || { echo "test site did not start: $(cat "$WORK/site.err")" >&2; exit 1; }
}

stop_site() {
    if [ -n "$SITE_PID" ]; then
        kill "$SITE_PID" 2>/dev/null || true
        wait "$SITE_PID" 2>/dev/null || true
        SITE_PID=""
    fi
}

# measure OUTDIR COMMAND...: runs the command with OUTDIR emptied first; prints
# "wall cpu rss_mb files" where files counts what landed in OUTDIR (pages.jsonl excluded).
measure() {
    local out=$1
    shift
    rm -rf "$out" && mkdir -p "$out"
    if ! /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/cmd.err"; then
        echo "command failed: $* ($(tail -n 3 "$WORK/cmd.err"))" >&2
    fi
    local files
    files=$(find "$out" -type f ! -name pages.jsonl | wc -l)
    awk -v files="$files" '{ printf "%.3f %.2f %.1f %d\n", $1, $2 + $3, $4 / 1024, files }' "$WORK/time"
}

# repeat RUNS OUTDIR COMMAND...: median wall, median CPU, max RSS, min files over RUNS runs.
repeat() {
    local runs=$1
    shift
    for _ in $(seq 1 "$runs"); do measure "$@"; done | sort -n | awk '
        { wall[NR] = $1; cpu[NR] = $2; if ($3 > rss) rss = $3; if (NR == 1 || $4 < files) files = $4 }
        END {
            n = asort(cpu, c)
            printf "%.2f %.2f %.0f %d\n", wall[int((NR + 1) / 2)], c[int((n + 1) / 2)], rss, files
        }'
}
