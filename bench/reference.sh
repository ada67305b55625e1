#!/usr/bin/env bash
# The reference job, timed: dragnet at several fixed concurrencies against curl --parallel and
# wget2 --max-threads as floors, on the local countries site, with ~100 ms latency and with none.
#
#   bench/reference.sh            # 3 runs per row
#   RUNS=5 LEVELS="16 32" bench/reference.sh
#
# Prints a markdown table per latency profile ("site CPU" is what the test site spent serving
# each run, on the same cores). Rows:
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
    SITE_ARGS=(--profile countries --latency-ms "$latency" --jitter-ms "$jitter")
    start_site "${SITE_ARGS[@]}"
    SITE_PORT=$(echo "$BASE_URL" | sed -E 's#^http://[^:/]+:([0-9]+).*#\1#')
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
    echo "### $label ($n country URLs, $RUNS runs per row, median wall / median CPU / max RSS; site CPU per run)"
    echo
    echo "| tool | in flight | wall s | CPU s | site CPU s | peak RSS MB | pages | pages/s | vs ideal |"
    echo "|---|---|---|---|---|---|---|---|---|"
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
# and content dedup); curl and wget2 do not. The hash's cost is the bodies' size at openssl's
# sha256 speed on this CPU (in memory, as dragnet hashes). With it, the least wall time any
# tool doing curl's work plus that hash could take here: all of that CPU, with the test
# site's share of the same run, spread perfectly over the cores.
hash_floor() {
    command -v openssl >/dev/null || return 0
    "$BIN/dragnet" fetch --input "$WORK/urls.txt" --out "$WORK/bodies" -q --allow-private
    local bytes rate hash
    bytes=$(find "$WORK/bodies" -type f -name '*.html' -printf '%s\n' | awk '{ s += $1 } END { print s }')
    rm -rf "$WORK/bodies"
    # "sha256  1923809.28k": bytes per second, in thousands, for 16 KB blocks.
    rate=$(openssl speed -evp sha256 -bytes 16384 -seconds 1 2>/dev/null | awk '/^sha256/ { sub("k", "", $2); print $2 * 1000 }')
    [ -n "$rate" ] || return 0
    hash=$(awk -v b="$bytes" -v r="$rate" 'BEGIN { printf "%.3f", b / r }')
    echo
    echo "sha256 of the same $(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB at openssl's speed here ($(awk -v r="$rate" 'BEGIN { printf "%.2f", r / 1e9 }') GB/s): $hash s CPU"
    if [ -n "$CURL_WORK0" ]; then
        awk -v w="$CURL_WORK0" -v h="$hash" -v n="$(nproc)" -v c="$CURL_WALL0" 'BEGIN {
            printf "Least wall time for curl'"'"'s work plus that hash on %d cores: (%.3f + %.3f) / %d = %.3f s (curl'"'"'s best: %.3f s)\n", n, w, h, n, (w + h) / n, c }'
    fi
}

# fresh_site: the same site restarted on the same port, every page generated before timing.
# The site draws each request's jitter from the path and how often that path was asked for
# before, so a long-lived site gives every run new draws: over 233 sequential requests at
# +-30 ms their sum varies by about +-0.26 s, more than the tools differ. Restarted before each
# row, run k of every tool waits out the same delays, and rows compare like with like.
fresh_site() {
    start_site "${SITE_ARGS[@]}" --port "$SITE_PORT"
    curl -s -o /dev/null "${BASE_URL%/}/__manifest.json" 2>/dev/null || true
}

# row TOOL LEVEL EXPECTED_PAGES COMMAND...
row() {
    local tool=$1 level=$2 expected=$3
    shift 3
    [ "$LATENCY" = 0 ] || fresh_site
    local site_before site_cpu
    site_before=$(site_ticks)
    read -r wall cpu rss files < <(repeat "$RUNS" "$WORK/out" "$@")
    site_cpu=$(awk -v a="$site_before" -v b="$(site_ticks)" -v hz="$(getconf CLK_TCK)" -v n="$RUNS" \
        'BEGIN { printf "%.3f", (b - a) / hz / n }')
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
    echo "| $tool | $level | $wall | $cpu | $(printf %.2f "$site_cpu") | $rss | $files$mark | $rate | $ideal |"
    if [ "$LATENCY" = 0 ]; then
        case $tool in
            curl*)
                local work
                work=$(awk -v c="$cpu" -v s="$site_cpu" 'BEGIN { printf "%.3f", c + s }')
                CURL_WORK0=$(awk -v a="$CURL_WORK0" -v b="$work" 'BEGIN { print (a == "" || b < a) ? b : a }')
                CURL_WALL0=$(awk -v a="$CURL_WALL0" -v b="$wall" 'BEGIN { print (a == "" || b < a) ? b : a }')
                ;;
            "dragnet crawl") BEST_CRAWL0=$(awk -v a="$BEST_CRAWL0" -v b="$wall" 'BEGIN { print (a == 0 || b < a) ? b : a }') ;;
            "dragnet fetch") BEST_FETCH0=$(awk -v a="$BEST_FETCH0" -v b="$wall" 'BEGIN { print (a == 0 || b < a) ? b : a }') ;;
        esac
    fi
}

# Zero latency first: its best runs are the transfer-and-processing part of the ideal.
BEST_CRAWL0=0
BEST_FETCH0=0
CURL_WORK0=""
CURL_WALL0=""
run_profile "zero latency" 0 0
run_profile "latency 100 ± 30 ms" 100 30
