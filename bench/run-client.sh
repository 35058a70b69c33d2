#!/usr/bin/env bash
# Client benchmark: ahttp's client (ahttp-bench, ahttp-fetch) against h2load, wrk, curl and
# aiohttp, all fetching from one nginx on loopback.
#
#   bench/run-client.sh [BUILD_DIR]      BUILD_DIR defaults to build/ (as ./quickstart.sh makes it)
#   REPEAT=5       runs of each load row (a); the tables give medians
#   REPEAT_FETCH=3 runs of each fetch row (b) and (c)
#   DURATION=3     seconds of each duration run (wrk, and ahttp-bench -d beside it)
#   BIG_MIB=1024   size of the download in (c); 256 when /tmp has less than 3 GiB free
#
# nginx runs one worker pinned to CPU 0; every client runs pinned to CPU 1 (taskset).
#  (a) 20,000 small requests, 64 connections, to `return 200 "Hello, World!"`:
#      ahttp-bench -n vs h2load --h1 -n, and ahttp-bench -d vs wrk -t1 -d (wrk has no fixed
#      count): req/s and the client's CPU time per request.
#  (b) the same 20,000 requests as 20,000 distinct URLs (/hello?i=N), 64 at a time:
#      ahttp-fetch -Z --parallel-max 64 -s (-o /dev/null per URL) vs curl -Z --parallel-max 64
#      -s -K (a config with url = / output = /dev/null per URL; --no-progress-meter too, as curl
#      7.88 draws its -Z meter despite -s) vs bench/aiohttp_fetch.py
#      (ClientSession, TCPConnector(limit=64)): wall time, CPU time, peak RSS.
#  (c) one large file (fallocate'd in the temp dir, nginx sendfile on), over HTTP and HTTPS
#      (TLS 1.2/1.3): ahttp-fetch -o /dev/null vs curl -o /dev/null vs aiohttp_fetch.py --stream:
#      MB/s, CPU time, peak RSS, and nginx's worker CPU time during the download (when it is
#      about the wall time, nginx set the pace); and ahttp-bench -n 1 -c 1 on the same URL, which
#      shows the client library alone (ahttp-fetch adds its output path).
# Every client runs under a small wait4() wrapper (python, posix_spawn) that reports wall time,
# user+system CPU time and peak RSS (ru_maxrss) of that process alone: GNU time prints CPU with
# 10 ms granularity, too coarse for runs of 0.2 s, and the libtool wrapper scripts are bypassed
# (the real binaries run with LD_LIBRARY_PATH) so no shell is counted.
# Ports are ephemeral, files live in a temp dir, every run is bounded by `timeout`, nginx is
# killed by PID on exit. About 75 s (REPEAT_FETCH=5: about 100 s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "${1:-$top/build}" 2>/dev/null && pwd) || {
    echo "run-client.sh: no build directory ${1:-$top/build}; run ./quickstart.sh first" >&2
    exit 1
}
repeat=${REPEAT:-5}
repeat_fetch=${REPEAT_FETCH:-3}
duration=${DURATION:-3}
nreq=20000
conc=64
py=/usr/bin/python3
certs="$top/certs"

# The real executables (not libtool's wrapper scripts) and where their library is.
realbin() {
    if [ -x "$build/apps/.libs/$1" ]; then echo "$build/apps/.libs/$1"; else echo "$build/apps/$1"; fi
}
bench=$(realbin ahttp-bench)
fetch=$(realbin ahttp-fetch)
export LD_LIBRARY_PATH="$build/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for tool in "$bench" "$fetch" nginx h2load wrk curl taskset fallocate "$py"; do
    command -v "$tool" >/dev/null || {
        echo "run-client.sh: $tool is missing (./quickstart.sh test installs the peers)" >&2
        exit 1
    }
done
"$py" -c 'import aiohttp' 2>/dev/null || {
    echo "run-client.sh: python3-aiohttp is missing (apt-get install python3-aiohttp)" >&2
    exit 1
}

tmp=$(mktemp -d)
nginx_pid=
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid" 2>/dev/null)" 2>/dev/null || true
    sleep 0.2
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# measure OUT CMD...: run CMD (stdout and stderr to OUT.log) and write
# "wall_s cpu_s maxrss_kib exit" to OUT.
measure() {
    local out=$1
    shift
    taskset -c 1 timeout 300 "$py" "$here/measure.py" "$out" "$@" || true
}

