#!/usr/bin/env bash
# Both assembly context switches, whatever this machine is: tests/arch/ctx_check.c is built
# natively with lib/runtime/ctx_x86_64.S and run, then cross-built with aarch64-linux-gnu-gcc
# -static and lib/runtime/ctx_aarch64.S and run under user-mode QEMU (qemu-aarch64-static, or
# qemu-aarch64). ctx_check needs only libc, so neither build uses the configured library; a
# missing cross compiler or QEMU is a failure, not a skip (`./quickstart.sh test` installs
# gcc-aarch64-linux-gnu and qemu-user-static).
# Needs: the source tree (found from this script's path); $top_builddir is not used.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
src="$top/tests/arch/ctx_check.c"
rt="$top/lib/runtime"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init arch_interop

finish() {
    echo "arch_interop: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit $?
}

# -ffp-contract=off: ctx_check compares doubles with a run that never switched, bit for bit.
cflags=(-O2 -Wall -Wextra -Werror -ffp-contract=off -I"$rt")

# build NAME COMPILER ASM OUT [FLAGS...]
build() {
    local name=$1 cc=$2 asm=$3 out=$4
    shift 4
    if "$cc" "${cflags[@]}" "$@" "$src" "$rt/$asm" -o "$out" >"$work/$name.build" 2>&1; then
        pass "$name: ctx_check.c builds with $asm"
        return 0
    fi
    fail "$name: ctx_check.c does not build with $asm" "$work/$name.build"
    return 1
}

# run NAME ARCH HOW CMD...: ctx_check must exit 0 and report PASS for ARCH.
run() {
    local name=$1 arch=$2 how=$3 start end
    shift 3
    start=$(date +%s.%N)
    timeout 120 "$@" >"$work/$name.out" 2>&1
    local rc=$?
    end=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    if [ "$rc" = 0 ] && grep -q "^ctx_check $arch: PASS" "$work/$name.out"; then
        pass "$name: ctx_check $how$(sed -n "s/^ctx_check $arch: PASS//p" "$work/$name.out") in ${secs}s"
    else
        fail "$name: ctx_check $how exited $rc" "$work/$name.out"
    fi
}

# ---- native x86_64 -------------------------------------------------------------------------
case "$(uname -m)" in
x86_64)
    cc=${AH_CC:-cc} # not AH_CFLAGS: ASan would not know these stacks (the runtime tells it)
    build x86_64 "$cc" ctx_x86_64.S "$work/ctx_check.x86_64" &&
        run x86_64 x86_64 natively "$work/ctx_check.x86_64"
    ;;
aarch64)
    # on an aarch64 machine the native build covers ctx_aarch64.S; no QEMU needed
    build aarch64-native "${AH_CC:-cc}" ctx_aarch64.S "$work/ctx_check.native" &&
        run aarch64-native aarch64 natively "$work/ctx_check.native"
    finish
    ;;
*)
    skip "native ctx_check" "no assembly context switch for $(uname -m)"
    ;;
esac

# ---- aarch64 under user-mode QEMU ----------------------------------------------------------
xcc=aarch64-linux-gnu-gcc
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
if ! command -v "$xcc" >/dev/null 2>&1; then
    fail "aarch64: $xcc not found (apt-get install gcc-aarch64-linux-gnu, or ./quickstart.sh test)"
elif [ -z "$qemu" ]; then
    fail "aarch64: neither qemu-aarch64-static nor qemu-aarch64 found (apt-get install qemu-user-static, or ./quickstart.sh test)"
elif build aarch64 "$xcc" ctx_aarch64.S "$work/ctx_check.aarch64" -static; then
    # make sure it is the aarch64 program QEMU runs, not something that would pass natively
    if LC_ALL=C readelf -h "$work/ctx_check.aarch64" 2>&1 | grep -q 'Machine:.*AArch64'; then
        pass "aarch64: ctx_check is an AArch64 executable"
    else
        readelf -h "$work/ctx_check.aarch64" >"$work/readelf" 2>&1
        fail "aarch64: ctx_check is not an AArch64 executable" "$work/readelf"
    fi
    run aarch64 aarch64 "under ${qemu##*/}" "$qemu" "$work/ctx_check.aarch64"
fi

finish
