#!/usr/bin/env bash
# dragnet against its peers on rate-limited sites: the reference job (the list page and its 233
# country pages, 234 pages) on four test-site profiles, every tool in the same run.
#
#   bench/peers.sh                                   # 3 runs per row
#   RUNS=1 PROFILES="a d" TOOLS="dragnet curl" bench/peers.sh
#
# Profiles (the three rate-limited ones answer a refusal after the usual latency, as the
# application servers of issue 15's harness do):
#   a  429 above 24 in flight, Retry-After 1, 100 ms
#   b  token bucket of 60 requests/s (burst 60), Retry-After 2, 80 ± 20 ms
#   c  429 above 12 in flight, Retry-After 1, 150 ± 60 ms
#   d  plain 100 ± 30 ms
# Tools, each at LEVELS (16 32) in flight, retries on, outputs on tmpfs:
#   dragnet  `dragnet crawl` (the whole job, 2 round trips), at --concurrency auto and each level
#   wget2    the 234 URLs, --max-threads N, 429/503 retried (it cannot read Retry-After, so
#            --waitretry is set to the profile's Retry-After)
#   curl     the 234 URLs, --parallel --parallel-max N, --retry 20 (honours Retry-After)
#   scrapy   a spider doing the whole job (list page, then its links), CONCURRENT_REQUESTS N,
#            RETRY_TIMES 20 with 429 and 503 (Scrapy ignores Retry-After); pip-installed,
#            pinned, into a venv under PEERS_DIR on first use
#   crawlee  the same spider with CheerioCrawler at min = max concurrency N, 20 retries
#            (npm, pinned, under PEERS_DIR; left out with a note when it does not install)
# The site is restarted before every run, so each run meets a full bucket and the same draws.
# Per row, median of RUNS: wall, CPU (user + sys), the largest peak RSS, pages correct (saved
# bodies whose sha256 is in the site's manifest, of 234, the worst run), refusals (429s and
# 503s the site sent, median) out of the requests it received (median), and the most requests
# open at one arrival once the first refusal had been answered (the site's peak_after_refusal,
# worst run; "-" when nothing was refused): a tool that honours a cap of K shows at most K + 1.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
LEVELS=${LEVELS:-"16 32"}
PROFILES=${PROFILES:-"a b c d"}
TOOLS=${TOOLS:-"dragnet wget2 curl scrapy crawlee"}
PEERS_DIR=${PEERS_DIR:-$ROOT/target/bench-peers}
SCRAPY_VERSION=2.13.3
TWISTED_VERSION=24.11.0
CRAWLEE_VERSION=3.13.10
selector='td .flagicon + a'
need jq jq
need curl curl || true
need wget2 wget2 || true
build_release
mkdir -p "$PEERS_DIR"
NOTES=()

wanted_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

setup_scrapy() {
    local have
    have=$("$PEERS_DIR/venv/bin/python" -c 'import scrapy, twisted; print(scrapy.__version__, twisted.__version__)' 2>/dev/null) || true
    [ "$have" = "$SCRAPY_VERSION $TWISTED_VERSION" ] && return 0
    echo "installing scrapy==$SCRAPY_VERSION into $PEERS_DIR/venv" >&2
    { [ -x "$PEERS_DIR/venv/bin/pip" ] || python3 -m venv "$PEERS_DIR/venv"; } >&2 || return 1
    # Twisted 25 dropped a private function Scrapy 2.13 imports: pinned below it.
    "$PEERS_DIR/venv/bin/pip" install -q "scrapy==$SCRAPY_VERSION" "twisted==$TWISTED_VERSION" >&2
}

setup_crawlee() {
    [ -d "$PEERS_DIR/node/node_modules/crawlee" ] && return 0
    command -v npm >/dev/null || return 1
    echo "installing crawlee@$CRAWLEE_VERSION into $PEERS_DIR/node" >&2
    mkdir -p "$PEERS_DIR/node"
    (cd "$PEERS_DIR/node" && timeout 900 npm install --silent --no-audit --no-fund "crawlee@$CRAWLEE_VERSION") >&2
}

if wanted_tool scrapy && ! setup_scrapy; then
    NOTES+=("scrapy did not install; its rows are missing")
    TOOLS=${TOOLS/scrapy/}
fi
if wanted_tool crawlee && ! setup_crawlee; then
    NOTES+=("crawlee did not install (npm); its rows are missing")
    TOOLS=${TOOLS/crawlee/}
