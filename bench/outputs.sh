#!/usr/bin/env bash
# What each output costs: the reference job at zero latency (so the cost shows) with pages
# only, plus a WARC archive (gzip), plus items (CSV), and with everything at once.
#
#   bench/outputs.sh              # 3 runs per row, --concurrency 32
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
build_release
start_site --profile countries
selector='td .flagicon + a'
items=(--item 'table.wikitable tr:has(.flagicon)' --extract 'name=td .flagicon + a'
    --extract 'link=td .flagicon + a@href' --extract 'population=td:nth-child(2)')

row() {
    local label=$1
    shift
    read -r wall cpu rss files < <(repeat "$RUNS" "$WORK/out" "$BIN/dragnet" crawl "$START_URL" --follow "$selector" \
        --depth 1 --out "$WORK/out" -q --allow-private --concurrency 32 "$@")
    echo "| $label | $wall | $cpu | $rss | $files |"
}

echo
echo "### Reference job at zero latency, 32 in flight ($RUNS runs, median wall / median CPU / max RSS)"
echo
echo "| outputs | wall s | CPU s | peak RSS MB | files in --out |"
echo "|---|---|---|---|---|"
row "pages + pages log"
row "+ WARC (.warc.gz)" --warc "$WORK/out/crawl.warc.gz"
row "+ items (CSV)" "${items[@]}" --items "$WORK/out/items.csv"
row "+ WARC + items" --warc "$WORK/out/crawl.warc.gz" "${items[@]}" --items "$WORK/out/items.csv"
