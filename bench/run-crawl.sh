#!/usr/bin/env bash
# Crawler benchmark: ahttp-crawl vs the same crawl written with aiohttp (bench/aiohttp_crawl.py),
# both crawling the site of tests/crawl/make_site.py (PAGES linked pages plus its extras: a 3 MB
# page, redirects, a 404, a 500) from one nginx on loopback.
#
#   bench/run-crawl.sh [BUILD_DIR]    BUILD_DIR defaults to build/ (as ./quickstart.sh makes it)
#   PAGES=20000    pages of the generated site (the issue's figure)
#   CONC=64        --concurrency and --per-host of ahttp-crawl; the aiohttp connector limit
#   REPEAT=3       runs of each crawler; the table gives medians
#
# nginx runs one worker pinned to CPU 0, each crawler pinned to CPU 1. Both crawl with the same
# rules (robots ignored: aiohttp has no robots.txt support built in; same host; rel=nofollow
# skipped). Each run is measured by a wait4() wrapper: wall time, user+system CPU, peak RSS.
# Ports are ephemeral, files live in a temp dir, every run is bounded by `timeout`, nginx is
# killed by PID on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "${1:-$top/build}" 2>/dev/null && pwd) || {
    echo "run-crawl.sh: no build directory ${1:-$top/build}; run ./quickstart.sh first" >&2
    exit 1
}
pages=${PAGES:-20000}
conc=${CONC:-64}
repeat=${REPEAT:-3}
py=/usr/bin/python3
crawl="$build/apps/.libs/ahttp-crawl"
[ -x "$crawl" ] || crawl="$build/apps/ahttp-crawl"
export LD_LIBRARY_PATH="$build/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-crawl.XXXXXX")
chmod 755 "$tmp"
nginx_pid=""
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

measure() {
    local out=$1
    shift
    taskset -c 1 timeout 300 "$py" "$here/measure.py" "$out" "$@" || true
}

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$py" "$top/tests/crawl/make_site.py" "$tmp" "$port" "$pages" >/dev/null
sed -i 's|access_log .*;|access_log off;|' "$tmp/nginx.conf"
taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp" >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
seed="http://127.0.0.1:$port/"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

row() { # NAME, then the measurement files
    local name=$1
    shift
    local wall cpu rss pages
    wall=$(for m in "$@"; do awk '{ print $1 }' "$m"; done | median)
    cpu=$(for m in "$@"; do awk '{ print $2 }' "$m"; done | median)
    rss=$(for m in "$@"; do awk '{ print $3 }' "$m"; done | median)
    pages=$(cat "$tmp/$name.pages")
    printf '| %-22s | %6s | %8s | %8s | %9.0f | %8s |\n' "$name" "$pages" "$wall" "$cpu" \
        "$(echo "$pages $wall" | awk '{ print $1 / $2 }')" "$((rss / 1024))"
}

echo "crawl of $pages+ pages from nginx on loopback, concurrency $conc, median of $repeat runs"
echo
echo "| crawler                | pages  | wall s   | CPU s    | pages/s   | RSS MiB  |"
echo "|------------------------|--------|----------|----------|-----------|----------|"
ms_a=()
ms_p=()
for i in $(seq "$repeat"); do
    measure "$tmp/a$i" "$crawl" --ignore-robots --same-host -c "$conc" --per-host "$conc" -q \
        -o "$tmp/a.jsonl" "$seed"
    ms_a+=("$tmp/a$i")
    wc -l <"$tmp/a.jsonl" | tr -d ' ' >"$tmp/ahttp-crawl.pages"
    measure "$tmp/p$i" "$py" "$here/aiohttp_crawl.py" --concurrency "$conc" "$seed"
    ms_p+=("$tmp/p$i")
    awk '/^pages/ { print $2 }' "$tmp/p$i.log" >"$tmp/aiohttp_crawl.py.pages"
done
row ahttp-crawl "${ms_a[@]}"
row aiohttp_crawl.py "${ms_p[@]}"