fi
for tool in wget2 curl; do
    if wanted_tool $tool && ! command -v $tool >/dev/null; then
        NOTES+=("$tool is not installed; its rows are missing")
        TOOLS=${TOOLS/$tool/}
    fi
done

# wget2 retries a 429 or 503 only when it is listed in --retry-on-http-error, which older
# releases (Debian 12's 1.99.1) do not have: there it gives the page up.
WGET2_RETRY=()
if wanted_tool wget2; then
    if wget2 --help 2>&1 | grep -q retry-on-http-error; then
        WGET2_RETRY=(--retry-on-http-error=429,503)
    else
        NOTES+=("wget2 $(wget2 --version | awk 'NR == 1 { print $3 }') has no --retry-on-http-error: a refused page is given up, not retried")
    fi
fi

cat >"$WORK/spider.py" <<'EOF'
# The reference job as a Scrapy spider: the list page, then every `td .flagicon + a` link.
import hashlib, os, sys
import scrapy
from scrapy.crawler import CrawlerProcess

start, out, level = sys.argv[1], sys.argv[2], int(sys.argv[3])

def save(response):
    name = hashlib.sha1(response.url.encode()).hexdigest() + ".html"
    with open(os.path.join(out, name), "wb") as f:
        f.write(response.body)

class Reference(scrapy.Spider):
    name = "reference"
    start_urls = [start]

    def parse(self, response):
        save(response)
        for href in response.css("td .flagicon + a::attr(href)").getall():
            yield response.follow(href, self.page)

    def page(self, response):
        save(response)

process = CrawlerProcess(settings={
    "CONCURRENT_REQUESTS": level,
    "CONCURRENT_REQUESTS_PER_DOMAIN": level,
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 20,
    "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 408],
    "ROBOTSTXT_OBEY": False,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "ERROR",
})
process.crawl(Reference)
process.start()
EOF

# An ES module finds its imports from its own folder (NODE_PATH is for require), so the
# script lives beside Crawlee's node_modules.
CRAWLEE_SCRIPT="$PEERS_DIR/node/reference.mjs"
wanted_tool crawlee && cat >"$CRAWLEE_SCRIPT" <<'EOF'
// The reference job with Crawlee's CheerioCrawler at a fixed concurrency.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheerioCrawler, Configuration } from 'crawlee';

const [start, out, level] = [process.argv[2], process.argv[3], Number(process.argv[4])];
Configuration.getGlobalConfig().set('persistStorage', false);
const crawler = new CheerioCrawler({
    minConcurrency: level,
    maxConcurrency: level,
    maxRequestRetries: 20,
    async requestHandler({ request, body, enqueueLinks }) {
        const name = createHash('sha1').update(request.url).digest('hex') + '.html';
        writeFileSync(join(out, name), body);
        if (request.label !== 'PAGE') {
            await enqueueLinks({ selector: 'td .flagicon + a', label: 'PAGE' });
        }
    },
});
await crawler.run([start]);
EOF

# site_stat FIELD: a counter of the running site.
site_stat() { curl -s "${BASE_URL%/}/__stats.json" | jq -r ".$1"; }

# correct OUTDIR: how many manifest pages have their exact body among the saved files.
correct() {
    find "$1" -type f ! -name pages.jsonl -print0 | xargs -0 -r sha256sum | awk '{ print $1 }' | sort -u >"$WORK/got"
    comm -12 "$WORK/got" "$WORK/want" | wc -l
}

# one_run OUT COMMAND...: a fresh site, the command timed; prints
# "wall cpu rss_mb correct refusals requests peak_after_first_refusal".
one_run() {
    local out=$1
    shift
    start_site "${SITE_ARGS[@]}" --port "$SITE_PORT"
    read -r wall cpu rss _ < <(measure "$out" "$@")
    echo "$wall $cpu $rss $(correct "$out") $(site_stat 'sent_429 + .sent_503') $(site_stat requests) \
        $(site_stat 'per_host[0].peak_after_refusal')"
}

