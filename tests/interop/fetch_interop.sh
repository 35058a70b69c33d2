#!/usr/bin/env bash
# ahttp-fetch against real servers: nginx (static 10 MB download, HEAD, redirects, -f, gzip,
# parallel), Python's http.server (HTTP/1.0, and a close-delimited body), and ahttp-serve over
# HTTPS (a verified certificate, an expired one). Plus the exit codes of bad usage (2), a
# malformed URL (3, as curl), a refused port (7) and a timeout (28).
# Every port is ephemeral, every wait is bounded by `timeout`, every background process is killed
# by PID on exit. Needs $top_builddir and $AH_CERTS (both exported by `make check`).
set -uo pipefail

build="${top_builddir:-.}"
certs="${AH_CERTS:-$(cd "$(dirname "$0")/../../certs" && pwd)}"
fetch="$build/apps/ahttp-fetch"
serve="$build/apps/ahttp-serve"
python=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/fetch_interop.XXXXXX")
pids=()
passed=0
failed=0
skipped=0

cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$fetch" ] || [ ! -x "$serve" ]; then
    echo "fetch_interop: $fetch or $serve not built"
    echo "fetch_interop: 0 passed, 1 failed"
    exit 1
fi
fetch="$(cd "$(dirname "$fetch")" && pwd)/$(basename "$fetch")" # -O runs it from elsewhere

pass() {
    echo "PASS: $1"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL: $1"
    shift
    for f in "$@"; do
        [ -f "$f" ] && sed 's/^/    | /' "$f" | tail -20
    done
    failed=$((failed + 1))
}
skip() {
    echo "SKIP: $1 ($2)"
    skipped=$((skipped + 1))
}

# Run ahttp-fetch (bounded) with stdout to $work/out and stderr to $work/err; sets $rc.
run_fetch() {
    timeout 30 "$fetch" "$@" >"$work/out" 2>"$work/err"
    rc=$?
}

# check NAME EXPECTED_RC [grep pattern for stdout] [grep pattern for stderr]
check() {
    local name=$1 want=$2 out_pat=${3:-} err_pat=${4:-}
    if [ "$rc" != "$want" ]; then
        fail "$name (exit $rc, want $want)" "$work/out" "$work/err"
    elif [ -n "$out_pat" ] && ! grep -q -- "$out_pat" "$work/out"; then
        fail "$name (stdout lacks '$out_pat')" "$work/out" "$work/err"
    elif [ -n "$err_pat" ] && ! grep -q -- "$err_pat" "$work/err"; then
        fail "$name (stderr lacks '$err_pat')" "$work/out" "$work/err"
    else
        pass "$name"
    fi
}

# A port that is free now (the kernel's pick, released at once).
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
    timeout 10 bash -c "until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do sleep 0.05; done"
}

# Wait (at most 10 s) until file $1 contains $2.
wait_for_text() {
    timeout 10 bash -c "until grep -q -- '$2' '$1' 2>/dev/null; do sleep 0.05; done"
}

# ---- usage and local failures ----

run_fetch --no-such-flag http://127.0.0.1/
check "unknown flag exits 2" 2 "" "unknown option"
run_fetch -o
check "missing argument exits 2" 2 "" "needs an argument"
run_fetch
check "no URL exits 2" 2 "" "no URL"
run_fetch 'http://exa mple.com/'
check "malformed URL exits 3 (curl's CURLE_URL_MALFORMAT)" 3 "" "URL malformed"
run_fetch 'http://[::1/'
check "unbalanced IPv6 literal exits 3" 3 "" "URL malformed"
refused=$(free_port)
run_fetch "http://127.0.0.1:$refused/"
check "refused port exits 7" 7 "" "refused"

# ---- ahttp-serve: plain, HTTPS, expired certificate ----

# ahttp-serve with options; sets $port and $tls_port from what it prints.
start_serve() {
    local log="$work/serve.$RANDOM.log"
    timeout 120 "$serve" "$@" >"$log" 2>&1 &
    pids+=($!)
    if ! wait_for_text "$log" "listening"; then
        echo "ahttp-serve did not start:"
        cat "$log"
        return 1
    fi
    port=$(grep -o 'http://[^ ]*' "$log" | head -1 | sed 's#.*:\([0-9]*\)/#\1#')
    tls_port=$(grep -o 'https://[^ ]*' "$log" | head -1 | sed 's#.*:\([0-9]*\)/#\1#')
}

