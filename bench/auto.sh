#!/usr/bin/env bash
# Does --concurrency auto find the sweet spot? For each site profile, the reference job at
# every fixed concurrency and with auto, on the same test-site process, RUNS runs each.
# JOB=web runs a longer job instead: a whole synthetic site of WEB_PAGES (2,000) pages (20 KB,
# 10 links each) on one host, crawled breadth-first to the end; the reference job is over in four round
# trips at the best setting, which is short for any controller that has to find the level.
#
#   bench/auto.sh                    # 3 runs per row
#   JOB=web WEB_PAGES=2000 bench/auto.sh
#   RUNS=1 LEVELS="8 32" PROFILES="latency 429" bench/auto.sh   # profiles: latency 429 capacity tail
#   PROFILES=drawn:12 bench/auto.sh          # 12 drawn rate-limit behaviours, the 5,000-page job
#   PROFILES=drawn SEEDS="3 8 21" bench/auto.sh
#
# drawn:N (or drawn with SEEDS) serves Behaviour::draw(seed) (dragnet-testsite --behaviour-seed:
# a cap, token bucket or fixed window, latency 20-500 ms, 429 or 503, at once or after the
# latency, Retry-After forms, announced limits, mid-crawl changes) for seeds SEEDS (default
# 1..N), runs the long job (JOB=web, WEB_PAGES=5000 unless set) at auto and the sweep, with the
# site restarted before every run (a drawn limit's window and mid-crawl change count from the
# site's start), and ends with one table: auto's time over the best fixed setting's and the
# refusal shares, per seed.
#
# Levels run from the highest down, so the best fixed setting is known early: a level whose
# first run takes over REPEAT_BELOW (1.5) times the best median so far is not run again (one
# run cannot make it the best), and a run still going at STOP_AFTER (3) times the best median
# is stopped and reported as "> N". Without that, 1 request at a time through a 2,000-page
# site at 100 ms takes minutes per run and tells nothing new.
#
# Prints per profile: median wall time, 429s the site sent (median per run) and their share
# of requests, and the peak in flight dragnet reported. Then auto's wall time against the best
# fixed setting of that profile.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
LEVELS=${LEVELS:-"1 2 4 8 16 32 64 128 256"}
need jq jq
build_release
selector='td .flagicon + a'
PROFILES=${PROFILES:-"latency 429 capacity tail"}
DRAWN=""
case "$PROFILES" in
drawn:*) DRAWN=${PROFILES#drawn:} ;;
drawn) DRAWN=12 ;;
esac
if [ -n "$DRAWN" ]; then
    SEEDS=${SEEDS:-$(seq -s ' ' 1 "$DRAWN")}
    JOB=${JOB:-web}
    WEB_PAGES=${WEB_PAGES:-5000}
fi
JOB=${JOB:-reference}
WEB_PAGES=${WEB_PAGES:-2000}
case "$JOB" in
reference)
    site_args=(--profile countries)
    crawl_args=(--follow "$selector" --depth 1)
    expected=234
    ;;
web)
    site_args=(--profile web --pages "$WEB_PAGES" --hosts 1 --links 10 --page-bytes 20000)
    crawl_args=(--depth 1000000 --robots ignore)
    expected=$WEB_PAGES
    ;;
*) echo "JOB is reference or web" >&2 && exit 2 ;;
esac

site_counter() { curl -s "${BASE_URL%/}/__stats.json" | jq -r ".$1"; }

# FRESH=1: restart the site (same port, same arguments) before every run.
FRESH=0
SITE_ARGS=()

# one_run LEVEL [LIMIT]: prints "wall refusals requests peak", or "stopped refusals requests -"
# when the run was still going after LIMIT seconds. Refusals are the 429s and 503s the site sent.
one_run() {
    local level=$1 limit=${2:-0} flags=(--concurrency "$1")
    [ "$level" = 1 ] && flags=(--sequential)
    [ "$FRESH" = 1 ] && start_site "${SITE_ARGS[@]}" --port "$SITE_PORT"
    local before429 beforereq
    before429=$(site_counter 'sent_429 + .sent_503')
    beforereq=$(site_counter requests)
    rm -rf "$WORK/out" "$WORK/summary.json"
    local status=0
    /usr/bin/time -f "%e" -o "$WORK/time" timeout -s KILL "$limit" "$BIN/dragnet" crawl "$START_URL" "${crawl_args[@]}" \
        --out "$WORK/out" -q --allow-private --retries 20 --summary-json "$WORK/summary.json" "${flags[@]}" \
        >/dev/null 2>"$WORK/err" || status=$?
    local n429 requests
    n429=$(($(site_counter 'sent_429 + .sent_503') - before429))
    requests=$(($(site_counter requests) - beforereq))
    if [ "$status" = 137 ]; then
        echo "stopped $n429 $requests -"
        return
    fi
    [ "$status" = 0 ] || echo "run failed: $(tail -n 2 "$WORK/err")" >&2
    local ok
    ok=$(jq -r .pages_ok "$WORK/summary.json")
    [ "$ok" = "$expected" ] || echo "warning: $ok of $expected pages at $level" >&2
    echo "$(cat "$WORK/time") $n429 $requests $(jq -r .peak_in_flight "$WORK/summary.json")"
}

REPEAT_BELOW=${REPEAT_BELOW:-1.5}
STOP_AFTER=${STOP_AFTER:-3}
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
times() { awk -v a="$1" -v k="$2" 'BEGIN { printf "%.1f", a * k }'; }