# ---- nginx ----
big_mib=${BIG_MIB:-}
if [ -z "$big_mib" ]; then
    avail=$(df --output=avail -B1M "$tmp" | tail -1 | tr -d ' ')
    big_mib=1024
    [ "$avail" -ge 3072 ] || big_mib=256
fi
mkdir -p "$tmp/www"
fallocate -l "${big_mib}M" "$tmp/www/big.bin"
chmod 755 "$tmp" "$tmp/www" # nginx's worker runs as an unprivileged user
chmod 644 "$tmp/www/big.bin"
big_bytes=$((big_mib * 1024 * 1024))

np=$(free_port) nsp=$(free_port)
cat >"$tmp/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$np;
        listen 127.0.0.1:$nsp ssl;
        ssl_certificate $certs/server.pem;
        ssl_certificate_key $certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $tmp/www;
        location /hello { return 200 "Hello, World!"; }
    }
}
NGINX
taskset -c 0 timeout 1800 nginx -c "$tmp/nginx.conf" -p "$tmp" &
nginx_pid=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$np/hello" && break
    sleep 0.1
done
curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$np/hello" || {
    echo "run-client.sh: nginx did not come up" >&2
    cat "$tmp/nginx-error.log" >&2
    exit 1
}
hello="http://127.0.0.1:$np/hello"
tls_seen() { grep -o 'TLSv1\.[0-9]' | head -1; }
tls_fetch=$("$fetch" -v --cacert "$certs/ca.pem" -o /dev/null "https://127.0.0.1:$nsp/hello" 2>&1 | tls_seen || true)
tls_curl=$(curl -v --cacert "$certs/ca.pem" -o /dev/null "https://127.0.0.1:$nsp/hello" 2>&1 | tls_seen || true)

model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "Machine: $(nproc) CPUs, ${model:-unknown CPU}, Linux $(uname -r); $(nginx -v 2>&1 | sed 's/.*: //'), $(h2load --version 2>&1 | head -1 | sed 's/^h2load //'), wrk $(wrk -v 2>&1 | head -1 | awk '{ print $2 }'), curl $(curl --version | head -1 | awk '{ print $2 }'), aiohttp $("$py" -c 'import aiohttp; print(aiohttp.__version__)'), Python $("$py" -c 'import platform; print(platform.python_version())')"
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); nginx (1 worker) on CPU 0, clients on CPU 1; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "HTTPS negotiated: ahttp-fetch ${tls_fetch:-?}, curl ${tls_curl:-?}"
echo "Command: bench/run-client.sh${1:+ $1}${REPEAT:+ (REPEAT=$REPEAT)}${DURATION:+ (DURATION=$DURATION)}${BIG_MIB:+ (BIG_MIB=$BIG_MIB)}"
echo

res="$tmp/results" # lines: "row client run value..."
: >"$res"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | head -1; }

# ---- (a) small requests ----
# one untimed run first: nginx and the kernel warm up (and the page cache holds every binary)
measure "$tmp/warm" "$bench" -n "$nreq" -c "$conc" "$hello"
measure "$tmp/warm" h2load --h1 -n "$nreq" -c "$conc" "$hello"
for r in $(seq 1 "$repeat"); do
    m="$tmp/a.bench.$r"
    measure "$m" "$bench" -n "$nreq" -c "$conc" "$hello"
    read -r _ cpu _ _ <"$m"
    echo "a_n ahttp-bench $r $(field rps "$m.log") $(field requests "$m.log") $cpu $(field errors "$m.log")" >>"$res"

    m="$tmp/a.h2load.$r"
    measure "$m" h2load --h1 -n "$nreq" -c "$conc" "$hello"
    read -r _ cpu _ _ <"$m"
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$m.log")
    done_=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$m.log")
    bad=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1 \2/p' "$m.log" | awk '{ print $1 + $2 }')
    echo "a_n h2load $r ${rps:--} ${done_:-0} $cpu ${bad:--}" >>"$res"

    m="$tmp/a.wrk.$r"
    measure "$m" wrk -t1 -c"$conc" -d"${duration}s" "$hello"
    read -r _ cpu _ _ <"$m"
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$m.log")
    done_=$(awk '/requests in/ { print $1 }' "$m.log")
    bad=$({ grep -E 'Socket errors|Non-2xx' "$m.log" || true; } | { grep -o '[0-9]\+' || true; } |
        awk '{ s += $1 } END { print s + 0 }')
    echo "a_d wrk $r ${rps:--} ${done_:-0} $cpu $bad" >>"$res"

    m="$tmp/a.benchd.$r"
    measure "$m" "$bench" -d "$duration" -c "$conc" "$hello"
    read -r _ cpu _ _ <"$m"
    echo "a_d ahttp-bench $r $(field rps "$m.log") $(field requests "$m.log") $cpu $(field errors "$m.log")" >>"$res"
