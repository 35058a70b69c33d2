#!/usr/bin/env bash
# ahttp's TLS against real peers: our client (tests/interop/tls_probe) against `openssl s_server`,
# and our server against `openssl s_client` and `curl`. Every port is ephemeral, every wait is
# bounded by `timeout`, every background process is killed by PID on exit.
# Needs: $top_builddir (the build directory) and $AH_CERTS (the certs/ directory), both exported
# by `make check`.
set -uo pipefail

build="${top_builddir:-.}"
certs="${AH_CERTS:-$(cd "$(dirname "$0")/../../certs" && pwd)}"
probe="$build/tests/interop/tls_probe"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init tls_interop

if [ ! -x "$probe" ]; then
    echo "tls_interop: $probe not built"
    echo "tls_interop: 0 passed, 1 failed"
    exit 1
fi

have_openssl=1
command -v openssl >/dev/null 2>&1 || have_openssl=0
have_curl=1
command -v curl >/dev/null 2>&1 || have_curl=0

free_port() { "$probe" --free-port; }

# openssl s_server on a fresh port with cert $1/$2 and extra options; sets $port.
start_s_server() {
    local cert=$1 key=$2 log
    shift 2
    port=$(free_port)
    log="$work/s_server.$port.log"
    timeout 60 openssl s_server -accept "127.0.0.1:$port" -cert "$certs/$cert" -key "$certs/$key" \
        "$@" </dev/null >"$log" 2>&1 &
    pids+=($!)
    if ! wait_for_text "$log" ACCEPT; then
        echo "s_server did not start:"
        cat "$log"
        return 1
    fi
}

# our TLS server on a fresh port serving $1 connections (extra options after); sets $port.
start_probe_server() {
    local count=$1 log="$work/probe_server.$RANDOM.out"
    shift
    timeout 60 "$probe" --serve 0 --cert "$certs/server.pem" --key "$certs/server.key" \
        --count "$count" "$@" >"$log" 2>"$log.err" &
    pids+=($!)
    server_pid=$!
    server_err="$log.err"
    if ! wait_for_text "$log" "listening on"; then
        echo "tls_probe --serve did not start:"
        cat "$log" "$log.err"
        return 1
    fi
    port=$(awk '/listening on/ {print $3; exit}' "$log")
}

# run our client: probe_client NAME EXPECTED_EXIT OUTPUT_PATTERN STDERR_PATTERN ARGS...
probe_client() {
    local name=$1 want=$2 out_pat=$3 err_pat=$4 rc
    shift 4
    timeout 30 "$probe" "$@" >"$work/$name.out" 2>"$work/$name.err"
    rc=$?
    if [ "$rc" != "$want" ]; then
        echo "    exit $rc, expected $want"
        fail "$name" "$work/$name.out" "$work/$name.err"
    elif [ -n "$out_pat" ] && ! grep -q -- "$out_pat" "$work/$name.out"; then
        echo "    output lacks \"$out_pat\""
        fail "$name" "$work/$name.out" "$work/$name.err"
    elif [ -n "$err_pat" ] && ! grep -q -- "$err_pat" "$work/$name.err"; then
        echo "    messages lack \"$err_pat\""
        fail "$name" "$work/$name.out" "$work/$name.err"
    else
        pass "$name"
    fi
}

