#!/usr/bin/env bash
# ahttp-fetch against real servers: nginx (static 10 MB download, the progress meter, HEAD,
# redirects, -f, gzip, parallel; cookies set with add_header and echoed from $http_cookie,
# through -c/-b files that curl reads and writes too; nginx as a forward proxy for http:// with
# -x, proxy credentials, http_proxy / no_proxy / --noproxy, and its refusal of CONNECT),
# Python's http.server (HTTP/1.0, and a close-delimited body), canned raw replies (a malformed
# chunk after a good one, two gzip members), a small Python CONNECT proxy in front of
# ahttp-serve's HTTPS, and ahttp-serve over HTTPS (a verified certificate, an expired one).
# --compressed %{size_download} is compared with curl's on nginx's gzip, the malformed chunk's
# output and exit code with curl's. Plus the exit codes of bad usage (2), a malformed URL (3, as
# curl), a refused port (7), a timeout (28), and a name that cannot be resolved (6, quickly, and
# silently with -s) when the name server on loopback is not there or never answers; and
# internationalised host names: refused (3) or sent and looked up as their A-labels.
# Every port is ephemeral, every wait is bounded by `timeout`, every background process is killed
# by PID on exit. Needs $top_builddir and $AH_CERTS (both exported by `make check`).
set -uo pipefail
# ahttp-fetch honours these as curl does: none from the caller's environment, only the tests' own.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

build="${top_builddir:-.}"
certs="${AH_CERTS:-$(cd "$(dirname "$0")/../../certs" && pwd)}"
fetch="$build/apps/ahttp-fetch"
serve="$build/apps/ahttp-serve"
python=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init fetch_interop

if [ ! -x "$fetch" ] || [ ! -x "$serve" ]; then
    echo "fetch_interop: $fetch or $serve not built"
    echo "fetch_interop: 0 passed, 1 failed"
    exit 1
fi
fetch="$(cd "$(dirname "$fetch")" && pwd)/$(basename "$fetch")" # -O runs it from elsewhere

# Run ahttp-fetch (bounded) with stdout to $work/out and stderr to $work/err; sets $rc.

# A port that is free now (the kernel's pick, released at once).

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
run_fetch $'http://\xcc\x81x.example/' # a label that starts with a combining mark
check "a host name IDNA refuses exits 3 and says so" 3 "" "URL malformed (a host name IDNA refuses: "
refused=$(free_port)
run_fetch "http://127.0.0.1:$refused/"
check "refused port exits 7" 7 "" "refused"