done

# ---- (b) 20,000 URLs ----
for i in $(seq 1 "$nreq"); do echo "http://127.0.0.1:$np/hello?i=$i"; done >"$tmp/urls.txt"
awk '{ printf "url = \"%s\"\noutput = \"/dev/null\"\n", $0 }' "$tmp/urls.txt" >"$tmp/curl.cfg"
mapfile -t urls <"$tmp/urls.txt"
fetch_args=() outputs_first=()
for u in "${urls[@]}"; do
    fetch_args+=(-o /dev/null "$u")
    outputs_first+=(-o /dev/null)
done
for r in $(seq 1 "$repeat_fetch"); do
    m="$tmp/b.ahttp.$r"
    measure "$m" "$fetch" -Z --parallel-max "$conc" -s "${fetch_args[@]}"
    echo "b ahttp-fetch $r $(cat "$m")" >>"$res"
    # the same, every -o before the URLs: getopt then has no arguments to permute
    m="$tmp/b.ahttp-ofirst.$r"
    measure "$m" "$fetch" -Z --parallel-max "$conc" -s "${outputs_first[@]}" "${urls[@]}"
    echo "b ahttp-fetch-ofirst $r $(cat "$m")" >>"$res"
    m="$tmp/b.curl.$r"
    measure "$m" curl -Z --parallel-max "$conc" -s --no-progress-meter -K "$tmp/curl.cfg"
    echo "b curl $r $(cat "$m")" >>"$res"
    m="$tmp/b.aiohttp.$r"
    measure "$m" "$py" "$here/aiohttp_fetch.py" --urls "$tmp/urls.txt" --parallel "$conc"
    echo "b aiohttp $r $(cat "$m")" >>"$res"
done

# ---- (c) one large download ----
# the first read of a fresh file fills the page cache: not something to time
cat "$tmp/www/big.bin" >/dev/null
curl -s -o /dev/null "http://127.0.0.1:$np/big.bin"
# nginx's worker: its CPU time during each download (/proc/PID/schedstat, ns) tells whether the
# server, not the client, set the pace
nginx_worker=$(pgrep -P "$(cat "$tmp/nginx.pid")" | head -1)
nginx_ns() { awk '{ print $1 }' "/proc/$nginx_worker/schedstat" 2>/dev/null || echo 0; }
# measure_c OUT CMD...: measure, then append nginx's CPU seconds to OUT
measure_c() {
    local out=$1 before after
    shift
    before=$(nginx_ns)
    measure "$out" "$@"
    after=$(nginx_ns)
    echo "$(cat "$out") $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.4f", (a - b) / 1e9 }')" >"$out"
}
for proto in http https; do
    if [ "$proto" = http ]; then url="http://127.0.0.1:$np/big.bin"; else url="https://127.0.0.1:$nsp/big.bin"; fi
    for r in $(seq 1 "$repeat_fetch"); do
        m="$tmp/c.$proto.ahttp.$r"
        measure_c "$m" "$fetch" -s -S --cacert "$certs/ca.pem" -o /dev/null -w '%{size_download}\n' "$url"
        echo "c_$proto ahttp-fetch $r $(cat "$m") $(tail -1 "$m.log")" >>"$res"
        m="$tmp/c.$proto.curl.$r"
        measure_c "$m" curl -s -S --cacert "$certs/ca.pem" -o /dev/null -w '%{size_download}\n' "$url"
        echo "c_$proto curl $r $(cat "$m") $(tail -1 "$m.log")" >>"$res"
        m="$tmp/c.$proto.aiohttp.$r"
        measure_c "$m" "$py" "$here/aiohttp_fetch.py" --stream "$url" --cacert "$certs/ca.pem"
        echo "c_$proto aiohttp $r $(cat "$m") $(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' "$m.log")" >>"$res"
        # the client alone: ahttp-bench reads the body into memory and drops it (no output path)
        m="$tmp/c.$proto.bench.$r"
        measure_c "$m" "$bench" -n 1 -c 1 --timeout 120 --cacert "$certs/ca.pem" "$url"
        echo "c_$proto ahttp-bench $r $(cat "$m") $(field bytes "$m.log")" >>"$res"
    done
