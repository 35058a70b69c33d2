#!/usr/bin/env bash
# ahttp-fetch against peers written by others:
#  1. an aiohttp.web server (Debian's python3-aiohttp): plain text, chunked StreamResponses, gzip
#     and deflate with --compressed, POST echo of -d / --data-binary @FILE, a redirect chain with
#     -L and the 301/302/303 POST-to-GET rule (307 keeps the POST), keep-alive seen from the
#     server's side (the peer's port), HEAD with -I, and a 404 with -f (exit 22);
#  2. a 1 GiB download from nginx (sendfile, one worker) over HTTP and HTTPS, to a file and to a
#     pipe, checked by sha256 and %{size_download};
#  3. certificate refusals (exit 60 and the reason on stderr) from `openssl s_server -www` and
#     from nginx: a good certificate, an expired one, one for another host, a self-signed one,
#     and -k accepting the bad ones;
#  4. keep-alive counted from nginx's own access log ($connection, $connection_requests): N URLs
#     in one invocation use one connection, and -Z --parallel-max 4 never more than 4.
# aiohttp and s_server listen on port 0 and say which port they got; nginx cannot, so its ports
# are picked free and it is restarted on fresh ones (at most 5 times) if one was taken meanwhile.
# Every wait is bounded by `timeout`, every background process is killed by PID on exit, and the
# big files go with the work directory. Needs $top_builddir and $AH_CERTS (`make check` exports
# both). Python is always Debian's /usr/bin/python3, never the one on PATH.
set -uo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

build="${top_builddir:-.}"
certs="${AH_CERTS:-$(cd "$(dirname "$0")/../../certs" && pwd)}"
fetch="$build/apps/ahttp-fetch"
python=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init peers_interop

if [ ! -x "$fetch" ]; then
    echo "peers_interop: $fetch not built"
    echo "peers_interop: 0 passed, 1 failed"
    exit 1
fi

fail() {
    echo "FAIL: $1"
    shift
    for f in "$@"; do
        [ -f "$f" ] && tail -20 "$f" | awk '{ print "    | " $0 }'
    done
    failed=$((failed + 1))
}

# Run ahttp-fetch (bounded) with stdout to $work/out and stderr to $work/err; sets $rc.

# check_file NAME EXPECTED_RC FILE: the exit status, and stdout byte for byte equal to FILE.
check_file() {
    if [ "$rc" != "$2" ]; then
        fail "$1 (exit $rc, want $2)" "$work/err"
    elif ! cmp -s "$work/out" "$3"; then
        fail "$1 (stdout differs from $(basename "$3"): $(wc -c <"$work/out") bytes)" "$work/err"
    else
        pass "$1"
    fi
}

have_python=0
have_aiohttp=0
if [ -x "$python" ] && "$python" -c 'import socket' 2>/dev/null; then
    have_python=1
    "$python" -c 'import aiohttp' 2>/dev/null && have_aiohttp=1
fi
have_nginx=0
command -v nginx >/dev/null 2>&1 && [ $have_python = 1 ] && have_nginx=1
have_openssl=0
command -v openssl >/dev/null 2>&1 && have_openssl=1

# ---- 1. aiohttp.web ----

if [ $have_aiohttp = 0 ]; then
    skip "aiohttp server" "no aiohttp for $python (python3-aiohttp)"
else
    for i in $(seq 1 3000); do echo "line $i: all work and no play makes jack a dull boy"; done \
        >"$work/text.txt"
    head -c 300000 /dev/urandom >"$work/blob.bin"
    cat >"$work/aio_server.py" <<'EOF'
import asyncio, random, sys
from aiohttp import web

text = open(sys.argv[1], "rb").read()
blob = open(sys.argv[2], "rb").read()

async def hello(request):
    return web.Response(text="hello from aiohttp\n")

async def stream_lines(request):
    # no Content-Length: aiohttp sends it chunked, one chunk per write, some after a pause
    resp = web.StreamResponse()
    resp.content_type = "text/plain"
    await resp.prepare(request)
    for i in range(100):
        await resp.write(b"chunk %d\n" % i)
        if i % 10 == 0:
            await asyncio.sleep(0.01)
    await resp.write_eof()
    return resp

