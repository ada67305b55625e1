#!/usr/bin/env bash
# Memory and throughput over a long crawl: a PAGES-page synthetic web site on loopback, crawled
# to the end with the on-disk job frontier and with the in-memory one, sampling RSS and pages
# done every few seconds.
#
#   bench/scale.sh                 # 1,000,000 pages
#   PAGES=200000 bench/scale.sh
#
# Prints the samples and, per backend: peak RSS, and pages/s over the first and the last 10%
# of the pages (the issue's "first and last 100,000" at one million).
source "$(dirname "$0")/lib.sh"
PAGES=${PAGES:-1000000}
EVERY=${EVERY:-5}
build_release
start_site --profile web --pages "$PAGES" --hosts 1 --links 6 --page-bytes 2000

# crawl_sampled LABEL EXTRA-ARGS...
crawl_sampled() {
    local label=$1
    shift
    local log="$WORK/$label.jsonl"
    rm -f "$log"
    "$BIN/dragnet" crawl "$START_URL" --depth 1000000 --allow-private -q --robots ignore \
        --concurrency 64 --pages-log "$log" "$@" 2>"$WORK/$label.err" &
    local pid=$! start
    start=$(date +%s.%N)
    : >"$WORK/$label.samples"
    while kill -0 "$pid" 2>/dev/null; do
        sleep "$EVERY"
        local rss done now
        rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null || echo 0)
        done=$(wc -l <"$log" 2>/dev/null || echo 0)
        now=$(date +%s.%N)
        echo "$(awk -v a="$now" -v b="$start" 'BEGIN { printf "%.0f", a - b }') $done $rss" >>"$WORK/$label.samples"
    done
    wait "$pid" || echo "$label: dragnet failed: $(tail -n 3 "$WORK/$label.err")" >&2
    echo
    echo "### $label ($PAGES pages, a sample every ${EVERY} s)"
    echo
    echo "| t s | pages done | pages/s since last | RSS MB |"
    echo "|---|---|---|---|"
    awk 'NR > 1 { printf "| %d | %d | %.0f | %d |\n", $1, $2, ($2 - p) / ($1 - t), $3 } { t = $1; p = $2 }
         NR == 1 { printf "| %d | %d | %.0f | %d |\n", $1, $2, $2 / $1, $3 }' "$WORK/$label.samples"
    # Rates from the pages log's own timestamps: the first and the last tenth of the pages.
    python3 - "$log" "$label" "$(sort -n -k3 "$WORK/$label.samples" | tail -n 1 | awk '{ print $3 }')" <<'PY'
import datetime, json, sys
path, label, rss = sys.argv[1], sys.argv[2], sys.argv[3]
times = sorted(datetime.datetime.fromisoformat(json.loads(l)["fetched_at"].replace("Z", "+00:00")).timestamp()
               for l in open(path))
tenth = len(times) // 10
first = tenth / max(times[tenth] - times[0], 1e-9)
last = tenth / max(times[-1] - times[-1 - tenth], 1e-9)
print(f"\n{label}: {len(times)} pages; peak RSS {rss} MB; {first:.0f} pages/s over the first 10%, "
      f"{last:.0f} over the last 10% ({100 * last / first:.0f}% of the first)")
PY
}

crawl_sampled job --job "$WORK/job"
crawl_sampled memory