# row PROFILE TOOL LEVEL COMMAND...: RUNS runs, one table row.
row() {
    local label=$1 tool=$2 level=$3
    shift 3
    for _ in $(seq 1 "$RUNS"); do one_run "$WORK/out" "$@"; done >"$WORK/runs"
    awk -v label="$label" -v tool="$tool" -v level="$level" '
        { w[NR] = $1; c[NR] = $2; if ($3 > rss) rss = $3; if (NR == 1 || $4 < ok) ok = $4; r[NR] = $5; q[NR] = $6; if ($7 > after) after = $7 }
        END {
            m = int((NR + 1) / 2)
            asort(w); asort(c); asort(r); asort(q)
            share = q[m] > 0 ? 100 * r[m] / q[m] : 0
            printf "| %s | %s | %s | %.2f | %.2f | %.0f | %d/234 | %d of %d (%.1f%%) | %s |\n", label, tool, level, w[m], c[m], rss, ok, r[m], q[m], share, (after > 0 ? after : "-")
        }' "$WORK/runs"
}

# profile LABEL RETRY_AFTER SITE-ARGS...
profile() {
    local label=$1 retry_after=$2
    shift 2
    SITE_ARGS=(--profile countries "$@")
    start_site "${SITE_ARGS[@]}"
    SITE_PORT=$(echo "$BASE_URL" | sed -E 's#^http://[^:/]+:([0-9]+).*#\1#')
    curl -s "${BASE_URL%/}/__manifest.json" | jq -r '.pages[].sha256' | sort -u >"$WORK/want"
    "$BIN/dragnet" links "$START_URL" --select "$selector" --allow-private >"$WORK/urls.txt"
    echo "$START_URL" >>"$WORK/urls.txt"
    : >"$WORK/curl.cfg"
    local i=0 url level
    while read -r url; do
        i=$((i + 1))
        printf 'url = "%s"\noutput = "%s/%d.html"\n' "$url" "$WORK/out" "$i" >>"$WORK/curl.cfg"
    done <"$WORK/urls.txt"
    if wanted_tool dragnet; then
        row "$label" dragnet auto "$BIN/dragnet" crawl "$START_URL" --follow "$selector" --depth 1 \
            --out "$WORK/out" -q --allow-private --retries 20
    fi
    for level in $LEVELS; do
        wanted_tool dragnet && row "$label" dragnet "$level" "$BIN/dragnet" crawl "$START_URL" --follow "$selector" \
            --depth 1 --out "$WORK/out" -q --allow-private --retries 20 --concurrency "$level"
        wanted_tool wget2 && row "$label" wget2 "$level" wget2 -q --max-threads "$level" -i "$WORK/urls.txt" \
            -P "$WORK/out" --no-robots --compression=identity --tries 21 "${WGET2_RETRY[@]}" \
            --waitretry "$retry_after"
        wanted_tool curl && row "$label" "curl --parallel" "$level" curl -s --parallel --parallel-max "$level" \
            --retry 20 -K "$WORK/curl.cfg"
        wanted_tool scrapy && row "$label" scrapy "$level" "$PEERS_DIR/venv/bin/python" "$WORK/spider.py" \
            "$START_URL" "$WORK/out" "$level"
        wanted_tool crawlee && row "$label" crawlee "$level" env CRAWLEE_STORAGE_DIR="$WORK/crawlee" \
            node "$CRAWLEE_SCRIPT" "$START_URL" "$WORK/out" "$level"
    done
    stop_site
}

echo
echo "### The reference job (234 pages) under rate limits: median of $RUNS runs"
echo
echo "| site | tool | in flight | wall s | CPU s | peak RSS MB | pages correct | refusals of requests | open after 1st refusal |"
echo "|---|---|---|---|---|---|---|---|---|"
wanted() { [[ " $PROFILES " == *" $1 "* ]]; }
wanted a && profile "(a) 429 above 24, RA 1, 100 ms" 1 \
    --latency-ms 100 --cap-429 24 --retry-after 1 --refuse-after-latency
wanted b && profile "(b) bucket 60/s, RA 2, 80 ± 20 ms" 2 \
    --latency-ms 80 --jitter-ms 20 --bucket 60/s --burst 60 --retry-after 2 --refuse-after-latency
wanted c && profile "(c) 429 above 12, RA 1, 150 ± 60 ms" 1 \
    --latency-ms 150 --jitter-ms 60 --cap-429 12 --retry-after 1 --refuse-after-latency
wanted d && profile "(d) plain 100 ± 30 ms" 1 --latency-ms 100 --jitter-ms 30
echo
echo "dragnet crawls (2 round trips: the list page, then its links); scrapy and crawlee too;"
echo "wget2 and curl fetch the 234 URLs in one. Machine: $(nproc) cores shared by site and tool."
for note in "${NOTES[@]}"; do echo "Note: $note"; done
true