async def stream_blob(request):
    # the blob in chunks of odd sizes, so chunk boundaries fall anywhere
    resp = web.StreamResponse()
    resp.content_type = "application/octet-stream"
    await resp.prepare(request)
    rnd = random.Random(7)
    i = 0
    while i < len(blob):
        n = rnd.randint(1, 8191)
        await resp.write(blob[i:i + n])
        i += n
    await resp.write_eof()
    return resp

def accepts(request, coding):
    return coding in request.headers.get("Accept-Encoding", "")

async def gzipped(request):
    # gzip whenever the client accepts it (aiohttp's own pick would be deflate)
    resp = web.Response(body=text, content_type="text/plain")
    if accepts(request, "gzip"):
        resp.enable_compression(web.ContentCoding.gzip)
    return resp

async def deflated(request):
    resp = web.Response(body=text, content_type="text/plain")
    if accepts(request, "deflate"):
        resp.enable_compression(web.ContentCoding.deflate)
    return resp

async def gzip_stream(request):
    # gzip on top of chunked: compressed on the fly, no Content-Length
    resp = web.StreamResponse()
    resp.content_type = "text/plain"
    if accepts(request, "gzip"):
        resp.enable_compression(web.ContentCoding.gzip)
    await resp.prepare(request)
    for i in range(0, len(text), 5000):
        await resp.write(text[i:i + 5000])
    await resp.write_eof()
    return resp

async def echo(request):
    body = await request.read()
    return web.Response(body=body, headers={
        "X-Method": request.method,
        "X-Req-Type": request.headers.get("Content-Type", "-"),
        "X-Req-Length": str(len(body))})

async def method(request):
    body = await request.read()
    return web.Response(text="%s %d %s\n" % (request.method, len(body), body.decode("latin-1")))

async def chain(request):
    n = int(request.match_info["n"])
    raise web.HTTPFound("/text" if n <= 1 else "/r/%d" % (n - 1))

async def r301(request):
    raise web.HTTPMovedPermanently("/method")

async def r302(request):
    raise web.HTTPFound("/method")

async def r303(request):
    raise web.HTTPSeeOther("/method")

async def r307(request):
    raise web.HTTPTemporaryRedirect("/method")

async def peer(request):
    # the client's port: the same port twice means the same TCP connection
    return web.Response(text="peer %d\n" % request.transport.get_extra_info("peername")[1])