if start_serve --port 0 --https-port 0 --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"; then
    start=$(date +%s%N)
    run_fetch -m 1 "http://127.0.0.1:$port/sleep?ms=3000"
    elapsed=$((($(date +%s%N) - start) / 1000000))
    check "-m 1 against /sleep?ms=3000 exits 28" 28 "" "timeout"
    if [ "$elapsed" -gt 2500 ]; then
        fail "-m 1 took ${elapsed} ms"
    fi
    run_fetch --cacert "$certs/ca.pem" "https://127.0.0.1:$tls_port/hello"
    check "HTTPS with --cacert" 0 "^Hello, World!$"
    run_fetch --cacert "$certs/ca.pem" "https://localhost:$tls_port/hello"
    check "HTTPS by name (SNI, hostname check)" 0 "^Hello, World!$"
    run_fetch "https://127.0.0.1:$tls_port/hello"
    check "HTTPS with an unknown CA exits 60" 60 "" "certificate verify failed"
    run_fetch -k "https://127.0.0.1:$tls_port/hello"
    check "HTTPS with -k" 0 "^Hello, World!$"
    run_fetch --cacert "$work/no-such-ca.pem" "https://127.0.0.1:$tls_port/hello"
    check "missing --cacert file exits 77" 77 "" "no-such-ca.pem"
    run_fetch -s -w '%{http_code} %{size_download}\n' -d 'a=1' --data-binary '&b=2' \
        "http://127.0.0.1:$port/echo"
    check "-d and --data-binary POST, -w" 0 "^a=1&b=2200 7$"
    run_fetch -L -w '\n%{num_redirects} %{url_effective}\n' "http://127.0.0.1:$port/redirect/2"
    check "-L through ahttp-serve's /redirect/2" 0 "^[0-9] http://127.0.0.1:$port/"
else
    fail "ahttp-serve (plain + HTTPS) did not start"
fi

if start_serve --port 0 --https-port 0 --tls-cert "$certs/expired.pem" --tls-key "$certs/expired.key"; then
    run_fetch --cacert "$certs/ca.pem" "https://127.0.0.1:$tls_port/hello"
    check "expired certificate exits 60 and says why" 60 "" "expired"
else
    fail "ahttp-serve (expired certificate) did not start"
fi

# ---- nginx ----

if ! command -v nginx >/dev/null 2>&1; then
    skip "nginx" "not installed"
else
    ng="$work/nginx"
    mkdir -p "$ng/root/files" "$ng/tmp"
    chmod 755 "$work" "$ng" "$ng/root" "$ng/root/files"
    head -c $((10 * 1024 * 1024)) /dev/urandom >"$ng/root/files/big.bin"
    for i in $(seq 1 3000); do echo "line $i: all work and no play makes jack a dull boy"; done \
        >"$ng/root/files/text.txt"
    chmod 644 "$ng/root/files/"*
    nport=$(free_port)
    cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 256; }
