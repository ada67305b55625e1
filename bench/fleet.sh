#!/usr/bin/env bash
# Scaling out: 1, 2 and 4 workers sharing one Redis frontier crawl the same latency-bound,
# multi-host synthetic site (latency-bound so that this machine's 2 cores are not the limit).
#
#   bench/fleet.sh                         # Redis at 127.0.0.1:6379 (REDIS_URL to change)
#   PAGES=1000 WORKERS="1 2" bench/fleet.sh
#
# Each worker runs with a fixed --concurrency, so the ideal is linear: N workers, N times the
# pages/s. Prints wall time, pages/s, pages/s per worker, and Redis commands per page (from
# INFO's total_commands_processed, heartbeats included). Each run uses its own job name and
# deletes its keys afterwards.
source "$(dirname "$0")/lib.sh"
PAGES=${PAGES:-2000}
WORKERS=${WORKERS:-"1 2 4"}
PER_WORKER=${PER_WORKER:-8}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
need redis-cli redis-tools
redis_host=$(echo "$REDIS_URL" | sed -E 's#redis://([^:/]+).*#\1#')
redis_port=$(echo "$REDIS_URL" | sed -E 's#redis://[^:]+:([0-9]+).*#\1#')
rcli() { redis-cli -h "$redis_host" -p "$redis_port" "$@"; }
rcli ping >/dev/null || { echo "no Redis at $REDIS_URL" >&2; exit 1; }
build_release
start_site --profile web --pages "$PAGES" --hosts 20 --links 8 --page-bytes 4000 --latency-ms 200 --jitter-ms 20

echo
echo "### $PAGES pages on 20 hosts, 200 ± 20 ms latency, $PER_WORKER requests in flight per worker"
echo
echo "| workers | wall s | pages/s | pages/s per worker | vs 1 worker | Redis commands per page |"
echo "|---|---|---|---|---|---|"
base=""
for n in $WORKERS; do
    job="bench-$$-$n"
    commands_before=$(rcli info stats | awk -F: '/total_commands_processed/ { print $2 + 0 }')
    start=$(date +%s.%N)
    pids=()
    for i in $(seq 1 "$n"); do
        out="$WORK/w$n-$i"
        if [ "$i" = 1 ]; then
            "$BIN/dragnet" crawl "$START_URL" --frontier "$REDIS_URL" --job "$job" --depth 100000 --scope any \
                --allow-private -q --robots ignore --concurrency "$PER_WORKER" --per-host 4 --out "$out" &
            sleep 0.3
        else
            "$BIN/dragnet" worker --frontier "$REDIS_URL" --job "$job" -q --out "$out" &
        fi
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || echo "a worker failed" >&2; done
    end=$(date +%s.%N)
    commands_after=$(rcli info stats | awk -F: '/total_commands_processed/ { print $2 + 0 }')
    done_pages=$(cat "$WORK"/w"$n"-*/pages*.jsonl | awk -F'"url":"' '{ split($2, a, "\""); print a[1] }' | sort -u | wc -l)
    rcli --scan --pattern "dragnet:{$job}:*" | xargs -r -n 500 redis-cli -h "$redis_host" -p "$redis_port" unlink >/dev/null
    awk -v n="$n" -v s="$start" -v e="$end" -v p="$done_pages" -v c="$((commands_after - commands_before))" -v base="$base" '
        BEGIN {
            w = e - s; r = p / w
            printf "| %d | %.2f | %.0f | %.0f | %s | %.1f |\n", n, w, r, r / n, (base == "" ? "1.00x" : sprintf("%.2fx", r / base)), c / p
        }'
    [ -z "$base" ] && base=$(awk -v s="$start" -v e="$end" -v p="$done_pages" 'BEGIN { print p / (e - s) }')
done
