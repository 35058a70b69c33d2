#!/usr/bin/env bash
# ahttp-bench against ahttp-serve: a fixed count completes with no error, a duration run stops on
# time, a 404 counts as non-2xx, --pipeline answers every request, HTTPS works with --cacert, a
# dead port counts connect errors, and bad usage exits 2.
# Every port is ephemeral, every wait is bounded by `timeout`, the server is killed by PID on
# exit. Needs $top_builddir (and $AH_CERTS for HTTPS), both exported by `make check`.
set -uo pipefail

build="${top_builddir:-.}"
certs="${AH_CERTS:-$(cd "$(dirname "$0")/../../certs" && pwd)}"
bench="$build/apps/ahttp-bench"
serve="$build/apps/ahttp-serve"
python=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init bench_interop

if [ ! -x "$bench" ] || [ ! -x "$serve" ]; then
    echo "bench_interop: $bench or $serve not built"
    echo "bench_interop: 0 passed, 1 failed"
    exit 1
fi

fail() {
    echo "FAIL: $1"
    for f in "$work/out" "$work/err"; do
        [ -f "$f" ] && sed 's/^/    | /' "$f" | tail -20
    done
    failed=$((failed + 1))
}

# Run ahttp-bench (bounded) with stdout to $work/out, stderr to $work/err; sets $rc and $last
# (the machine-readable line).
run_bench() {
    timeout 60 "$bench" "$@" >"$work/out" 2>"$work/err"
    rc=$?
    last=$(grep '^ahttp-bench: requests=' "$work/out" | tail -1)
}

# field NAME: the value of NAME=... in $last
field() {
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$last" | head -1
}

# ---- usage ----

run_bench --no-such-flag http://127.0.0.1/
[ "$rc" = 2 ] && grep -q "unknown option" "$work/err" && pass "unknown flag exits 2" ||
    fail "unknown flag exits 2 (exit $rc)"
run_bench -c 4 http://127.0.0.1/
[ "$rc" = 2 ] && grep -q -- "-d SECONDS" "$work/err" && pass "neither -d nor -n exits 2" ||
    fail "neither -d nor -n exits 2 (exit $rc)"
run_bench -c 4 -n 10 'ftp://127.0.0.1/'
[ "$rc" = 2 ] && grep -q "bad URL" "$work/err" && pass "non-HTTP URL exits 2" ||
    fail "non-HTTP URL exits 2 (exit $rc)"
run_bench -c 0 -n 10 http://127.0.0.1/
[ "$rc" = 2 ] && pass "-c 0 exits 2" || fail "-c 0 exits 2 (exit $rc)"

# ---- a port nobody listens on ----

refused=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_bench -c 2 -n 20 "http://127.0.0.1:$refused/"
if [ "$rc" = 1 ] && [ "$(field requests)" = 0 ] && [ "$(field connect)" = 20 ]; then
    pass "refused port: 20 connect errors, exit 1"
else
    fail "refused port: 20 connect errors, exit 1 (exit $rc: $last)"
fi

# ---- ahttp-serve ----

log="$work/serve.log"
timeout 120 "$serve" --port 0 --https-port 0 --tls-cert "$certs/server.pem" \
    --tls-key "$certs/server.key" >"$log" 2>&1 &
pids+=($!)
if ! timeout 10 bash -c "until grep -q 'listening on https' '$log' 2>/dev/null; do sleep 0.05; done"; then
    echo "ahttp-serve did not start:"
    cat "$log"
    echo "bench_interop: $passed passed, $((failed + 1)) failed"
    exit 1