async def main():
    app = web.Application()
    app.router.add_get("/text", hello)
    app.router.add_get("/stream", stream_lines)
    app.router.add_get("/streambin", stream_blob)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/deflate", deflated)
    app.router.add_get("/gzipstream", gzip_stream)
    app.router.add_post("/echo", echo)
    app.router.add_route("*", "/method", method)
    app.router.add_get("/r/{n}", chain)
    app.router.add_route("*", "/r301", r301)
    app.router.add_route("*", "/r302", r302)
    app.router.add_route("*", "/r303", r303)
    app.router.add_route("*", "/r307", r307)
    app.router.add_get("/peer", peer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print("port", runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
EOF
    timeout 120 "$python" -u "$work/aio_server.py" "$work/text.txt" "$work/blob.bin" \
        >"$work/aio.log" 2>&1 </dev/null &
    pids+=($!)
    if ! wait_for_text "$work/aio.log" "^port "; then
        fail "aiohttp server did not start" "$work/aio.log"
    else
        aport=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$work/aio.log" | head -1)
        abase="http://127.0.0.1:$aport"

        run_fetch -v "$abase/text"
        check "aiohttp: GET text" 0 "^hello from aiohttp$" "^< Content-Length: 19"

        for i in $(seq 0 99); do echo "chunk $i"; done >"$work/chunks.txt"
        run_fetch -v "$abase/stream"
        check_file "aiohttp: chunked StreamResponse, 100 writes with pauses" 0 "$work/chunks.txt"
        if ! grep -qi '^< Transfer-Encoding: chunked' "$work/err"; then
            fail "aiohttp: /stream was not chunked" "$work/err"
        fi
        run_fetch -s "$abase/streambin"
        check_file "aiohttp: chunked StreamResponse of 300000 random bytes in odd chunks" 0 \
            "$work/blob.bin"

        run_fetch -v --compressed "$abase/gzip"
        check_file "aiohttp: --compressed decodes gzip" 0 "$work/text.txt"
        if ! grep -qi '^< Content-Encoding: gzip' "$work/err" ||
            ! grep -qi '^> Accept-Encoding: .*gzip' "$work/err"; then
            fail "aiohttp: /gzip did not go gzip-encoded" "$work/err"
        fi
        run_fetch -v --compressed "$abase/deflate"
        check_file "aiohttp: --compressed decodes deflate" 0 "$work/text.txt"
        if ! grep -qi '^< Content-Encoding: deflate' "$work/err"; then
            fail "aiohttp: /deflate did not go deflate-encoded" "$work/err"
        fi
        run_fetch -v --compressed "$abase/gzipstream"
        check_file "aiohttp: --compressed decodes gzip on top of chunked" 0 "$work/text.txt"
        if ! grep -qi '^< Content-Encoding: gzip' "$work/err" ||
            ! grep -qi '^< Transfer-Encoding: chunked' "$work/err"; then
            fail "aiohttp: /gzipstream was not chunked gzip" "$work/err"
        fi
        run_fetch -v "$abase/gzip"
        check_file "aiohttp: without --compressed no encoding is asked for" 0 "$work/text.txt"
        if grep -qi 'Accept-Encoding\|Content-Encoding' "$work/err"; then
            fail "aiohttp: an encoding was negotiated without --compressed" "$work/err"
        fi

        printf 'a=1\r\nb=2\n&c=3\n' >"$work/form.txt"
        run_fetch -i -d @"$work/form.txt" "$abase/echo"
        check "aiohttp: -d @FILE posts it as a form, CR and LF removed" 0 "^a=1b=2&c=3$"
        if ! grep -q '^X-Method: POST' "$work/out" ||
            ! grep -q '^X-Req-Type: application/x-www-form-urlencoded' "$work/out" ||
            ! grep -q '^X-Req-Length: 10' "$work/out"; then
            fail "aiohttp: -d @FILE: the server saw another method, type or length" "$work/out"
        fi
        run_fetch -d x=1 -d y=2 "$abase/echo"
        check "aiohttp: two -d joined with &" 0 "^x=1&y=2$"
        run_fetch -s --data-binary @"$work/blob.bin" -o "$work/echo.bin" \
            -w '%{http_code} %{size_download}' "$abase/echo"
        if [ "$rc" = 0 ] && grep -q '^200 300000$' "$work/out" &&
            cmp -s "$work/echo.bin" "$work/blob.bin"; then
            pass "aiohttp: --data-binary @FILE of 300000 random bytes echoed byte for byte"
        else
            fail "aiohttp: --data-binary @FILE (exit $rc)" "$work/out" "$work/err"
        fi

        run_fetch -L -w '\n%{http_code} %{num_redirects} %{url_effective}' "$abase/r/3"
        check "aiohttp: -L through a chain of three 302s" 0 "^200 3 $abase/text$"
        if ! grep -q "^hello from aiohttp$" "$work/out"; then
            fail "aiohttp: -L chain did not end with the text" "$work/out"
        fi
        run_fetch -w '%{http_code} %{num_redirects}' "$abase/r/3"
        check "aiohttp: without -L the 302 is the answer" 0 "302 0$"
        run_fetch -L --max-redirs 2 "$abase/r/3"
        check "aiohttp: -L --max-redirs 2 on three redirects exits 47" 47 "" "redirects"
        for code in 301 302 303; do
            run_fetch -v -L -d a=1 "$abase/r$code"
            check "aiohttp: POST -L through a $code becomes a GET without body" 0 "^GET 0 $" \
                "^> GET /method HTTP/1.1"
        done
        run_fetch -v -L -d a=1 "$abase/r307"
        check "aiohttp: POST -L through a 307 stays a POST with its body" 0 "^POST 3 a=1$" \
            "^> POST /method HTTP/1.1"
        run_fetch -L -X PUT -d a=1 "$abase/r302"
        check "aiohttp: -X PUT -L through a 302 keeps PUT (curl's rule: only POST changes)" 0 \
            "^PUT 3 a=1$"

        # keep-alive: the server sees one client port for every request of one run
        peers_one_connection() {
            local name=$1 n=$2
            shift 2
            run_fetch "$@"
            local lines ports
            lines=$(grep -c '^peer [0-9]*$' "$work/out")
            ports=$(sort -u "$work/out" | grep -c '^peer ')
            if [ "$rc" = 0 ] && [ "$lines" = "$n" ] && [ "$ports" = 1 ]; then
                pass "$name"
            else
                fail "$name (exit $rc, $lines answers from $ports client ports)" "$work/out" \
                    "$work/err"
            fi
        }
        peers_one_connection "aiohttp: three URLs one after the other share one connection" 3 \
            "$abase/peer" "$abase/peer" "$abase/peer"
        peers_one_connection "aiohttp: -Z --parallel-max 1 runs two URLs on one connection" 2 \
            -Z --parallel-max 1 "$abase/peer" "$abase/peer"
        peers_one_connection "aiohttp: a redirect and its target share one connection" 2 \
            -L "$abase/peer" "$abase/r/1" "$abase/peer"
        run_fetch -Z --parallel-max 2 "$abase/stream" "$abase/peer" "$abase/peer"
        if [ "$rc" = 0 ] && [ "$(grep -c '^peer ' "$work/out")" = 2 ] &&
            [ "$(grep -c '^chunk ' "$work/out")" = 100 ]; then
            pass "aiohttp: -Z --parallel-max 2 with a slow stream beside two quick URLs"
        else
            fail "aiohttp: -Z --parallel-max 2 (exit $rc)" "$work/out" "$work/err"
        fi

        start=$(date +%s%N)
        run_fetch -I "$abase/text"
        elapsed=$((($(date +%s%N) - start) / 1000000))
        check "aiohttp: -I sends HEAD and writes the head" 0 "^Content-Length: 19"
        if ! grep -q '^HTTP/1.1 200 OK' "$work/out" ||
            grep -q 'hello from aiohttp' "$work/out"; then
            fail "aiohttp: -I output is not a bare 200 head" "$work/out"
        fi
        if [ "$elapsed" -gt 5000 ]; then
            fail "aiohttp: -I took $elapsed ms (waited for a body HEAD does not have?)"
        fi
        run_fetch -I "$abase/text" "$abase/peer"
        if [ "$rc" = 0 ] && [ "$(grep -c '^HTTP/1.1 200 OK' "$work/out")" = 2 ] &&
            ! grep -q '^peer ' "$work/out"; then
            pass "aiohttp: -I on two URLs, the second on the connection after a HEAD"
        else
            fail "aiohttp: -I on two URLs (exit $rc)" "$work/out" "$work/err"
        fi

        run_fetch -f "$abase/nope"
        check "aiohttp: -f on a 404 exits 22" 22 "" "404"
        if [ -s "$work/out" ]; then
            fail "aiohttp: -f on a 404 wrote a body" "$work/out"
        fi
        run_fetch -w '%{http_code}' "$abase/nope"
        check "aiohttp: a 404 without -f exits 0 with aiohttp's body" 0 "^404: Not Found404$"
    fi
fi

# ---- nginx: one instance for the download, the certificates and the access log ----

ng="$work/nginx"
ng_up=0
# nginx_ready: nginx writes its pid file only once every listening socket is bound (a port that
# answers before that may be someone else's); then each port must take a connection.
nginx_ready() {
    [ -s "$ng/nginx.pid" ] || return 1
    local p
    for p in "${ng_ports[@]}"; do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
    done
}
# start_nginx: writes the config for the five ports in ng_ports and starts nginx; 0 once every
# port listens, 1 if nginx died (the reason in its error log) or did not come up in 10 s.
start_nginx() {
    nport=${ng_ports[0]} sport=${ng_ports[1]} eport=${ng_ports[2]} wport=${ng_ports[3]}
    xport=${ng_ports[4]}
    cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 256; }
http {
    log_format conn '\$connection \$connection_requests \$status \$request_uri';
    access_log $ng/access.log conn;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    types { application/octet-stream bin; }
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000;
    keepalive_timeout 60s;
    ssl_certificate_key $certs/server.key;
    server {
        listen 127.0.0.1:$nport;
        listen 127.0.0.1:$sport ssl;
        ssl_certificate $certs/server.pem;
        root $ng/root;
        location = /hello { default_type text/plain; return 200 "hello from nginx\n"; }
        location = /k { default_type text/plain; return 200 "k \$arg_i\n"; }
    }
    server {
        listen 127.0.0.1:$eport ssl;
        ssl_certificate $certs/expired.pem;
        ssl_certificate_key $certs/expired.key;
        location / { default_type text/plain; return 200 "expired\n"; }
    }
    server {
        listen 127.0.0.1:$wport ssl;
        ssl_certificate $certs/wronghost.pem;
        ssl_certificate_key $certs/wronghost.key;
        location / { default_type text/plain; return 200 "wronghost\n"; }
    }
    server {
        listen 127.0.0.1:$xport ssl;
        ssl_certificate $certs/selfsigned.pem;
        ssl_certificate_key $certs/selfsigned.key;
        location / { default_type text/plain; return 200 "selfsigned\n"; }
    }
}
EOF
    : >"$ng/error.log"
    rm -f "$ng/nginx.pid"
    timeout 120 nginx -p "$ng" -e "$ng/error.log" -c "$ng/nginx.conf" >"$ng/stdout.log" 2>&1 \
        </dev/null &
    ng_pid=$!
    local deadline=$(($(date +%s) + 10))
    until nginx_ready; do
        if ! kill -0 "$ng_pid" 2>/dev/null || [ "$(date +%s)" -ge $deadline ]; then
            kill "$ng_pid" 2>/dev/null
            wait "$ng_pid" 2>/dev/null
            return 1
        fi
        sleep 0.05
    done
    pids+=("$ng_pid")
    return 0
}

if [ $have_nginx = 0 ]; then
    skip "nginx" "nginx or $python not installed"
else
    mkdir -p "$ng/root" "$ng/tmp"
    # nginx's worker may run as nobody: it must be able to read the tree
    chmod 755 "$work" "$ng" "$ng/root"
    for _ in 1 2 3 4 5; do
        read -ra ng_ports < <(free_ports 5)
        if start_nginx; then
            ng_up=1
            break
        fi
        grep -q 'Address already in use' "$ng/error.log" "$ng/stdout.log" || break
    done
    if [ $ng_up = 0 ]; then
        fail "nginx did not start" "$ng/error.log" "$ng/stdout.log"
    fi
fi

# ---- 2. 1 GiB from nginx, checksummed ----

# the file and one copy of it at a time
free_kib=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
if [ $ng_up = 1 ] && [ "${free_kib:-0}" -lt $((3 * 1024 * 1024)) ]; then
    skip "nginx: 1 GiB download" "less than 3 GiB free in ${TMPDIR:-/tmp}"
elif [ $ng_up = 1 ]; then
    big="$ng/root/big.bin"
    got="$work/got.bin"
    size=$((1024 * 1024 * 1024))
    # AES-CTR over zeros: a fixed pseudo-random stream, made at the speed of the disk
    want=$(openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
        -iv f0e0d0c0b0a090807060504030201000 -in /dev/zero 2>/dev/null | head -c $size |
        tee "$big" | sha256sum | cut -d' ' -f1)
    chmod 644 "$big"
    if [ "$(stat -c %s "$big")" != $size ] || [ "$want" = "$(head -c $size /dev/zero | sha256sum |
        cut -d' ' -f1)" ]; then
        fail "could not make the 1 GiB file"
    else
        # big_file NAME URL [FLAGS...]: -o FILE, exit 0, size_download and the checksum
        big_file() {
            local name=$1 url=$2
            shift 2
            rm -f "$got"
            timeout 60 "$fetch" -s -S -o "$got" -w '%{http_code} %{size_download}' "$@" "$url" \
                >"$work/out" 2>"$work/err"
            rc=$?
            local sum
            sum=$(sha256sum <"$got" 2>/dev/null | cut -d' ' -f1)
            if [ "$rc" = 0 ] && grep -q "^200 $size$" "$work/out" && [ "$sum" = "$want" ]; then
                pass "$name"
            else
                local bytes
                bytes=$(stat -c %s "$got" 2>/dev/null)
                fail "$name (exit $rc, -w '$(cat "$work/out")', $bytes bytes, sha256 $sum)" \
                    "$work/err"
            fi
            rm -f "$got"
        }
        # big_pipe NAME URL [FLAGS...]: the body on stdout, into sha256sum and wc -c
        big_pipe() {
            local name=$1 url=$2
            shift 2
            local sum bytes
            timeout 60 "$fetch" -s -S "$@" "$url" 2>"$work/err" |
                tee >(sha256sum | cut -d' ' -f1 >"$work/pipe.sum") | wc -c >"$work/pipe.len"
            rc=${PIPESTATUS[0]}
            # the checksum comes from a process substitution: wait (bounded) for its line
            timeout 10 bash -c "until [ -s '$work/pipe.sum' ]; do sleep 0.02; done"
            sum=$(cat "$work/pipe.sum" 2>/dev/null)
            bytes=$(cat "$work/pipe.len")
            if [ "$rc" = 0 ] && [ "$bytes" = $size ] && [ "$sum" = "$want" ]; then
                pass "$name"
            else
                fail "$name (exit $rc, $bytes bytes, sha256 $sum)" "$work/err"
            fi
            rm -f "$work/pipe.sum" "$work/pipe.len"
        }
        big_file "nginx: 1 GiB over HTTP (sendfile) to -o FILE, sha256 and size_download equal" \
            "http://127.0.0.1:$nport/big.bin"
        big_pipe "nginx: 1 GiB over HTTP to stdout, piped into sha256sum" \
            "http://127.0.0.1:$nport/big.bin"
        big_file "nginx: 1 GiB over HTTPS to -o FILE, sha256 and size_download equal" \
            "https://localhost:$sport/big.bin" --cacert "$certs/ca.pem"
        big_pipe "nginx: 1 GiB over HTTPS to stdout, piped into sha256sum" \
            "https://127.0.0.1:$sport/big.bin" --cacert "$certs/ca.pem"
    fi
    rm -f "$big" "$got"
fi

# ---- 3. certificate refusals: openssl s_server -www, then nginx ----

# tls_cases PEER GOOD EXPIRED WRONGHOST SELFSIGNED: the same checks against the four ports, where
# $tls_body[CERT] is the pattern of the body each one serves (it shows which server answered).
tls_cases() {
    local peer=$1 good=$2 expired=$3 wrong=$4 self=$5
    run_fetch --cacert "$certs/ca.pem" "https://localhost:$good/hello"
    check "$peer: good certificate, checked by name, accepted" 0 "${tls_body[server]}"
    run_fetch --cacert "$certs/ca.pem" "https://127.0.0.1:$good/hello"
    check "$peer: good certificate, checked by IP, accepted" 0 "${tls_body[server]}"
    run_fetch "https://localhost:$good/hello"
    check "$peer: good certificate but no --cacert exits 60" 60 "" \
        "certificate verify failed: unable to get local issuer certificate"
    run_fetch --cacert "$certs/ca.pem" "https://localhost:$expired/hello"
    check "$peer: expired certificate exits 60" 60 "" \
        "certificate verify failed: certificate has expired"
    run_fetch --cacert "$certs/ca.pem" "https://localhost:$wrong/hello"
    check "$peer: certificate for another host exits 60" 60 "" \
        "certificate verify failed: hostname mismatch"
    run_fetch --cacert "$certs/ca.pem" "https://127.0.0.1:$wrong/hello"
    check "$peer: certificate without our IP exits 60" 60 "" \
        "certificate verify failed: IP address mismatch"
    run_fetch --cacert "$certs/ca.pem" "https://localhost:$self/hello"
    check "$peer: self-signed certificate exits 60" 60 "" \
        "certificate verify failed: self-signed certificate"
    run_fetch -f -L --cacert "$certs/ca.pem" "https://localhost:$expired/hello"
    check "$peer: -f -L change nothing: the expired certificate still exits 60" 60 "" \
        "certificate has expired"
    if [ -s "$work/out" ]; then
        fail "$peer: a refused certificate still gave a body" "$work/out"
    fi
    local c p
    for c in expired wronghost selfsigned; do
        case $c in
            expired) p=$expired ;;
            wronghost) p=$wrong ;;
            *) p=$self ;;
        esac
        run_fetch -k "https://localhost:$p/hello"
        check "$peer: -k accepts the $c certificate" 0 "${tls_body[$c]}"
        if [ -s "$work/err" ]; then
            fail "$peer: -k on the $c certificate wrote to stderr" "$work/err"
        fi
    done
}
declare -A tls_body=()