# No name server can be reached: a resolv.conf (AH_RESOLV_CONF) naming only a UDP port of
# loopback with nothing bound, so no query leaves the machine. Exit 6 within a fraction of a
# second, as curl, rather than 28 after the 10 s DNS timeout; -s prints nothing at all (not even
# libevent's "[msg]" lines), plain prints ahttp-fetch's own line only, -v adds why.
dead_dns=$($python -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
printf 'nameserver 127.0.0.1:%s\n' "$dead_dns" >"$work/resolv-dead.conf"
start_ns=$(date +%s%N)
AH_RESOLV_CONF="$work/resolv-dead.conf" run_fetch -s http://nonexistent.invalid/
took_ms=$((($(date +%s%N) - start_ns) / 1000000))
if [ "$rc" = 6 ] && [ ! -s "$work/err" ] && [ "$took_ms" -lt 3000 ]; then
    pass "no reachable name server: -s exits 6 in ${took_ms} ms, stderr empty"
else
    fail "no reachable name server: -s (exit $rc in ${took_ms} ms, want 6, quickly, silently)" \
        "$work/err"
fi
AH_RESOLV_CONF="$work/resolv-dead.conf" run_fetch http://nonexistent.invalid/
if [ "$rc" = 6 ] && [ "$(cat "$work/err")" = \
    "ahttp-fetch: (6) could not resolve host: nonexistent.invalid" ]; then
    pass "no reachable name server: exit 6, ahttp-fetch's own error line only"
else
    fail "no reachable name server: exit $rc (want 6 and one error line)" "$work/err"
fi
AH_RESOLV_CONF="$work/resolv-dead.conf" run_fetch -v http://nonexistent.invalid/
check "no reachable name server: -v says which one and why" 6 "" \
    "^\* name server 127.0.0.1:$dead_dns cannot be reached"
# an internationalised host name is looked up as its A-labels
AH_RESOLV_CONF="$work/resolv-dead.conf" run_fetch $'http://B\xc3\x9cCHER.example/'
check "IDN host: looked up as xn--bcher-kva.example" 6 "" \
    "could not resolve host: xn--bcher-kva.example$"

# A name server on loopback that never answers, with evdns's own limits made short: evdns gives
# up (exit 6, not a timeout of ahttp-fetch's) and logs "Nameserver ... has failed", a notice of
# the library's: a "* " line with -v, nothing otherwise (it used to print "[msg] ..." even with -s).
$python -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$work/silent-dns.port" &
pids+=($!)
if wait_for_text "$work/silent-dns.port" "[0-9]"; then
    printf 'nameserver 127.0.0.1:%s\noptions timeout:0.3 attempts:1\n' \
        "$(cat "$work/silent-dns.port")" >"$work/resolv-silent.conf"
    AH_RESOLV_CONF="$work/resolv-silent.conf" run_fetch -s http://nonexistent.invalid/
    if [ "$rc" = 6 ] && [ ! -s "$work/err" ]; then
        pass "evdns gives up on a silent name server: -s exits 6, stderr empty"
    else
        fail "evdns gives up on a silent name server: -s (exit $rc, want 6 and silence)" \
            "$work/err"
    fi
    AH_RESOLV_CONF="$work/resolv-silent.conf" run_fetch -v http://nonexistent.invalid/
    check "evdns gives up on a silent name server: -v shows its notice" 6 "" \
        "^\* Nameserver 127.0.0.1:.* has failed"
else
    fail "a silent name server on loopback did not start"
fi

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

serve_port=
serve_tls_port=
if start_serve --port 0 --https-port 0 --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"; then
    serve_port=$port
    serve_tls_port=$tls_port
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
    head -c 300000 /dev/urandom >"$work/upload.bin"
    run_fetch -s -T "$work/upload.bin" -X POST -o "$work/upload.echo" -w '%{http_code}\n' \
        "http://127.0.0.1:$port/echo"
    if [ "$rc" = 0 ] && cmp -s "$work/upload.bin" "$work/upload.echo"; then
        pass "-T FILE -X POST: the file's bytes echoed back"
    else
        fail "-T FILE -X POST (exit $rc, or the echo differs)" "$work/out" "$work/err"
    fi
    run_fetch -T "$work/no-such-upload" "http://127.0.0.1:$port/echo"
    check "missing -T file exits 26" 26 "" "no-such-upload"
    run_fetch -L -w '\n%{num_redirects} %{url_effective}\n' "http://127.0.0.1:$port/redirect/2"
    check "-L through ahttp-serve's /redirect/2" 0 "^[0-9] http://127.0.0.1:$port/"
    # an internationalised host through -x to ahttp-serve on loopback (nothing is looked up):
    # the request line and Host carry its A-labels
    run_fetch -v -x "http://127.0.0.1:$port" $'http://B\xc3\x9cCHER.example/hello'
    check "IDN host: Host is xn--bcher-kva.example (-x to ahttp-serve)" 0 "^Hello, World!$" \
        "^> Host: xn--bcher-kva.example$"
    if ! grep -q "^> GET http://xn--bcher-kva.example/hello HTTP/1.1" "$work/err"; then
        fail "IDN host: the absolute-form request line lacks the A-labels" "$work/err"
    fi
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
    pport=$(free_port) # nginx as a forward proxy (user:s3cret)
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
        location = /setcookie {
            add_header Set-Cookie "ngx=v1; Path=/; HttpOnly" always;
            add_header Set-Cookie "sess=s1" always;
            default_type text/plain;
            return 200 "set\n";
        }
        location = /cookie-redirect {
            add_header Set-Cookie "hop=h1; Path=/" always;
            return 302 /cookie;
        }
        location = /cookie { default_type text/plain; return 200 "cookie: \$http_cookie\n"; }
    }
    server {
        listen 127.0.0.1:$pport;
        access_log $ng/proxy.log;
        location / {
            if (\$http_proxy_authorization != "Basic dXNlcjpzM2NyZXQ=") {
                add_header Proxy-Authenticate 'Basic realm="proxy"' always;
                return 407;
            }
            proxy_pass http://\$http_host\$request_uri;
            proxy_set_header Proxy-Authorization "";
        }
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

        # The progress meter: on stderr when it is a terminal (script(1) gives it one), not
        # with -s, not when stderr is a file.
        if command -v script >/dev/null; then
            timeout 30 script -qec "'$fetch' -o '$work/meter.bin' '$base/files/big.bin'" \
                /dev/null >"$work/meter.tty" 2>&1
            rc=$?
            if [ "$rc" = 0 ] && grep -q "100.0% \[########################\] 10.0 MiB / 10.0 MiB" \
                "$work/meter.tty" && cmp -s "$work/meter.bin" "$ng/root/files/big.bin"; then
                pass "nginx: a download to a file shows the progress meter on a terminal"
            else
                fail "nginx: progress meter on a terminal (exit $rc)" "$work/meter.tty"
            fi
            timeout 30 script -qec "'$fetch' -s -o '$work/meter.bin' '$base/files/big.bin'" \
                /dev/null >"$work/meter.tty" 2>&1
            if ! grep -q "%" "$work/meter.tty"; then
                pass "nginx: -s hides the progress meter"
            else
                fail "nginx: -s hides the progress meter" "$work/meter.tty"
            fi
        else
            skip "nginx: progress meter" "no script(1)"
        fi
        run_fetch -o "$work/meter.bin" "$base/files/big.bin"
        if [ "$rc" = 0 ] && ! grep -q "%" "$work/err"; then
            pass "nginx: no progress meter when stderr is not a terminal"
        else
            fail "nginx: no progress meter when stderr is not a terminal (exit $rc)" "$work/err"
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
        run_fetch -L --max-redirs 0 "$base/old"
        check "nginx: -L --max-redirs 0 on a redirect exits 47 as curl" 47 "" "Maximum (0) redirects"

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
        # curl's size_download is the body as received: gzip-encoded (nginx sends it chunked;
        # the chunk framing does not count), not the decoded text ahttp-fetch writes
        if command -v curl >/dev/null 2>&1; then
            run_fetch -s --compressed -o /dev/null -w '%{size_download}' "$base/files/text.txt"
            want=$(timeout 30 curl -s --compressed -o /dev/null -w '%{size_download}' \
                "$base/files/text.txt")
            decoded=$(wc -c <"$ng/root/files/text.txt")
            if [ "$rc" = 0 ] && [ "$(cat "$work/out")" = "$want" ] && [ "$want" -gt 0 ] &&
                [ "$want" -lt "$decoded" ]; then
                pass "nginx: --compressed %{size_download} is curl's ($want encoded bytes)"
            else
                got=$(cat "$work/out")
                fail "nginx: --compressed %{size_download} $got, curl $want (exit $rc)" "$work/err"
            fi
        else
            skip "--compressed %{size_download} against curl" "curl not installed"
        fi
        run_fetch -v "$base/files/text.txt"
        if [ "$rc" = 0 ] && ! grep -qi 'Content-Encoding' "$work/err" &&
            cmp -s "$work/out" "$ng/root/files/text.txt"; then
            pass "nginx: without --compressed no gzip is asked for"
        else
            fail "nginx: plain text (exit $rc)" "$work/err"
        fi

        # cookies: -c writes the jar at the end, -b reads it back (curl's file format both ways)
        run_fetch -c "$work/jar.txt" "$base/setcookie"
        if [ "$rc" = 0 ] && grep -q $'^#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tngx\tv1$' "$work/jar.txt" &&
            grep -q $'^127.0.0.1\tFALSE\t/\tFALSE\t0\tsess\ts1$' "$work/jar.txt"; then
            pass "nginx: -c writes Set-Cookie's cookies to a Netscape cookie file"
        else
            fail "nginx: -c (exit $rc)" "$work/jar.txt" "$work/err"
        fi
        run_fetch -b "$work/jar.txt" "$base/cookie"
        check "nginx: -b FILE sends them back" 0 "^cookie: ngx=v1; sess=s1$"
        run_fetch -b "" "$base/setcookie" "$base/cookie"
        check "nginx: -b \"\" keeps cookies from one URL to the next" 0 "^cookie: ngx=v1; sess=s1$"
        run_fetch "$base/setcookie" "$base/cookie"
        check "nginx: no cookie engine without -b/-c" 0 "^cookie: $"
        run_fetch -b 'a=1; b=2' "$base/cookie"
        check "nginx: -b NAME=VALUE is sent as given" 0 "^cookie: a=1; b=2$"
        run_fetch -L -b "" "$base/cookie-redirect"
        check "nginx: a cookie set by a redirect goes with the next hop" 0 "^cookie: hop=h1$"
        run_fetch -s -c - "$base/setcookie"
        check "nginx: -c - writes the jar to stdout" 0 $'^127.0.0.1\tFALSE\t/\tFALSE\t0\tsess\ts1$'
        if command -v curl >/dev/null 2>&1; then
            out=$(timeout 30 curl -s -b "$work/jar.txt" "$base/cookie" 2>&1)
            if [ "$out" = "cookie: sess=s1; ngx=v1" ] || [ "$out" = "cookie: ngx=v1; sess=s1" ]; then
                pass "curl reads the cookie file ahttp-fetch wrote"
            else
                fail "curl -b on ahttp-fetch's file: '$out'" "$work/jar.txt"
            fi
            timeout 30 curl -s -o /dev/null -c "$work/curljar.txt" "$base/setcookie"
            run_fetch -b "$work/curljar.txt" "$base/cookie"
            if [ "$rc" = 0 ] && grep -q "^cookie: " "$work/out" && grep -q "ngx=v1" "$work/out" &&
                grep -q "sess=s1" "$work/out"; then
                pass "ahttp-fetch reads the cookie file curl wrote"
            else
                fail "ahttp-fetch -b on curl's file (exit $rc)" "$work/curljar.txt" "$work/out" "$work/err"
            fi
        else
            skip "cookie files with curl" "curl not installed"
        fi

        # nginx as a forward proxy: absolute-form requests, credentials, the environment
        proxy="http://user:s3cret@127.0.0.1:$pport"
        # how many requests for 127.0.0.1:$1... the proxy has logged
        proxied() { grep -c "\"GET http://127.0.0.1:$1" "$ng/proxy.log" 2>/dev/null || true; }
        run_fetch -x "$proxy" "$base/hello"
        check "nginx proxy: -x carries http:// in absolute form" 0 "^hello from nginx$"
        if [ "$(proxied "$nport/hello HTTP/1.1\" 200")" != 1 ]; then
            fail "nginx proxy: its log lacks the absolute-form request" "$ng/proxy.log"
        fi
        if [ -n "$serve_port" ]; then
            run_fetch -x "$proxy" "http://127.0.0.1:$serve_port/hello"
            check "nginx proxy: to ahttp-serve" 0 "^Hello, World!$"
        fi
        run_fetch -i -x "http://127.0.0.1:$pport" "$base/hello"
        check "nginx proxy: without credentials its 407 is the answer" 0 "^HTTP/1.1 407"
        run_fetch -f -x "http://wrong:pass@127.0.0.1:$pport" "$base/hello"
        check "nginx proxy: wrong credentials with -f exit 22" 22 "" "407"
        before=$(proxied "$nport")
        http_proxy="$proxy" run_fetch "$base/hello"
        check "nginx proxy: http_proxy from the environment" 0 "^hello from nginx$"
        if [ "$(proxied "$nport")" != $((before + 1)) ]; then
            fail "nginx proxy: http_proxy was not used" "$ng/proxy.log"
        fi
        http_proxy="$proxy" no_proxy="localhost,127.0.0.1" run_fetch "$base/hello"
        check "nginx proxy: no_proxy goes direct" 0 "^hello from nginx$"
        http_proxy="$proxy" run_fetch --noproxy '*' "$base/hello"
        check "nginx proxy: --noproxy '*' goes direct" 0 "^hello from nginx$"
        run_fetch -x "$proxy" --noproxy 127.0.0.0/8 "$base/hello"
        check "nginx proxy: --noproxy with a CIDR block goes direct" 0 "^hello from nginx$"
        http_proxy="$proxy" run_fetch -x "" "$base/hello"
        check "nginx proxy: -x \"\" ignores the environment" 0 "^hello from nginx$"
        if [ "$(proxied "$nport")" != $((before + 1)) ]; then
            fail "nginx proxy: a request meant to go direct went through it" "$ng/proxy.log"
        fi
        run_fetch -b "" -x "$proxy" "$base/setcookie" "$base/cookie"
        check "nginx proxy: cookies through the proxy" 0 "^cookie: ngx=v1; sess=s1$"
        if [ -n "$serve_tls_port" ]; then
            run_fetch --cacert "$certs/ca.pem" -x "$proxy" "https://127.0.0.1:$serve_tls_port/hello"
            check "nginx proxy: a refused CONNECT exits 56 and says so" 56 "" \
                "proxy CONNECT refused: 400"
        fi
        run_fetch -x "socks5://127.0.0.1:$pport" "$base/hello"
        check "an unsupported proxy scheme exits 5" 5 "" "unsupported proxy scheme"

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

# ---- canned raw replies (Python): what curl makes of broken or unusual bodies ----

if [ ! -x "$python" ]; then
    skip "raw replies" "no $python"
else
    cat >"$work/raw_server.py" <<'EOF'
import gzip, socketserver
members = gzip.compress(b"part one\n") + gzip.compress(b"part two\n")
REPLIES = {
    # a chunk, then a chunk-size line that is not hex
    "/chunk-then-garbage": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5\r\nhello\r\nZZ\r\n",
    # a bare CR where the empty line should be: llhttp 8.1.0 built lenient took it as the end
    # of the head and ahttp-fetch died of SIGSEGV (exit 139); a weird server reply is exit 8
    "/bare-cr-body": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\rhello",
    "/bare-cr-status": b"HTTP/1.1 200 OK\r\r\n\r\n",
    # chunk data not followed by CRLF: was accepted as "helloabc"
    "/chunk-no-crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
    # a transfer coding the client does not decode: curl says 61 (unrecognized)
    "/te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                        b"3\r\nabc\r\n0\r\n\r\n",
    # two gzip members one after the other (RFC 1952 section 2.2)
    "/gzip-members": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(members), members),
}
class H(socketserver.StreamRequestHandler):
    def handle(self):
        first = self.rfile.readline(8192).decode("latin-1")
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass
        path = first.split(" ")[1] if first.count(" ") >= 2 else "/"
        self.wfile.write(REPLIES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
s = S(("127.0.0.1", 0), H)
print("port", s.server_address[1], "gzip-members", len(members), flush=True)
s.serve_forever()
EOF
    timeout 120 "$python" -u "$work/raw_server.py" >"$work/raw.log" 2>&1 &
    pids+=($!)
    if ! wait_for_text "$work/raw.log" "port"; then
        fail "python raw reply server did not start" "$work/raw.log"
    else
        rport=$(sed -n 's/^port \([0-9]*\).*/\1/p' "$work/raw.log" | head -1)
        members_len=$(sed -n 's/.* gzip-members \([0-9]*\)$/\1/p' "$work/raw.log" | head -1)
        # curl writes the chunk it decoded, then fails with 56
        run_fetch "http://127.0.0.1:$rport/chunk-then-garbage"
        if [ "$rc" = 56 ] && [ "$(cat "$work/out")" = "hello" ] &&
            grep -q "malformed chunked body" "$work/err"; then
            pass "raw: a malformed chunk after 'hello' writes hello, then exits 56"
        else
            fail "raw: malformed chunk after 'hello' (exit $rc, want 56 and 'hello' written)" \
                "$work/out" "$work/err"
        fi
        if command -v curl >/dev/null 2>&1; then
            timeout 30 curl -s "http://127.0.0.1:$rport/chunk-then-garbage" >"$work/curl.out"
            crc=$?
            if [ "$crc" = "$rc" ] && cmp -s "$work/curl.out" "$work/out"; then
                pass "raw: curl writes and exits the same on the malformed chunk ($crc)"
            else
                fail "raw: on the malformed chunk curl exits $crc, ahttp-fetch $rc; their output:" \
                    "$work/curl.out" "$work/out"
            fi
        fi
        for path in bare-cr-body bare-cr-status; do
            run_fetch "http://127.0.0.1:$rport/$path"
            if [ "$rc" = 8 ] && grep -q "a CR not followed by LF" "$work/err"; then
                pass "raw: /$path (a bare CR in the head) exits 8, weird server reply"
            else
                fail "raw: /$path (exit $rc, want 8 and the reason)" "$work/out" "$work/err"
            fi
        done
        run_fetch "http://127.0.0.1:$rport/chunk-no-crlf"
        if [ "$rc" = 56 ] && [ "$(cat "$work/out")" = "hello" ]; then
            pass "raw: chunk data not followed by CRLF writes hello, then exits 56 (as curl)"
        else
            fail "raw: chunk data without its CRLF (exit $rc, want 56 and 'hello' written)" \
                "$work/out" "$work/err"
        fi
        run_fetch "http://127.0.0.1:$rport/te-gzip-chunked"
        check "raw: Transfer-Encoding: gzip, chunked exits 61, as curl" 61 "" \
            "unsupported transfer coding"
        # %{size_download} counts the gzip bytes received, not the 18 decoded ones
        run_fetch -s --compressed -w '\n%{size_download}' "http://127.0.0.1:$rport/gzip-members"
        if [ "$rc" = 0 ] && [ "$(head -2 "$work/out")" = $'part one\npart two' ] &&
            [ "$(tail -1 "$work/out")" = "$members_len" ]; then
            pass "raw: two gzip members decoded, %{size_download} is their $members_len bytes"
        else
            fail "raw: two gzip members (exit $rc, want size $members_len)" "$work/out" "$work/err"
        fi
    fi
fi

# ---- a CONNECT proxy (Python) in front of ahttp-serve's HTTPS ----

if [ ! -x "$python" ] || [ -z "$serve_tls_port" ]; then
    skip "CONNECT proxy" "no $python or no ahttp-serve"
else
    cat >"$work/connect_proxy.py" <<'EOF'
import socket, socketserver, threading
AUTH = "Basic dXNlcjpzM2NyZXQ="  # user:s3cret
class H(socketserver.StreamRequestHandler):
    def handle(self):
        head = []
        while True:
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                break
            head.append(line.decode("latin-1").rstrip("\r\n"))
        if not head:
            return
        method, target, _ = head[0].split(" ", 2)
        auth = [h.split(":", 1)[1].strip() for h in head[1:]
                if h.lower().startswith("proxy-authorization:")]
        print(head[0], "auth" if auth == [AUTH] else "noauth", flush=True)
        if method != "CONNECT" or auth != [AUTH]:
            self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Content-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        def pipe(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=pipe, args=(upstream, self.connection), daemon=True)
        t.start()
        pipe(self.connection, upstream)
        t.join(10)
        upstream.close()
class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
s = S(("127.0.0.1", 0), H)
print("port", s.server_address[1], flush=True)
s.serve_forever()
EOF
    timeout 120 "$python" -u "$work/connect_proxy.py" >"$work/connect.log" 2>&1 &
    pids+=($!)
    if ! wait_for_text "$work/connect.log" "port"; then
        fail "python CONNECT proxy did not start" "$work/connect.log"
    else
        cport=$(sed -n 's/^port \([0-9]*\)/\1/p' "$work/connect.log" | head -1)
        cproxy="http://user:s3cret@127.0.0.1:$cport"
        tls_base="https://127.0.0.1:$serve_tls_port"
        run_fetch --cacert "$certs/ca.pem" -x "$cproxy" "https://localhost:$serve_tls_port/hello"
        check "CONNECT proxy: HTTPS through the tunnel, the origin's certificate verified" 0 \
            "^Hello, World!$"
        if ! grep -q "^CONNECT localhost:$serve_tls_port HTTP/1.1 auth$" "$work/connect.log"; then
            fail "CONNECT proxy: no authenticated CONNECT localhost:$serve_tls_port" "$work/connect.log"
        fi
        https_proxy="$cproxy" run_fetch "$tls_base/hello"
        check "CONNECT proxy: https_proxy from the environment; unknown CA exits 60" 60 "" \
            "certificate verify failed"
        tunnels=$(grep -c "^CONNECT" "$work/connect.log")
        https_proxy="$cproxy" run_fetch --cacert "$certs/ca.pem" "$tls_base/hello" "$tls_base/hello"
        check "CONNECT proxy: two requests" 0 "^Hello, World!Hello, World!$"
        if [ "$(grep -c "^CONNECT" "$work/connect.log")" != $((tunnels + 1)) ]; then
            fail "CONNECT proxy: two requests did not share one tunnel" "$work/connect.log"
        fi
        run_fetch --cacert "$certs/ca.pem" -x "http://127.0.0.1:$cport" "$tls_base/hello"
        check "CONNECT proxy: a 407 to CONNECT exits 56 with the status" 56 "" \
            "proxy CONNECT refused: 407 Proxy Authentication Required"
    fi
fi

echo "fetch_interop: $passed passed, $failed failed"
[ "$failed" = 0 ]