http {
    access_log $ng/access.log;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    types { text/plain txt; application/octet-stream bin; }
    gzip on;
    gzip_types text/plain;
    gzip_min_length 100;
    server {
        listen 127.0.0.1:$nport;
        root $ng/root;
        location = /hello { default_type text/plain; return 200 "hello from nginx\n"; }
        location = /old { return 302 /hello; }
        location = /loop { return 302 /loop; }
    }
}
EOF
    timeout 120 nginx -p "$ng" -e "$ng/error.log" -c "$ng/nginx.conf" >"$ng/stdout.log" 2>&1 &
    pids+=($!)
    if ! wait_for_port "$nport"; then
        fail "nginx did not start" "$ng/error.log" "$ng/stdout.log"
    else
        base="http://127.0.0.1:$nport"
        run_fetch "$base/hello"
        check "nginx: GET" 0 "^hello from nginx$"

        run_fetch -s -o "$work/big.bin" -w '%{http_code} %{size_download}' "$base/files/big.bin"
        want=$(sha256sum <"$ng/root/files/big.bin" | cut -d' ' -f1)
        got=$(sha256sum <"$work/big.bin" 2>/dev/null | cut -d' ' -f1)
        if [ "$rc" = 0 ] && [ "$want" = "$got" ] && grep -q "^200 10485760$" "$work/out"; then
            pass "nginx: -o download of 10 MB, checksum equal"
        else
            fail "nginx: -o download (exit $rc, sha256 $got, want $want)" "$work/out" "$work/err"
        fi

        (cd "$work" && timeout 30 "$fetch" -s -O "$base/files/text.txt" >"$work/out" 2>"$work/err")
        rc=$?
        if [ "$rc" = 0 ] && cmp -s "$work/text.txt" "$ng/root/files/text.txt"; then
            pass "nginx: -O names the file after the URL"
        else
            fail "nginx: -O (exit $rc)" "$work/err"
        fi

        run_fetch -I "$base/files/big.bin"
        check "nginx: -I" 0 "^Content-Length: 10485760"
        if [ "$(grep -c . "$work/out")" -gt 12 ]; then
            fail "nginx: -I printed more than a head" "$work/out"
        fi

        run_fetch -L -w '\n%{num_redirects} %{url_effective}' "$base/old"
        check "nginx: -L follows return 302" 0 "^1 $base/hello$"
        run_fetch "$base/old"
        check "nginx: without -L the 302 is the answer" 0 "302 Found"
        run_fetch -L --max-redirs 5 "$base/loop"
        check "nginx: a redirect loop exits 47" 47 "" "too many redirects"

        run_fetch -f "$base/nope"
        check "nginx: -f on a 404 exits 22" 22 "" "404"
        run_fetch "$base/nope"
        check "nginx: a 404 without -f exits 0" 0 "404 Not Found"

        run_fetch -v --compressed "$base/files/text.txt"
        if [ "$rc" = 0 ] && grep -qi '^< Content-Encoding: gzip' "$work/err" &&
            cmp -s "$work/out" "$ng/root/files/text.txt"; then
            pass "nginx: --compressed gets gzip and decodes it"
        else
            fail "nginx: --compressed (exit $rc)" "$work/err"
        fi
        run_fetch -v "$base/files/text.txt"
        if [ "$rc" = 0 ] && ! grep -qi 'Content-Encoding' "$work/err" &&
            cmp -s "$work/out" "$ng/root/files/text.txt"; then
            pass "nginx: without --compressed no gzip is asked for"
        else
            fail "nginx: plain text (exit $rc)" "$work/err"
        fi

        urls=()
        for i in $(seq 1 40); do urls+=("$base/hello"); done
        run_fetch -Z --parallel-max 10 -w '%{http_code}\n' "${urls[@]}"
        # each transfer's output comes whole: its body, then its -w line
        if [ "$rc" = 0 ] && [ "$(grep -c '^200$' "$work/out")" = 40 ] &&
            [ "$(paste -d' ' - - <"$work/out" | grep -c '^hello from nginx 200$')" = 40 ]; then
            pass "nginx: -Z fetches 40 URLs concurrently"
        else
            fail "nginx: -Z (exit $rc)" "$work/out" "$work/err"
        fi
    fi
fi

# ---- Python's http.server: HTTP/1.0 ----

if [ ! -x "$python" ]; then
    skip "python http.server" "no $python"
else
    mkdir -p "$work/py"
    echo "served by python" >"$work/py/file.txt"
    (cd "$work/py" && exec timeout 120 "$python" -u -m http.server 0 --bind 127.0.0.1 \
        >"$work/py.log" 2>&1) &
    pids+=($!)
    if ! wait_for_text "$work/py.log" "Serving HTTP"; then
        fail "python http.server did not start" "$work/py.log"
    else
        pyport=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/py.log" | head -1)
        run_fetch -v "http://127.0.0.1:$pyport/file.txt"
        check "python http.server: HTTP/1.0 response" 0 "^served by python$" "^< HTTP/1.0 200"
        run_fetch -s -w '%{http_code}' "http://127.0.0.1:$pyport/file.txt" \
            "http://127.0.0.1:$pyport/file.txt"
        check "python http.server: two requests, one after the other" 0 "^200served by python$"
    fi
    # a body delimited by the end of the connection (no Content-Length at all)
    cat >"$work/eof_server.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"until the connection closes\n" * 1000)
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("port", s.server_address[1], flush=True)
s.serve_forever()
EOF
    timeout 120 "$python" -u "$work/eof_server.py" >"$work/eof.log" 2>&1 &
    pids+=($!)
    if ! wait_for_text "$work/eof.log" "port"; then
        fail "python close-delimited server did not start" "$work/eof.log"
    else
        eport=$(sed -n 's/^port \([0-9]*\)/\1/p' "$work/eof.log" | head -1)
        run_fetch -w '%{size_download}' "http://127.0.0.1:$eport/"
        check "python: close-delimited HTTP/1.0 body read to the end" 0 "^28000$"
    fi
fi

echo "fetch_interop: $passed passed, $failed failed"
[ "$failed" = 0 ]