if [ $have_openssl = 0 ]; then
    skip "openssl s_server" "openssl not installed"
else
    declare -A ssl_port=()
    ss_ok=1
    for c in server expired wronghost selfsigned; do
        timeout 120 openssl s_server -www -accept 127.0.0.1:0 -cert "$certs/$c.pem" \
            -key "$certs/$c.key" >"$work/s_server.$c.log" 2>&1 </dev/null &
        pids+=($!)
    done
    for c in server expired wronghost selfsigned; do
        if ! wait_for_text "$work/s_server.$c.log" "^ACCEPT 127.0.0.1:"; then
            fail "openssl s_server with $c.pem did not start" "$work/s_server.$c.log"
            ss_ok=0
        fi
        ssl_port[$c]=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/s_server.$c.log")
    done
    if [ $ss_ok = 1 ]; then
        # s_server -www answers any GET with a page that starts with its own command line
        for c in server expired wronghost selfsigned; do
            tls_body[$c]="^s_server -www .*-cert [^ ]*/$c\.pem "
        done
        tls_cases "openssl s_server" "${ssl_port[server]}" "${ssl_port[expired]}" \
            "${ssl_port[wronghost]}" "${ssl_port[selfsigned]}"
    fi
fi

# A server that asks for a client certificate (s_server -Verify): --cert/--key give one (the
# page names its subject), without them the server's alert ends the transfer: exit 56.
if [ $have_openssl = 1 ]; then
    timeout 120 openssl s_server -www -accept 127.0.0.1:0 -cert "$certs/server.pem" \
        -key "$certs/server.key" -Verify 1 -CAfile "$certs/ca.pem" >"$work/s_server.verify.log" \
        2>&1 </dev/null &
    pids+=($!)
    if wait_for_text "$work/s_server.verify.log" "^ACCEPT 127.0.0.1:"; then
        vport=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/s_server.verify.log")
        run_fetch -s -S --cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" \
            "https://127.0.0.1:$vport/"
        check "openssl s_server -Verify: --cert/--key present a client certificate" 0 \
            "Subject: CN *= *ahttp-test-client"
        run_fetch -s -S --cacert "$certs/ca.pem" "https://127.0.0.1:$vport/"
        check "openssl s_server -Verify: no client certificate, exit 56 with the alert" 56 "" \
            "certificate required"
    else
        fail "openssl s_server -Verify did not start" "$work/s_server.verify.log"
    fi
