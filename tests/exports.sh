#!/bin/sh
# libahttp.so exports only the public API: every defined dynamic symbol starts with "ah_"
# (and none with the internal "ah__"), so llhttp's and the runtime's internals stay hidden.
set -eu
lib="${top_builddir:-.}/lib/.libs/libahttp.so"
if [ ! -f "$lib" ]; then
    echo "SKIP: no shared library at $lib (static-only build)"
    exit 77
fi
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
bad=$(printf '%s\n' "$syms" | grep -Ev '^ah_' | grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$' || true)
internal=$(printf '%s\n' "$syms" | grep -E '^ah__' || true)
total=$(printf '%s\n' "$syms" | grep -c '^ah_' || true)
if [ -n "$bad$internal" ]; then
    echo "symbols that should be hidden:"
    printf '%s\n' $bad $internal
    echo "exports: 0 passed, 1 failed"
    exit 1
fi
echo "exports: $total public symbols, all ah_*"
echo "exports: 1 passed, 0 failed"