done

echo "Raw runs:"
echo "  (a) row client run req/s requests cpu_s errors"
echo "  (b) row client run wall_s cpu_s maxrss_kib exit"
echo "  (c) row client run wall_s cpu_s maxrss_kib exit nginx_cpu_s bytes"
sed 's/^/  /' "$res"
echo

awk -v nreq="$nreq" -v conc="$conc" -v big="$big_bytes" -v big_mib="$big_mib" -v dur="$duration" '
function median(key,    n, i, j, t, v) {
    n = cnt[key]
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    if (n == 0) return "-"
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function put(key, v) { val[key, ++cnt[key]] = v }
function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2f×", a / b) }
function met(a, b, target) { return (a == "-" || b == "-" || b == 0) ? "-" : (a / b >= target ? "yes" : "**no**") }
$1 == "a_n" || $1 == "a_d" {
    if ($4 != "-") put($1 SUBSEP $2 SUBSEP "rps", $4)
    if ($5 > 0) put($1 SUBSEP $2 SUBSEP "cpu", $6 / $5 * 1e6)
    errs[$1, $2] += ($7 == "-" ? 0 : $7)
    if ($5 != nreq && $1 == "a_n") short[$1, $2] = 1
    next
}
$1 == "b" || $1 ~ /^c_/ {
    put($1 SUBSEP $2 SUBSEP "wall", $4); put($1 SUBSEP $2 SUBSEP "cpu", $5); put($1 SUBSEP $2 SUBSEP "rss", $6)
    if ($7 != 0) bad[$1, $2]++
    if ($1 ~ /^c_/) { put($1 SUBSEP $2 SUBSEP "nginx", $8); if ($9 != big) bad[$1, $2]++ }
    next
}
END {
    printf "(a) %d requests, %d connections, `return 200 \"Hello, World!\"` (median of the runs)\n\n", nreq, conc
    print "| client | req/s | CPU µs/request | errors (all runs) |"
    print "|---|---:|---:|---:|"
    split("a_n:ahttp-bench:ahttp-bench -n " nreq " -c " conc "|a_n:h2load:h2load --h1 -n " nreq " -c " conc "|a_d:ahttp-bench:ahttp-bench -d " dur " -c " conc "|a_d:wrk:wrk -t1 -c" conc " -d" dur "s", rows, "|")
    for (i = 1; i <= 4; i++) {
        split(rows[i], p, ":")
        k = p[1] SUBSEP p[2]
        rps[k] = median(k SUBSEP "rps"); cpu[k] = median(k SUBSEP "cpu")
        printf "| %s%s | %.0f | %.2f | %d |\n", p[3], short[p[1], p[2]] ? " (short of the count)" : "", rps[k], cpu[k], errs[p[1], p[2]]
    }
    an = "a_n" SUBSEP "ahttp-bench"; h2 = "a_n" SUBSEP "h2load"; ad = "a_d" SUBSEP "ahttp-bench"; wk = "a_d" SUBSEP "wrk"
    print ""
    print "| ratio | req/s | CPU per request (theirs / ours: > 1 means ahttp-bench does less work) | target (req/s) | met |"
    print "|---|---:|---:|---|---|"
    printf "| ahttp-bench / h2load | %s | %s | ≥ 1.0× | %s |\n", ratio(rps[an], rps[h2]), ratio(cpu[h2], cpu[an]), met(rps[an], rps[h2], 1.0)
    printf "| ahttp-bench / wrk | %s | %s | ≥ 0.9× | %s |\n", ratio(rps[ad], rps[wk]), ratio(cpu[wk], cpu[ad]), met(rps[ad], rps[wk], 0.9)

    printf "\n(b) the same %d requests as %d URLs, %d at a time (median of the runs)\n\n", nreq, nreq, conc
    print "| client | wall s | CPU s | peak RSS MiB | failed runs |"
    print "|---|---:|---:|---:|---:|"
    split("ahttp-fetch:ahttp-fetch -Z --parallel-max " conc " -s, `-o /dev/null URL` ×" nreq "|curl:curl -Z --parallel-max " conc " -s -K (url/output per URL)|aiohttp:aiohttp_fetch.py --urls (TCPConnector(limit=" conc "))|ahttp-fetch-ofirst:(diagnostic) ahttp-fetch, the " nreq " `-o /dev/null` first, then the URLs", brow, "|")
    for (i = 1; i <= 4; i++) {
        split(brow[i], p, ":")
        k = "b" SUBSEP p[1]
        w[p[1]] = median(k SUBSEP "wall"); c[p[1]] = median(k SUBSEP "cpu"); m[p[1]] = median(k SUBSEP "rss")
        printf "| %s | %.2f | %.2f | %.1f | %d |\n", p[2], w[p[1]], c[p[1]], m[p[1]] / 1024, bad["b", p[1]]
    }
    print ""
    print "| ratio (theirs / ahttp-fetch) | wall time | CPU time | peak RSS | target (wall) | met |"
    print "|---|---:|---:|---:|---|---|"
    printf "| curl / ahttp-fetch | %s | %s | %s | ≥ 3× | %s |\n", ratio(w["curl"], w["ahttp-fetch"]), ratio(c["curl"], c["ahttp-fetch"]), ratio(m["curl"], m["ahttp-fetch"]), met(w["curl"], w["ahttp-fetch"], 3)
    printf "| aiohttp / ahttp-fetch | %s | %s | %s | ≥ 15× | %s |\n", ratio(w["aiohttp"], w["ahttp-fetch"]), ratio(c["aiohttp"], c["ahttp-fetch"]), ratio(m["aiohttp"], m["ahttp-fetch"]), met(w["aiohttp"], w["ahttp-fetch"], 15)

    printf "\n(c) one %d MiB file, nginx sendfile, to /dev/null (median of the runs)\n\n", big_mib
    print "| protocol | client | MB/s | CPU s | peak RSS MiB | nginx CPU s | failed runs |"
    print "|---|---|---:|---:|---:|---:|---:|"
    split("http https", protos, " ")
    split("ahttp-fetch curl aiohttp ahttp-bench", cl, " ")
    label["ahttp-fetch"] = "ahttp-fetch -o /dev/null"; label["curl"] = "curl -o /dev/null"
    label["aiohttp"] = "aiohttp_fetch.py --stream"
    label["ahttp-bench"] = "(diagnostic) ahttp-bench -n 1 -c 1: the client, body dropped in memory"
    for (pi = 1; pi <= 2; pi++) {
        for (ci = 1; ci <= 4; ci++) {
            k = "c_" protos[pi] SUBSEP cl[ci]
            wl = median(k SUBSEP "wall")
            mbs[protos[pi], cl[ci]] = wl == "-" || wl == 0 ? "-" : big / wl / 1e6
            printf "| %s | %s | %.0f | %.2f | %.1f | %.2f | %d |\n", toupper(protos[pi]), label[cl[ci]], mbs[protos[pi], cl[ci]], median(k SUBSEP "cpu"), median(k SUBSEP "rss") / 1024, median(k SUBSEP "nginx"), bad["c_" protos[pi], cl[ci]]
        }
    }
    print ""
    print "| protocol | ahttp-fetch / faster of curl and aiohttp (MB/s) | target | met |"
    print "|---|---:|---|---|"
    for (pi = 1; pi <= 2; pi++) {
        a = mbs[protos[pi], "ahttp-fetch"]; cu = mbs[protos[pi], "curl"]; ai = mbs[protos[pi], "aiohttp"]
        best = (cu == "-" ? ai : (ai == "-" || cu > ai ? cu : ai))
        printf "| %s | %s | ≥ 1.0× | %s |\n", toupper(protos[pi]), ratio(a, best), met(a, best, 1.0)
    }
}' "$res"