# profile LABEL SITE-ARGS...
profile() {
    local label=$1
    shift
    SITE_ARGS=("${site_args[@]}" "$@")
    start_site "${SITE_ARGS[@]}"
    SITE_PORT=$(echo "$BASE_URL" | sed -E 's#^http://[^:/]+:([0-9]+).*#\1#')
    local best="" best_level="" level auto_wall=""
    declare -A rows=()
    for level in $(tr ' ' '\n' <<<"$LEVELS" | sort -rn) auto; do
        # auto always runs in full: it is what is being judged.
        local limit=0 runs=$RUNS judged=false
        [ -n "$best" ] && [ "$level" != auto ] && judged=true
        $judged && limit=$(times "$best" "$STOP_AFTER")
        one_run "$level" "$limit" >"$WORK/runs"
        read -r wall _ <"$WORK/runs"
        if [ "$wall" = stopped ]; then
            rows[$level]="| $level | > $limit (stopped) | $(awk '{ print $2 }' "$WORK/runs") | - | - |"
            continue
        fi
        $judged && above "$wall" "$(times "$best" "$REPEAT_BELOW")" && runs=1
        for _ in $(seq 2 "$runs"); do one_run "$level"; done >>"$WORK/runs"
        sort -n "$WORK/runs" -o "$WORK/runs"
        local mid=$(((runs + 1) / 2)) n429 requests peak share
        read -r wall n429 requests peak < <(sed -n "${mid}p" "$WORK/runs")
        share=$(awk -v a="$n429" -v r="$requests" 'BEGIN { printf "%.1f%%", (r > 0 ? 100 * a / r : 0) }')
        local once=""
        [ "$runs" = 1 ] && [ "$RUNS" != 1 ] && once=" (1 run)"
        rows[$level]="| $level | $wall$once | $n429 | $share | $peak |"
        [ "$level" = auto ] && auto_wall=$wall
        if [ "$level" != auto ] && { [ -z "$best" ] || above "$best" "$wall"; }; then
            best=$wall
            best_level=$level
        fi
    done
    echo
    echo "### $label ($JOB job: $expected pages)"
    echo
    echo "| concurrency | wall s (median of $RUNS) | refusals per run | refusal share | peak in flight |"
    echo "|---|---|---|---|---|"
    for level in $(tr ' ' '\n' <<<"$LEVELS" | sort -n) auto; do echo "${rows[$level]}"; done
    awk -v a="$auto_wall" -v b="$best" -v l="$best_level" \
        'BEGIN { printf "\nauto: %.2f s, %.2fx the best fixed setting (%s in flight, %.2f s)\n", a, a / b, l, b }'
    # For the drawn summary: auto's row and the best fixed row, "wall | refusals | share".
    LAST_AUTO=${rows[auto]}
    LAST_BEST="| - | - | - | - | - |"
    [ -n "$best_level" ] && LAST_BEST=${rows[$best_level]}
    LAST_RATIO=$(awk -v a="$auto_wall" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
    LAST_BEST_LEVEL=$best_level
    stop_site
}

# drawn: the summary table over SEEDS.
drawn() {
    FRESH=1
    local seed summary=() what
    for seed in $SEEDS; do
        what=$("$BIN/dragnet-testsite" serve --behaviour-seed "$seed" --print-behaviour |
            jq -r '.[0] | "\(.limit // {kind: "none"} | [.kind, (.max // (if .per_sec then "\(.per_sec)/s" else null end) // .quota // empty), (if .window_ms then "per \(.window_ms) ms" else empty end)] | map(tostring) | join(" ")), \(.latency_ms) ± \(.jitter_ms) ms\(if .tail_share > 0 then ", tail" else "" end)\(if .capacity then ", capacity \(.capacity)" else "" end), \(.status) \(.timing | sub("_"; " ")), Retry-After \(.retry_after | sub("_"; " "))\(if .announce != "none" then ", announced (\(.announce))" else "" end)\(if .change then ", changes at \(.change.at_ms) ms" else "" end)"')
        profile "drawn seed $seed: $what" --behaviour-seed "$seed"
        # rows are "| level | wall | refusals | share | peak |".
        local auto_share best_share
        auto_share=$(awk -F'|' '{ gsub(/ /, "", $5); print $5 }' <<<"$LAST_AUTO")
        best_share=$(awk -F'|' '{ gsub(/ /, "", $5); print $5 }' <<<"$LAST_BEST")
        summary+=("| $seed | $what | $LAST_BEST_LEVEL | ${LAST_RATIO}x | $auto_share | $best_share |")
    done
    echo
    echo "### auto against the best fixed setting on ${#summary[@]} drawn behaviours ($JOB job: $expected pages)"
    echo
    echo "| seed | behaviour | best fixed | auto / best time | auto refusal share | best fixed refusal share |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${summary[@]}"
}

wanted() { [[ " $PROFILES " == *" $1 "* ]]; }
if [ -n "$DRAWN" ]; then
    drawn
    exit 0
fi
wanted latency && profile "latency 100 ± 30 ms, no cap" --latency-ms 100 --jitter-ms 30
wanted 429 && profile "429 above 24 in flight (Retry-After 1 s), latency 100 ± 30 ms" --latency-ms 100 --jitter-ms 30 --cap-429 24
wanted capacity && profile "capacity 8 workers with queueing, latency 100 ± 30 ms" --latency-ms 100 --jitter-ms 30 --capacity 8
wanted tail && profile "heavy tail: 100 ± 30 ms, 5% of requests take 2 s" --latency-ms 100 --jitter-ms 30 --tail-share 0.05 --tail-ms 2000
true
