#!/bin/sh
# libahttp.so exports exactly the public API recorded in lib/ahttp.sym: every defined dynamic
# symbol starts with "ah_" (none with the internal "ah__", so llhttp's and the runtime's
# internals stay hidden), and the list equals the committed one, so an accidental export or a
# removal fails here rather than in a user's build. After an intended API change:
#   tests/exports.sh --update        (from a build directory, or with top_builddir set)
# rewrites lib/ahttp.sym; the change goes into docs/API-CHANGES.md and the libtool version.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
symfile="$here/../lib/ahttp.sym"
lib="${top_builddir:-.}/lib/.libs/libahttp.so"
if [ ! -f "$lib" ]; then
    echo "SKIP: no shared library at $lib (static-only build)"
    exit 77
fi
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | LC_ALL=C sort -u)
bad=$(printf '%s\n' "$syms" | grep -Ev '^ah_' | grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$' || true)
internal=$(printf '%s\n' "$syms" | grep -E '^ah__' || true)
public=$(printf '%s\n' "$syms" | grep -E '^ah_' | grep -Ev '^ah__' || true)
total=$(printf '%s\n' "$public" | grep -c . || true)
if [ "${1:-}" = --update ]; then
    printf '%s\n' "$public" >"$symfile"
    echo "exports: wrote $total symbols to $symfile"
    exit 0
fi
fail=0
if [ -n "$bad$internal" ]; then
    echo "symbols that should be hidden:"
    printf '  %s\n' $bad $internal
    fail=1
fi
if [ ! -f "$symfile" ]; then
    echo "no $symfile: run tests/exports.sh --update"
    fail=1
else
    added=$(printf '%s\n' "$public" | LC_ALL=C comm -23 - "$symfile")
    removed=$(printf '%s\n' "$public" | LC_ALL=C comm -13 - "$symfile")
    if [ -n "$added" ]; then
        echo "exported but not in lib/ahttp.sym (an accidental export, or run --update):"
        printf '  %s\n' $added
        fail=1
    fi
    if [ -n "$removed" ]; then
        echo "in lib/ahttp.sym but no longer exported (an ABI break, or run --update):"
        printf '  %s\n' $removed
        fail=1
    fi
fi
if [ $fail = 1 ]; then
    echo "exports: 0 passed, 1 failed"
    exit 1
fi
echo "exports: $total public symbols, all ah_*, as lib/ahttp.sym lists"
echo "exports: 1 passed, 0 failed"
