#!/usr/bin/env bash
# ahttp quick start on Debian 12.
#   ./quickstart.sh          install what is missing, build, run the sample program
#   ./quickstart.sh test     install what is missing, build, run every test suite
# Idempotent: packages already installed are not touched, a finished build is reused.
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD
build="$top/build"
# "./quickstart.sh [run] [FLAGS...]" runs the sample program with FLAGS; "./quickstart.sh test".
mode=run
if [ $# -gt 0 ] && { [ "$1" = run ] || [ "$1" = test ]; }; then
    mode=$1
    shift
fi

if [ "$mode" = test ] && [ $# -gt 0 ]; then
    echo "quickstart.sh: 'test' takes no arguments (got '$*')" >&2
    exit 2
fi

# ---- packages ------------------------------------------------------------------------------
build_pkgs=(build-essential autoconf automake libtool pkg-config libevent-dev libssl-dev
    zlib1g-dev check node-llhttp libgumbo-dev libpsl-dev libidn2-dev)
run_pkgs=()
test_pkgs=(valgrind openssl curl python3 python3-aiohttp nginx wrk apache2-utils nghttp2-client
    binutils procps iproute2 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
    clang libclang-rt-14-dev)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
[ "$mode" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "quickstart: installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        echo "quickstart: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# ---- build (out of tree, so the source tree stays clean for other builds) ------------------
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    echo "quickstart: autoreconf"
    autoreconf -fi >/dev/null
fi
mkdir -p "$build"
if [ ! -f "$build/Makefile" ] || [ configure -nt "$build/config.status" ]; then
    echo "quickstart: configure"
    (cd "$build" && "$top/configure" -q)
fi
jobs=$(nproc 2>/dev/null || echo 2)
make -C "$build" -s -j"$jobs"

if [ "$mode" = run ]; then
    [ $# -gt 0 ] || set -- --host 127.0.0.1 --port 8080 --root "$top/docs"
    # the address to suggest: the --host and --port given, else ahttp-serve's defaults
    host=127.0.0.1 port=8080 prev=
    for a in "$@"; do
        case "$prev" in --host) [ "$a" = "*" ] || host=$a ;; --port) port=$a ;; esac
        prev=$a
    done
    echo "quickstart: starting ahttp-serve $* (try: curl http://$host:$port/hello; Ctrl-C stops it)"
    exec "$build/apps/ahttp-serve" "$@"
fi

# ---- tests ---------------------------------------------------------------------------------
rc=0
make -C "$build" -j"$jobs" check || rc=1
make -C "$build" check-valgrind || rc=1
"$top/tests/report.sh" "$build" || rc=1

# ---- fuzzing: a short pass of each libFuzzer target (tests/fuzz/run.sh) ----------------------
# In a build of its own: clang, and the whole library instrumented (ASan, UBSan, coverage).
fuzz_build="$top/build-fuzz"
fuzz_seconds=60
fuzz_ok=1
mkdir -p "$fuzz_build"
if [ ! -f "$fuzz_build/Makefile" ] || [ configure -nt "$fuzz_build/config.status" ]; then
    echo "quickstart: configure build-fuzz (CC=clang --enable-fuzzing)"
    (cd "$fuzz_build" && CC=clang "$top/configure" -q --enable-fuzzing) || fuzz_ok=0
fi
if [ $fuzz_ok = 1 ]; then
    make -C "$fuzz_build" -s -j"$jobs" tests/fuzz/fuzz_request tests/fuzz/fuzz_response ||
        fuzz_ok=0
fi
if [ $fuzz_ok = 1 ]; then
    "$top/tests/fuzz/run.sh" "$fuzz_seconds" "$fuzz_build" || fuzz_ok=0
else
    echo "fuzz: 0 passed, 2 failed (build-fuzz could not be configured or built)"
fi
[ $fuzz_ok = 1 ] || rc=1
exit $rc
