#!/usr/bin/env bash
# Server benchmark: ahttp-serve against nginx and aiohttp.web in one run, on loopback.
#
#   bench/run-server.sh [BUILD_DIR]      BUILD_DIR defaults to build/ (as ./quickstart.sh makes it)
#   DURATION=5 (seconds per wrk run)
#
# Every server runs one worker pinned to CPU 0; wrk (one thread) runs pinned to CPU 1. Rows:
# keep-alive with 64 and 256 connections, 16-deep pipelining, HTTPS keep-alive, new TLS
# connections per second (wrk with "Connection: close": one full handshake per request), and
# resident memory per idle keep-alive connection (10,000 of them). For each run the server's CPU
# time per request comes from /proc/PID/schedstat before and after: the figure that stays stable
# on a noisy machine and shows which server does less work.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "${1:-$top/build}" 2>/dev/null && pwd) || {
    echo "run-server.sh: no build directory ${1:-$top/build}; run ./quickstart.sh first" >&2
    exit 1
}
duration=${DURATION:-5}
idle_n=${IDLE_CONNS:-10000}
py=/usr/bin/python3
serve="$build/apps/ahttp-serve"
certs="$top/certs"
for tool in "$serve" nginx wrk "$py" taskset curl; do
    command -v "$tool" >/dev/null || {
        echo "run-server.sh: $tool is missing (./quickstart.sh test installs the peers)" >&2
        exit 1
    }
done
"$py" -c 'import aiohttp' 2>/dev/null || {
    echo "run-server.sh: python3-aiohttp is missing (apt-get install python3-aiohttp)" >&2
    exit 1
}

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
    sleep 0.2
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_up() { # url
    for _ in $(seq 1 100); do
        curl -sk -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "run-server.sh: $1 did not come up" >&2
    exit 1
}

np=$(free_port) nsp=$(free_port) ap=$(free_port) asp=$(free_port) pp=$(free_port) psp=$(free_port)
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
    server {
        listen 127.0.0.1:$np;
        listen 127.0.0.1:$nsp ssl;
        ssl_certificate $certs/server.pem;
        ssl_certificate_key $certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3; # as ahttp: Debian's nginx would otherwise stop at 1.2
        location /hello { return 200 "Hello, World!"; }
    }
}
NGINX

taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
taskset -c 0 "$serve" --host 127.0.0.1 --port "$ap" --https-port "$asp" --quiet \
    --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --root "$tmp" &
pids+=($!)
apid=$!
taskset -c 0 "$py" "$here/aiohttp_server.py" "$pp" &
pids+=($!)
ppid=$!
taskset -c 0 "$py" "$here/aiohttp_server.py" "$psp" "$certs/server.pem" "$certs/server.key" &
pids+=($!)
pspid=$!
for u in "http://127.0.0.1:$np/hello" "https://127.0.0.1:$nsp/hello" "http://127.0.0.1:$ap/hello" \
    "https://127.0.0.1:$asp/hello" "http://127.0.0.1:$pp/hello" "https://127.0.0.1:$psp/hello"; do
    wait_up "$u"
done
npid=$(pgrep -P "$(cat "$tmp/nginx.pid")" | head -1) # the worker

cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }

# run NAME PID URL [wrk args...] → a line "NAME rps p99 cpu_ns_per_req errors"
run() {
    local name=$1 pid=$2 url=$3
    shift 3
    local before after out reqs rps p99 errs
    before=$(cpu_ns "$pid")
    out=$(taskset -c 1 timeout $((duration + 30)) wrk -t1 -d"${duration}s" --latency "$@" "$url" 2>&1) || true
    after=$(cpu_ns "$pid")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    errs=$(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ' | tr '\n' ';' || true)
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || {
        echo "$name - - - wrk-failed"
        return
    }
    echo "$name $rps $p99 $(((after - before) / reqs)) ${errs:-none}"
}

idle_rss() { # NAME PID PORT → "NAME kib_per_conn"
    local name=$1 pid=$2 port=$3 before after
    before=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
    mkfifo "$tmp/hold.$name"
    timeout 120 "$py" "$here/idle_conns.py" "$port" "$idle_n" <"$tmp/hold.$name" >"$tmp/idle.$name" &
    local holder=$!
    exec 9>"$tmp/hold.$name"
    for _ in $(seq 1 600); do
        grep -q ready "$tmp/idle.$name" 2>/dev/null && break
        kill -0 "$holder" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5
    after=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
    echo "$name $before $after" >>"$tmp/idle-rss"
    exec 9>&-
    wait "$holder" 2>/dev/null || true
    if grep -q ready "$tmp/idle.$name"; then
        awk -v n="$idle_n" -v b="$before" -v a="$after" -v name="$name" \
            'BEGIN { printf "%s %.2f\n", name, (a - b) / n }'
    else
        echo "$name -"
    fi
}

model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "Machine: $(nproc) CPUs, ${model:-unknown CPU}, Linux $(uname -r); $(nginx -v 2>&1 | sed 's/.*: //'), aiohttp $("$py" -c 'import aiohttp; print(aiohttp.__version__)')"
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); wrk -t1 -d${duration}s on CPU 1, servers on CPU 0"
echo "Command: bench/run-server.sh${1:+ $1}${DURATION:+ (DURATION=$DURATION)}"
echo

