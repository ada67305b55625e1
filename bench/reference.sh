#!/usr/bin/env bash
# The reference job, timed: dragnet at several fixed concurrencies against curl --parallel and
# wget2 --max-threads as floors, on the local countries site, with ~100 ms latency and with none.
#
#   bench/reference.sh            # 3 runs per row
#   RUNS=5 LEVELS="16 32" bench/reference.sh
#
# Prints a markdown table per latency profile. Rows:
#   dragnet crawl  the whole job: list page, select 233 links, fetch and save them (2 round trips)
#   dragnet fetch  the 233 country URLs only (1 round trip), the same work curl and wget2 do
#   curl, wget2    the 233 country URLs, same concurrency (not for the level "auto", which is
#                  dragnet's default: --concurrency auto)
# "vs ideal" divides the median wall time by the ideal for that job: the round trips it needs
# at the mean latency plus the transfer and processing time measured at zero latency (the best
# dragnet run of the same job; so at zero latency the best dragnet row is 1.00x by definition).
# Server and client share this machine's cores.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
LEVELS=${LEVELS:-"1 4 16 32 64 128 256 auto"}
need wget2 wget2 || true
need curl curl || true
build_release

selector='td .flagicon + a'

# run_profile LABEL LATENCY_MS JITTER_MS
run_profile() {
    local label=$1 latency=$2 jitter=$3
    LATENCY=$latency
    start_site --profile countries --latency-ms "$latency" --jitter-ms "$jitter"
    "$BIN/dragnet" links "$START_URL" --select "$selector" --allow-private >"$WORK/urls.txt"
    local n
    n=$(wc -l <"$WORK/urls.txt")
    : >"$WORK/curl.cfg"
    local i=0
    while read -r url; do
        i=$((i + 1))
        printf 'url = "%s"\noutput = "%s/%d.html"\n' "$url" "$WORK/out" "$i" >>"$WORK/curl.cfg"
    done <"$WORK/urls.txt"

    echo
    echo "### $label ($n country URLs, $RUNS runs per row, median wall / median CPU / max RSS)"
    echo
    echo "| tool | in flight | wall s | CPU s | peak RSS MB | pages | pages/s | vs ideal |"
    echo "|---|---|---|---|---|---|---|---|"
    for level in $LEVELS; do
        local flags=(--concurrency "$level")
        [ "$level" = 1 ] && flags=(--sequential)
        row "dragnet crawl" "$level" "$((n + 1))" "$BIN/dragnet" crawl "$START_URL" --follow "$selector" --depth 1 \
            --out "$WORK/out" -q --allow-private "${flags[@]}"
        row "dragnet fetch" "$level" "$n" "$BIN/dragnet" fetch --input "$WORK/urls.txt" --out "$WORK/out" -q \
            --allow-private "${flags[@]}"
        [ "$level" = auto ] && continue
        if command -v curl >/dev/null; then
            if [ "$level" = 1 ]; then
                row "curl" 1 "$n" curl -s -K "$WORK/curl.cfg"
            else
                row "curl --parallel" "$level" "$n" curl -s --parallel --parallel-max "$level" -K "$WORK/curl.cfg"
            fi
        fi
        if command -v wget2 >/dev/null; then
            row "wget2" "$level" "$n" wget2 -q --max-threads "$level" -i "$WORK/urls.txt" -P "$WORK/out" \
                --no-robots --compression=identity
        fi
    done
    [ "$LATENCY" = 0 ] && hash_floor
    stop_site
}

# hash_floor: the CPU no tuning removes. dragnet hashes every body (sha256, for the pages log
# and content dedup); curl and wget2 do not. One pass of openssl's sha256 over the same bodies.
hash_floor() {
    command -v openssl >/dev/null || return 0
    "$BIN/dragnet" fetch --input "$WORK/urls.txt" --out "$WORK/bodies" -q --allow-private
    local cpu
    cpu=$(for _ in $(seq 1 "$RUNS"); do
        /usr/bin/time -f "%U %S" -o "$WORK/time" openssl dgst -sha256 "$WORK"/bodies/*.html >/dev/null
        awk '{ printf "%.3f\n", $1 + $2 }' "$WORK/time"
    done | sort -n | sed -n "$(((RUNS + 1) / 2))p")
    echo
    echo "sha256 of the same $(du -sm "$WORK/bodies" | cut -f1) MB (openssl dgst -sha256, one pass, median of $RUNS): $cpu s CPU"
    rm -rf "$WORK/bodies"
}

# row TOOL LEVEL EXPECTED_PAGES COMMAND...
row() {
    local tool=$1 level=$2 expected=$3
    shift 3
    read -r wall cpu rss files < <(repeat "$RUNS" "$WORK/out" "$@")
    local rate
    rate=$(awk -v p="$files" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? p / w : 0) }')
    local mark=""
    [ "$files" -lt "$expected" ] && mark=" (expected $expected)"
    # The whole job needs two round trips; fetching the list of URLs needs one.
    local trips=1 base=$BEST_FETCH0
    [ "$tool" = "dragnet crawl" ] && trips=2 && base=$BEST_CRAWL0
    local ideal
    ideal=$(awk -v t="$trips" -v l="$LATENCY" -v b="$base" -v w="$wall" \
        'BEGIN { i = t * l / 1000 + b; if (b > 0 && l > 0) printf "%.2fx of %.2f s", w / i, i; else printf "-" }')
    echo "| $tool | $level | $wall | $cpu | $rss | $files$mark | $rate | $ideal |"
    if [ "$LATENCY" = 0 ]; then
        case $tool in
            "dragnet crawl") BEST_CRAWL0=$(awk -v a="$BEST_CRAWL0" -v b="$wall" 'BEGIN { print (a == 0 || b < a) ? b : a }') ;;
            "dragnet fetch") BEST_FETCH0=$(awk -v a="$BEST_FETCH0" -v b="$wall" 'BEGIN { print (a == 0 || b < a) ? b : a }') ;;
        esac
    fi
}

# Zero latency first: its best runs are the transfer-and-processing part of the ideal.
BEST_CRAWL0=0
BEST_FETCH0=0
run_profile "zero latency" 0 0
run_profile "latency 100 ± 30 ms" 100 30
