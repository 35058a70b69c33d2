#!/usr/bin/env bash
# A/B of two ahttp-serve builds, for a change to the server's hot path: the same wrk rows as
# bench/run-server.sh (keep-alive with 64 connections, 16-deep pipelining), run against build A
# and build B in turn (A B A B ...), so that the machine's noise falls on both alike. The figure
# to read is the server's CPU time per request (/proc/PID/schedstat before and after each run,
# divided by the requests served); req/s is printed too.
#
#   bench/ab-server.sh BUILD_A BUILD_B        e.g. an old commit's build and build/
#   ROUNDS=5 DURATION=3
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 2 ] || {
    echo "usage: bench/ab-server.sh BUILD_A BUILD_B" >&2
    exit 2
}
rounds=${ROUNDS:-5}
duration=${DURATION:-3}
py=/usr/bin/python3
for tool in wrk taskset curl "$1/apps/ahttp-serve" "$2/apps/ahttp-serve"; do
    command -v "$tool" >/dev/null || {
        echo "ab-server.sh: $tool is missing" >&2
        exit 1
    }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() { # BUILD → sets $pid and $port
    port=$(free_port)
    taskset -c 0 "$1/apps/ahttp-serve" --host 127.0.0.1 --port "$port" --quiet --root "$tmp" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/hello" && return 0
        sleep 0.1
    done
    echo "ab-server.sh: $1/apps/ahttp-serve did not come up" >&2
    exit 1
}

start "$1"
pid_a=$pid port_a=$port
start "$2"
pid_b=$pid port_b=$port

# one wrk run → "rps cpu_ns_per_req"
run() { # PID PORT [wrk args...]
    local pid=$1 port=$2
    shift 2
    local before after out reqs rps
    before=$(awk '{ print $1 }' "/proc/$pid/schedstat")
    out=$(taskset -c 1 timeout $((duration + 30)) wrk -t1 -d"${duration}s" "$@" \
        "http://127.0.0.1:$port/hello" 2>&1) || true
    after=$(awk '{ print $1 }' "/proc/$pid/schedstat")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || {
        echo "0 0"
        return
    }
    echo "$rps $(((after - before) / reqs))"
}

printf '%-10s %5s  %12s %12s  %10s %10s\n' row round "A req/s" "B req/s" "A ns/req" "B ns/req"
for row in ka64 pipe16; do
    case $row in
    ka64) args=(-c64) ;;
    pipe16) args=(-c64 -s "$here/pipeline.lua") ;;
    esac
    for r in $(seq 1 "$rounds"); do
        read -r ra ca < <(run "$pid_a" "$port_a" "${args[@]}")
        read -r rb cb < <(run "$pid_b" "$port_b" "${args[@]}")
        printf '%-10s %5d  %12d %12d  %10d %10d\n' "$row" "$r" "$ra" "$rb" "$ca" "$cb"
    done
done | tee "$tmp/rows"
echo
awk '{ n[$1]++; ca[$1] += $5; cb[$1] += $6; ra[$1] += $3; rb[$1] += $4 }
     END { for (k in n) printf "%-10s mean: A %.0f req/s %.0f ns/req, B %.0f req/s %.0f ns/req, B/A CPU %.3f\n",
           k, ra[k] / n[k], ca[k] / n[k], rb[k] / n[k], cb[k] / n[k], cb[k] / ca[k] }' "$tmp/rows" |
    sort
