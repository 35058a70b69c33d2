#!/usr/bin/env bash
# The guides' programs still build and do what the guides say. Every ```c block in docs/*.md
# that has a main() (a fragment gets the usual includes) is compiled against the built library (-Wall -Wextra -Werror, unused
# handler parameters allowed); then each is
# run as its guide describes it: programs that take no arguments run to the end (exit 0), the
# upper-casing transport of net.md gets two lines on stdin, fetch1000.c of client.md fetches
# from a real ahttp-serve and must count what that server's routes give, and web.c of
# server.md serves /hello over HTTP and HTTPS until it is stopped with SIGTERM.
# Needs $top_builddir (exported by `make check`); runs from the top of the source tree, as the
# guides say (some programs read certs/).
set -uo pipefail

build="${top_builddir:-.}"
build=$(cd "$build" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
serve="$build/apps/ahttp-serve"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init docs_interop

finish() {
    echo "docs_interop: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit $?
}

libdir="$build/lib/.libs"
if [ ! -e "$libdir/libahttp.so" ] || [ ! -x "$serve" ]; then
    fail "the library or ahttp-serve is not built ($libdir, $serve)"
    finish
fi
cc=${AH_CC:-cc}
read -ra cflags <<<"${AH_CFLAGS:-}" # as the library was built (make check passes them)
read -ra ldflags <<<"${AH_LDFLAGS:-}"

# Every C block with a main(), one file each: $work/src/DOC-N.c, named in $work/list.
mkdir -p "$work/src" "$work/bin"
/usr/bin/python3 - "$top/docs" "$work/src" >"$work/list" <<'EOF'
import os, re, sys
docs, out = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(docs)):
    if not name.endswith(".md"):
        continue
    text = open(os.path.join(docs, name), encoding="utf-8").read()
    for i, block in enumerate(re.findall(r"^```c\n(.*?)^```", text, re.S | re.M)):
        if re.search(r"^int main\(", block, re.M):
            base = "%s-%d" % (name[:-3], i)
            with open(os.path.join(out, base + ".c"), "w", encoding="utf-8") as f:
                if "#include" not in block:  # a fragment: the guide leaves the includes out
                    f.write("#include <stddef.h>\n#include <stdio.h>\n#include <ahttp/ahttp.h>\n")
                f.write(block)
            print(base)
EOF
mapfile -t progs <"$work/list"
if [ "${#progs[@]}" -lt 5 ]; then
    fail "found ${#progs[@]} programs in docs/*.md, expected at least 5" "$work/list"
fi

# Which program is which: by what its text says of itself.
prog_with() { grep -l -- "$1" "$work/src/"*.c 2>/dev/null | head -1 | xargs -r basename | sed 's/\.c$//'; }
fetch1000=$(prog_with "fetch1000.c: fetch 1,000 URLs")
web=$(prog_with "web.c — a small ahttp web application")
upper=$(prog_with "Upper-case stdin to stdout")

for p in "${progs[@]}"; do
    if timeout 120 "$cc" "${cflags[@]}" -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror \
        -I"$top/include" -o "$work/bin/$p" "$work/src/$p.c" "${ldflags[@]}" -L"$libdir" -lahttp \
        -Wl,-rpath,"$libdir" >"$work/$p.cc.log" 2>&1; then
        pass "$p builds"
    else
        fail "$p builds" "$work/$p.cc.log"
    fi
done

cd "$top" || exit 1
for p in "${progs[@]}"; do
    [ -x "$work/bin/$p" ] || continue
    case "$p" in
    "$fetch1000" | "$web") continue ;;
    "$upper")
        out=$(printf 'one\ntwo\n' | timeout 20 "$work/bin/$p" 2>"$work/$p.err")
        if [ $? = 0 ] && [ "$out" = $'ONE\nTWO' ]; then
            pass "$p upper-cases its input"
        else
            fail "$p upper-cases its input (got '$out')" "$work/$p.err"
        fi
        ;;
    *)
        if timeout 30 "$work/bin/$p" </dev/null >"$work/$p.out" 2>&1; then
            pass "$p runs to the end"
        else
            fail "$p runs to the end (exit $?)" "$work/$p.out"
        fi
        ;;
    esac
done

# fetch1000 against ahttp-serve: 1,000 URLs, 10 of them to a port where nothing listens, 125 to
# /status/404, the rest 200 (redirects followed).
if [ -n "$fetch1000" ] && [ -x "$work/bin/$fetch1000" ]; then
    "$serve" --port 0 --root "$top/docs" >"$work/serve.out" 2>&1 &
    pids+=($!)
    if wait_for_text "$work/serve.out" "listening on http://"; then
        base=$(sed -n 's|.*listening on \(http://[^/]*\)/.*|\1|p' "$work/serve.out" | head -1)
        timeout 60 "$work/bin/$fetch1000" "$base" >"$work/f1000.out" 2>&1
        rc=$?
        if [ $rc = 0 ] && grep -q "^1000 URLs in" "$work/f1000.out" &&
            grep -q "^  2xx: 865$" "$work/f1000.out" && grep -q "^  4xx: 125$" "$work/f1000.out" &&
            grep -q "^  errors: 10, first: connection refused" "$work/f1000.out"; then
            pass "$fetch1000 counts 865 2xx, 125 4xx and 10 refused connections"
        else
            fail "$fetch1000 counts what ahttp-serve answers (exit $rc)" "$work/f1000.out"
        fi
    else
        fail "ahttp-serve for $fetch1000 did not start" "$work/serve.out"
    fi
fi

# web.c: HTTP and HTTPS on free ports, /hello on both, then SIGTERM ends it with status 0.
if [ -n "$web" ] && [ -x "$work/bin/$web" ]; then
    read -r hp sp < <(free_ports 2)
    "$work/bin/$web" "$top/docs" "$hp" "$sp" >"$work/web.out" 2>&1 &
    web_pid=$!
    pids+=($web_pid)
    if wait_for_port "$hp" && wait_for_port "$sp"; then
        h=$(timeout 10 curl -s "http://127.0.0.1:$hp/hello?name=Ann")
        hs=$(timeout 10 curl -s --cacert "$top/certs/ca.pem" "https://localhost:$sp/hello")
        if [ -n "$h" ] && [ -n "$hs" ] && grep -q "Ann" <<<"$h"; then
            pass "$web answers /hello over HTTP and HTTPS"
        else
            fail "$web answers /hello over HTTP and HTTPS (got '$h' and '$hs')" "$work/web.out"
        fi
        kill -TERM "$web_pid"
        if timeout 15 tail --pid="$web_pid" -f /dev/null && wait "$web_pid"; then
            pass "$web stops cleanly on SIGTERM"
        else
            fail "$web stops cleanly on SIGTERM" "$work/web.out"
        fi
    else
        fail "$web did not start on ports $hp and $sp" "$work/web.out"
    fi
fi

finish