res="$tmp/results"
: >"$res"
# Memory per idle connection first, on servers that have not yet served any load (a malloc
# arena that has grown under load would hide what connections cost).
for srv in nginx ahttp aiohttp; do
    case $srv in
    nginx) pid=$npid http=$np ;;
    ahttp) pid=$apid http=$ap ;;
    aiohttp) pid=$ppid http=$pp ;;
    esac
    echo "idle $(idle_rss "$srv" "$pid" "$http")" >>"$res"
done
for srv in nginx ahttp aiohttp; do
    case $srv in
    nginx) pid=$npid http=$np https=$nsp tpid=$npid ;;
    ahttp) pid=$apid http=$ap https=$asp tpid=$apid ;;
    aiohttp) pid=$ppid http=$pp https=$psp tpid=$pspid ;;
    esac
    {
        echo "ka64 $(run "$srv" "$pid" "http://127.0.0.1:$http/hello" -c64)"
        echo "ka256 $(run "$srv" "$pid" "http://127.0.0.1:$http/hello" -c256)"
        echo "pipe16 $(DEPTH=16 run "$srv" "$pid" "http://127.0.0.1:$http/hello" -c64 -s "$here/pipeline.lua")"
        echo "https64 $(run "$srv" "$tpid" "https://127.0.0.1:$https/hello" -c64)"
        echo "tlsnew $(run "$srv" "$tpid" "https://127.0.0.1:$https/hello" -c32 -H 'Connection: close')"
    } >>"$res"
done

echo "Raw (row server req/s p99 cpu-ns/req errors):"
sed 's/^/  /' "$res"
echo "Idle connections (server, VmRSS KiB before, with $idle_n idle connections):"
sed 's/^/  /' "$tmp/idle-rss" 2>/dev/null || true
echo
awk '
function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2f×", a / b) }
$1 == "idle" { idle[$2] = $3; next }
{ rps[$1, $2] = $3; p99[$1, $2] = $4; cpu[$1, $2] = $5; err[$1, $2] = $6 }
END {
    split("ka64 ka256 pipe16 https64 tlsnew", rows, " ")
    label["ka64"] = "keep-alive, 64 conns"; label["ka256"] = "keep-alive, 256 conns"
    label["pipe16"] = "pipelined ×16, 64 conns"; label["https64"] = "HTTPS keep-alive, 64 conns"
    label["tlsnew"] = "new TLS connection per request, 32 conns"
    print "| row | nginx req/s | ahttp req/s | aiohttp req/s | ahttp/nginx | ahttp/aiohttp | CPU µs/req nginx · ahttp · aiohttp | p99 nginx · ahttp · aiohttp |"
    print "|---|---:|---:|---:|---:|---:|---|---|"
    for (i = 1; i <= 5; i++) {
        r = rows[i]
        printf "| %s | %s | %s | %s | %s | %s | %.1f · %.1f · %.1f | %s · %s · %s |\n", label[r],
            rps[r, "nginx"], rps[r, "ahttp"], rps[r, "aiohttp"],
            ratio(rps[r, "ahttp"], rps[r, "nginx"]), ratio(rps[r, "ahttp"], rps[r, "aiohttp"]),
            cpu[r, "nginx"] / 1000, cpu[r, "ahttp"] / 1000, cpu[r, "aiohttp"] / 1000,
            p99[r, "nginx"], p99[r, "ahttp"], p99[r, "aiohttp"]
    }
    printf "| RSS per idle keep-alive connection (KiB, %s conns) | %s | %s | %s | %s | %s | | |\n", idle_n,
        idle["nginx"], idle["ahttp"], idle["aiohttp"], ratio(idle["ahttp"], idle["nginx"]), ratio(idle["ahttp"], idle["aiohttp"])
    for (k in err) if (err[k] != "none") { split(k, kk, SUBSEP); printf "\nerrors: %s %s: %s", kk[1], kk[2], err[k] }
    print ""
}' idle_n="$idle_n" "$res"