# ---- our client against openssl s_server ----
if [ $have_openssl = 1 ]; then
    if start_s_server server.pem server.key -www; then
        probe_client client_vs_s_server_www 0 "200 ok" "TLSv1.3" \
            --cafile "$certs/ca.pem" --host localhost --http 127.0.0.1 "$port"
        probe_client client_vs_s_server_ip_san 0 "200 ok" "" \
            --cafile "$certs/ca.pem" --host 127.0.0.1 --http 127.0.0.1 "$port"
        probe_client client_rejects_wrong_host 60 "" "hostname mismatch" \
            --cafile "$certs/ca.pem" --host wrong.example --http 127.0.0.1 "$port"
        probe_client client_rejects_unknown_ca 60 "" "unable to get local issuer" \
            --host localhost --http 127.0.0.1 "$port"
    else
        fail client_vs_s_server_www
    fi

    if start_s_server server.pem server.key -rev; then
        probe_client client_vs_s_server_rev_echo 0 "olleh" "" \
            --cafile "$certs/ca.pem" --host localhost --send $'hello\n' --line 127.0.0.1 "$port"
    else
        fail client_vs_s_server_rev_echo
    fi

    if start_s_server server.pem server.key -www -tls1_2; then
        probe_client client_vs_s_server_tls12 0 "200 ok" "TLSv1.2" \
            --cafile "$certs/ca.pem" --host localhost --http 127.0.0.1 "$port"
    else
        fail client_vs_s_server_tls12
    fi

    if start_s_server expired.pem expired.key -www; then
        probe_client client_rejects_expired 60 "" "expired" \
            --cafile "$certs/ca.pem" --host localhost --http 127.0.0.1 "$port"
    else
        fail client_rejects_expired
    fi

    if start_s_server selfsigned.pem selfsigned.key -www; then
        probe_client client_rejects_self_signed 60 "" "self-signed" \
            --cafile "$certs/ca.pem" --host localhost --http 127.0.0.1 "$port"
        probe_client client_insecure_accepts_self_signed 0 "200 ok" "" \
            --insecure --host localhost --http 127.0.0.1 "$port"
    else
        fail client_rejects_self_signed
    fi

    if start_s_server server.pem server.key -www -Verify 1 -CAfile "$certs/ca.pem"; then
        probe_client client_certificate_vs_s_server 0 "200 ok" "" \
            --cafile "$certs/ca.pem" --host localhost --cert "$certs/client.pem" \
            --key "$certs/client.key" --http 127.0.0.1 "$port"
    else
        fail client_certificate_vs_s_server
    fi
else
    skip "our client against openssl s_server" "no openssl"
fi

# ---- openssl s_client and curl against our server ----
request=$'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'

# s_client_case NAME OUTPUT_PATTERN EXTRA_SERVER_ARGS... -- S_CLIENT_ARGS...
s_client_case() {
    local name=$1 pat=$2 rc
    shift 2
    local sargs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        sargs+=("$1")
        shift
    done
    shift
    if ! start_probe_server 1 "${sargs[@]}"; then
        fail "$name"
        return
    fi
    printf '%s' "$request" | timeout 20 openssl s_client -connect "127.0.0.1:$port" \
        -CAfile "$certs/ca.pem" -verify_return_error -servername localhost \
        -verify_hostname localhost -brief -ign_eof "$@" >"$work/$name.out" 2>"$work/$name.err"
    rc=$?
    timeout 10 tail --pid="$server_pid" -f /dev/null
    wait "$server_pid"
    local src=$?
    if [ $rc != 0 ] || [ $src != 0 ]; then
        echo "    s_client exit $rc, server exit $src"
        fail "$name" "$work/$name.out" "$work/$name.err" "$server_err"
    elif ! grep -q -- "$pat" "$work/$name.out" || ! grep -q "Verification: OK" "$work/$name.err"; then
        echo "    output lacks \"$pat\" or verification"
        fail "$name" "$work/$name.out" "$work/$name.err" "$server_err"
    else
        pass "$name"
    fi
}

if [ $have_openssl = 1 ]; then
    s_client_case s_client_vs_server hello --
    s_client_case s_client_tls12_vs_server hello -- -tls1_2
    s_client_case s_client_certificate_vs_server hello --client-ca "$certs/ca.pem" -- \
        -cert "$certs/client.pem" -key "$certs/client.key"
else
    skip "openssl s_client against our server" "no openssl"
fi

if [ $have_curl = 1 ]; then
    if start_probe_server 2; then
        out=$(timeout 20 curl -sS --max-time 15 --cacert "$certs/ca.pem" \
            --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/" 2>"$work/curl.err")
        rc=$?
        if [ $rc = 0 ] && [ "$out" = hello ]; then
            pass curl_vs_server
        else
            echo "    curl exit $rc, output \"$out\""
            fail curl_vs_server "$work/curl.err" "$server_err"
        fi
        out=$(timeout 20 curl -sS --max-time 15 --resolve "localhost:$port:127.0.0.1" \
            "https://localhost:$port/" 2>"$work/curl2.err")
        rc=$?
        if [ $rc = 60 ]; then
            pass curl_rejects_server_without_ca
        else
            echo "    curl exit $rc, expected 60"
            fail curl_rejects_server_without_ca "$work/curl2.err"
        fi
    else
        fail curl_vs_server
    fi
else
    skip "curl against our server" "no curl"
fi

echo "tls_interop: $passed passed, $failed failed"
if [ $failed -gt 0 ]; then
    exit 1
fi
if [ $passed -eq 0 ]; then
    exit 77
fi
exit 0
