#!/usr/bin/env bash
# TLS benchmark: ahttp's TLS (tests/interop/tls_probe bench modes) against OpenSSL's own tools
# (s_server, s_time), all on loopback in the same run.
#   - throughput of 1 and 100 concurrent TLS streams (MB/s)
#   - full and resumed handshakes per second
# Usage: bench/run-net.sh [BUILD_DIR] (default: build). Needs openssl; SECONDS=N sets the length
# of each handshake run (default 5); BIG_MB the single-stream size (default 256).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
probe="$build/tests/interop/tls_probe"
certs="$here/certs"
secs=${SECONDS_PER_RUN:-5}
big_mb=${BIG_MB:-256}
[ -x "$probe" ] || { echo "build first: make -C $build check (builds tests/interop/tls_probe)"; exit 1; }
command -v openssl >/dev/null || { echo "needs the openssl command"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/run-net.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

big=$((big_mb * 1000000))
small=$((8 * 1000000))
# s_server -WWW serves files from its directory: name them by their size so "/N" means N bytes
# to both servers.
head -c "$big" /dev/zero >"$work/$big"
head -c "$small" /dev/zero >"$work/$small"
printf x >"$work/1"

wait_for() { timeout 10 bash -c "until grep -q -- '$2' '$1' 2>/dev/null; do sleep 0.05; done"; }

start_ours() { # [--no-tickets]; sets port
    local log="$work/ours.$RANDOM"
    "$probe" --bench-serve 0 --cert "$certs/server.pem" --key "$certs/server.key" "$@" \
        >"$log" 2>"$log.err" &
    pids+=($!)
    wait_for "$log" "listening on" || { cat "$log.err"; exit 1; }
    port=$(awk '/listening on/ {print $3; exit}' "$log")
}

start_openssl() { # extra s_server options; sets port
    port=$("$probe" --free-port)
    local log="$work/s_server.$port"
    (cd "$work" && exec openssl s_server -accept "127.0.0.1:$port" -cert "$certs/server.pem" \
        -key "$certs/server.key" -quiet "$@" </dev/null >"$log" 2>&1) &
    pids+=($!)
    timeout 10 bash -c "until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done"
}

stop_servers() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    pids=()
}

client=(--cafile "$certs/ca.pem" --host localhost)

s_time() { # s_time args...: prints "N/s" from its real-seconds line
    timeout $((secs + 30)) openssl s_time -connect "127.0.0.1:$port" -CAfile "$certs/ca.pem" \
        -time "$secs" "$@" 2>&1 | awk '/connections in [0-9]+ real seconds/ {
            printf "%d connections in %d s = %.0f/s\n", $1, $4, $1 / $4 }'
}

s_time_bytes() { # as above, as MB/s of page bytes
    timeout $((secs + 60)) openssl s_time -connect "127.0.0.1:$port" -CAfile "$certs/ca.pem" \
        -time "$secs" "$@" 2>&1 | awk '/connections in [0-9]+ real seconds/ {
            printf "%d connections x %.1f MB in %d s = %.1f MB/s\n", $1, $7 / 1e6, $4, $1 * $7 / 1e6 / $4 }'
}

echo "== TLS throughput (MB/s; loopback, TLS 1.3, $(openssl version | cut -d' ' -f1-2))"
start_ours
printf '%-44s ' "ahttp client <- ahttp server, 1 stream:";   "$probe" --bench-get 1 --path "/$big" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "ahttp client <- ahttp server, 100 streams:"; "$probe" --bench-get 100 --path "/$small" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "s_time <- ahttp server, 1 stream:";         s_time_bytes -new -www "/$big"
stop_servers
start_openssl -WWW
printf '%-44s ' "ahttp client <- s_server -WWW, 1 stream:";  "$probe" --bench-get 1 --path "/$big" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "s_time <- s_server -WWW, 1 stream:";        s_time_bytes -new -www "/$big"
stop_servers

echo "== TLS handshakes per second (one client connection at a time; each GETs 1 byte)"
start_ours --no-tickets
printf '%-44s ' "ahttp client -> ahttp server, full:";  "$probe" --bench-handshakes "$secs" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "s_time -new -> ahttp server, full:";   s_time -new -www /1
stop_servers
start_ours
printf '%-44s ' "ahttp client -> ahttp server, resumed:"; "$probe" --bench-handshakes "$secs" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "s_time -reuse -> ahttp server:";         s_time -reuse -www /1
stop_servers
start_openssl -WWW -num_tickets 0
printf '%-44s ' "ahttp client -> s_server, full:";      "$probe" --bench-handshakes "$secs" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "s_time -new -> s_server, full:";       s_time -new -www /1
stop_servers
start_openssl -WWW
printf '%-44s ' "ahttp client -> s_server, resumed:";   "$probe" --bench-handshakes "$secs" "${client[@]}" 127.0.0.1 "$port"
printf '%-44s ' "s_time -reuse -> s_server:";           s_time -reuse -www /1
stop_servers