fi

if [ $ng_up = 1 ]; then
    tls_body=([server]="^hello from nginx$" [expired]="^expired$" [wronghost]="^wronghost$"
        [selfsigned]="^selfsigned$")
    tls_cases nginx "$sport" "$eport" "$wport" "$xport"
fi

# ---- 4. keep-alive from nginx's access log ----

if [ $ng_up = 1 ]; then
    log="$ng/access.log"
    # ka_urls RUN N BASE: N URLs of /k tagged with RUN, so each run's lines can be told apart
    ka_urls() {
        local i
        urls=()
        for i in $(seq 1 "$2"); do urls+=("$3/k?run=$1&i=$i"); done
    }
    # ka_lines RUN: "connection requests" of the run's log lines, in log order
    ka_lines() {
        grep " 200 /k?run=$1&" "$log" | cut -d' ' -f1,2
    }
    # wait_for_log RUN N: nginx logs a request only after its response went out, so its line may
    # come a moment after the client has exited; wait (at most 10 s) for N lines of RUN.
    wait_for_log() {
        timeout 10 bash -c \
            "until [ \$(grep -c ' 200 /k?run=$1&' '$log') -ge $2 ]; do sleep 0.02; done"
    }
    # ka_one_connection NAME RUN N BASE [FLAGS...]: all N requests on one connection, numbered 1..N
    ka_one_connection() {
        local name=$1 run=$2 n=$3 base=$4
        shift 4
        ka_urls "$run" "$n" "$base"
        run_fetch "$@" "${urls[@]}"
        wait_for_log "$run" "$n"
        local conns seq
        conns=$(ka_lines "$run" | cut -d' ' -f1 | sort -u | wc -l)
        seq=$(ka_lines "$run" | cut -d' ' -f2 | tr '\n' ' ')
        if [ "$rc" = 0 ] && [ "$(grep -c '^k [0-9]*$' "$work/out")" = "$n" ] && [ "$conns" = 1 ] &&
            [ "$seq" = "$(seq -s' ' 1 "$n") " ]; then
            pass "$name"
        else
            fail "$name (exit $rc, $conns connections, connection_requests: $seq)" "$work/err"
            grep "run=$run&" "$log" | sed 's/^/    | /' | tail -20
        fi
    }
    nbase="http://127.0.0.1:$nport"
    ka_one_connection "nginx log: 10 URLs one after the other on 1 connection, requests 1..10" \
        seq 10 "$nbase"
    ka_one_connection "nginx log: 10 URLs, -Z --parallel-max 1, on 1 connection, requests 1..10" \
        z1 10 "$nbase" -Z --parallel-max 1
    ka_one_connection "nginx log: 5 HTTPS URLs one after the other on 1 connection" \
        tls 5 "https://localhost:$sport" --cacert "$certs/ca.pem"

    ka_urls z4 40 "$nbase"
    run_fetch -Z --parallel-max 4 "${urls[@]}"
    wait_for_log z4 40
    lines=$(ka_lines z4 | wc -l)
    conns=$(ka_lines z4 | cut -d' ' -f1 | sort -u | wc -l)
    # on each connection the requests must be numbered 1..k with no gap: none went elsewhere
    gaps=$(ka_lines z4 | awk '{ n[$1]++; if ($2 > max[$1]) max[$1] = $2 }
        END { for (c in n) if (n[c] != max[c]) print c }' | wc -l)
    answers=$(grep -c '^k [0-9]*$' "$work/out")
    if [ "$rc" = 0 ] && [ "$answers" = 40 ] && [ "$lines" = 40 ] && [ "$conns" -ge 1 ] &&
        [ "$conns" -le 4 ] && [ "$gaps" = 0 ]; then
        pass "nginx log: 40 URLs with -Z --parallel-max 4 on $conns connection(s) (at most 4)"
    else
        why="exit $rc, $answers answers, $lines logged, $conns connections, $gaps with gaps"
        fail "nginx log: -Z --parallel-max 4 ($why)" "$work/err"
        grep "run=z4&" "$log" | sed 's/^/    | /' | tail -20
    fi
fi

echo "peers_interop: $passed passed, $failed failed"
[ "$failed" = 0 ]