fi
port=$(sed -n 's#^ahttp-serve: listening on http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$log" | head -1)
tls_port=$(sed -n 's#^ahttp-serve: listening on https://127.0.0.1:\([0-9]*\)/.*#\1#p' "$log" | head -1)

run_bench -n 2000 -c 16 "http://127.0.0.1:$port/hello"
if [ "$rc" = 0 ] && [ "$(field requests)" = 2000 ] && [ "$(field errors)" = 0 ] &&
    [ "$(field bytes)" = 26000 ] && grep -q '^Requests/sec:' "$work/out"; then
    pass "-n 2000 -c 16: 2000 responses, 0 errors, 26000 body bytes"
else
    fail "-n 2000 -c 16: 2000 responses, 0 errors (exit $rc: $last)"
fi

run_bench -n 1000 -c 8 -t 2 "http://127.0.0.1:$port/hello"
if [ "$rc" = 0 ] && [ "$(field requests)" = 1000 ] && [ "$(field errors)" = 0 ]; then
    pass "-t 2: the budget is shared, 1000 responses in all"
else
    fail "-t 2: 1000 responses in all (exit $rc: $last)"
fi

run_bench -d 1 -c 4 "http://127.0.0.1:$port/hello"
dur=$(field duration_s)
if [ "$rc" = 0 ] && [ "$(field requests)" -gt 0 ] && [ "$(field errors)" = 0 ] &&
    awk -v d="$dur" 'BEGIN { exit !(d >= 0.95 && d < 3) }'; then
    pass "-d 1: runs about a second ($dur s, $(field requests) requests)"
else
    fail "-d 1: runs about a second (exit $rc: $last)"
fi

run_bench -n 50 -c 4 "http://127.0.0.1:$port/no-such-page"
if [ "$rc" = 0 ] && [ "$(field requests)" = 50 ] && [ "$(field non2xx)" = 50 ] &&
    [ "$(field errors)" = 50 ] && grep -q 'Non-2xx' "$work/out"; then
    pass "404s: 50 responses counted non-2xx"
else
    fail "404s: 50 responses counted non-2xx (exit $rc: $last)"
fi

run_bench -n 1000 -c 4 --pipeline 8 "http://127.0.0.1:$port/hello"
if [ "$rc" = 0 ] && [ "$(field requests)" = 1000 ] && [ "$(field errors)" = 0 ] &&
    [ "$(field bytes)" = 13000 ]; then
    pass "--pipeline 8: 1000 responses, 0 errors"
else
    fail "--pipeline 8: 1000 responses, 0 errors (exit $rc: $last)"
fi

# chunked responses, pipelined: the message core decodes them (5 chunks "chunk N\n" = 40 bytes)
run_bench -n 200 -c 2 --pipeline 4 "http://127.0.0.1:$port/stream?n=5"
if [ "$rc" = 0 ] && [ "$(field requests)" = 200 ] && [ "$(field errors)" = 0 ] &&
    [ "$(field bytes)" = 8000 ]; then
    pass "--pipeline 4 on chunked responses: 200 responses, 8000 body bytes, 0 errors"
else
    fail "--pipeline 4 on chunked responses (exit $rc: $last)"
fi

run_bench -n 200 -c 4 --cacert "$certs/ca.pem" "https://127.0.0.1:$tls_port/hello"
if [ "$rc" = 0 ] && [ "$(field requests)" = 200 ] && [ "$(field errors)" = 0 ]; then
    pass "HTTPS with --cacert: 200 responses"
else
    fail "HTTPS with --cacert: 200 responses (exit $rc: $last)"
fi

run_bench -n 20 -c 2 "https://127.0.0.1:$tls_port/hello"
if [ "$rc" = 1 ] && [ "$(field connect)" = 20 ] && grep -q 'certificate' "$work/out"; then
    pass "HTTPS without the CA: certificate errors counted as connect errors"
else
    fail "HTTPS without the CA: connect errors (exit $rc: $last)"
fi

run_bench -n 40 -c 4 --timeout 0.2 "http://127.0.0.1:$port/sleep?ms=2000"
if [ "$(field timeout)" = 40 ] && [ "$(field requests)" = 0 ]; then
    pass "--timeout 0.2 against /sleep?ms=2000: 40 timeouts"
else
    fail "--timeout 0.2: 40 timeouts (exit $rc: $last)"
fi

echo "bench_interop: $passed passed, $failed failed"
[ "$failed" = 0 ]
