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

# site_ticks: CPU the test site has used so far (user + system, in clock ticks), so a row can
# show what each tool cost the server on the same cores.
site_ticks() {
    [ -n "$SITE_PID" ] && [ -r "/proc/$SITE_PID/stat" ] || { echo 0; return; }
    # Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
    sed 's/.*) //' "/proc/$SITE_PID/stat" | awk '{ print $12 + $13 }'
}

# timed FILE COMMAND...: runs the command (stdout dropped, stderr to $WORK/cmd.err) and writes
# "wall user sys max_rss_kb" to FILE (seconds); returns the command's status. GNU time prints
# hundredths of a second, too coarse for jobs that take 0.04 s, so where there is a python3 it
# takes the wall clock and wait4's CPU times (microseconds) around GNU time, which still gives
# the peak RSS: measured from python's own child, that would include python's image, which
# the child holds until it execs.
timed() {
    local file=$1
    shift
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import os, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", out + ".rss"] + cmd, stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
child.returncode = os.waitstatus_to_exitcode(status)
with open(out + ".rss") as f:
    rss = f.read().split()[-1]
with open(out, "w") as f:
    f.write(f"{wall:.4f} {usage.ru_utime:.4f} {usage.ru_stime:.4f} {rss}\n")
sys.exit(child.returncode)
' "$file" "$@" >/dev/null 2>"$WORK/cmd.err"
    else
        /usr/bin/time -f "%e %U %S %M" -o "$file" "$@" >/dev/null 2>"$WORK/cmd.err"
    fi
}

# measure OUTDIR COMMAND...: runs the command with OUTDIR emptied first; prints
# "wall cpu rss_mb files" where files counts what landed in OUTDIR (pages.jsonl excluded).
measure() {
    local out=$1
    shift
    rm -rf "$out" && mkdir -p "$out"
    if ! timed "$WORK/time" "$@"; then
        echo "command failed: $* ($(tail -n 3 "$WORK/cmd.err"))" >&2
    fi
    local files
    files=$(find "$out" -type f ! -name pages.jsonl | wc -l)
    awk -v files="$files" '{ printf "%.3f %.3f %.1f %d\n", $1, $2 + $3, $4 / 1024, files }' "$WORK/time"
}

# repeat RUNS OUTDIR COMMAND...: median wall, median CPU, max RSS, min files over RUNS runs.
repeat() {
    local runs=$1
    shift
    for _ in $(seq 1 "$runs"); do measure "$@"; done | sort -n | awk '
        { wall[NR] = $1; cpu[NR] = $2; if ($3 > rss) rss = $3; if (NR == 1 || $4 < files) files = $4 }
        END {
            n = asort(cpu, c)
            printf "%.3f %.3f %.0f %d\n", wall[int((NR + 1) / 2)], c[int((n + 1) / 2)], rss, files
        }'
}
