#!/usr/bin/env bash
# Runtime benchmark: bench/bench_runtime (ahttp) next to bench/runtime_asyncio.py (Python's
# asyncio, Debian's /usr/bin/python3), each run RUNS times (default 3, interleaved), pinned to
# CPU 0 with taskset when it exists; prints the medians as a Markdown table with the targets.
#
#   bench/run-runtime.sh [BUILD_DIR]     BUILD_DIR defaults to build/ (as ./quickstart.sh makes it)
#
# If BUILD_DIR has a Makefile, bench/bench_runtime is brought up to date first (make); if that
# fails, the binary already there is used and a warning says so. Takes about 30 s.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
build=${1:-$top/build}
runs=${RUNS:-3}
python=/usr/bin/python3
cmdline="bench/run-runtime.sh${1:+ $1}"
[ "$runs" = 3 ] || cmdline="RUNS=$runs $cmdline"

if [ ! -d "$build" ]; then
    echo "run-runtime.sh: no build directory '$build'." >&2
    echo "  Build first: ./quickstart.sh   (or: autoreconf -fi && mkdir -p build && cd build &&" >&2
    echo "  ../configure && make), then run bench/run-runtime.sh [BUILD_DIR]." >&2
    exit 1
fi
build=$(cd "$build" && pwd)
bin="$build/bench/bench_runtime"
if [ -f "$build/Makefile" ]; then
    if ! make -s -C "$build" bench/bench_runtime >/dev/null 2>"$build/bench-make.log"; then
        echo "run-runtime.sh: warning: 'make -C $build bench/bench_runtime' failed" \
            "(see $build/bench-make.log); using the binary already built" >&2
    fi
fi
if [ ! -x "$bin" ]; then
    echo "run-runtime.sh: $bin is missing." >&2
    echo "  Build it: ./quickstart.sh (makes build/), or in BUILD_DIR: $top/configure && make;" >&2
    echo "  then run bench/run-runtime.sh [BUILD_DIR]." >&2
    exit 1
fi
if [ ! -x "$python" ]; then
    echo "run-runtime.sh: $python is missing (apt-get install python3)." >&2
    exit 1
fi

pin=()
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
    pin=(taskset -c 0)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "Machine: $(nproc) CPUs, ${model:-unknown CPU}, Linux $(uname -r)," \
    "$("$python" -c 'import platform; print("Python", platform.python_version())')"
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "Command: $cmdline"
echo "  each run: ${pin[*]:+${pin[*]} }$bin"
echo "            ${pin[*]:+${pin[*]} }$python $here/runtime_asyncio.py"
echo "Median of $runs runs each (interleaved)."
echo

for i in $(seq 1 "$runs"); do
    timeout 60 "${pin[@]}" "$bin" >"$tmp/c.$i" || {
        echo "run-runtime.sh: bench_runtime failed (run $i):" >&2
        cat "$tmp/c.$i" >&2
        exit 1
    }
    timeout 60 "${pin[@]}" "$python" "$here/runtime_asyncio.py" >"$tmp/py.$i" || {
        echo "run-runtime.sh: runtime_asyncio.py failed (run $i):" >&2
        cat "$tmp/py.$i" >&2
        exit 1
    }
    awk -v r="$i" '{ print "ahttp", r, $1, $2 }' "$tmp/c.$i" >>"$tmp/all"
    awk -v r="$i" '{ print "asyncio", r, $1, $2 }' "$tmp/py.$i" >>"$tmp/all"
done

# One table row per line: label, ahttp metric, asyncio metric (- for none), target.
# Targets: "le N" (ahttp <= N), "le N ge R" (and asyncio/ahttp >= R), "lt N", "-" (none).
cat >"$tmp/rows" <<'EOF'
switch (ns)|switch_ns|switch_ns|le 20
switch, loop polls epoll (ns)|switch_poll_ns|switch_ns|-
spawn+join (ns)|spawn_join_ns|spawn_join_ns|le 1000 ge 50
spawn+join, loop polls epoll (ns)|spawn_join_poll_ns|spawn_join_ns|-
sleep(0) round trip (ns)|sleep0_ns|sleep0_ns|-
sleep(0), loop polls epoll (ns)|sleep0_poll_ns|sleep0_ns|-
RSS, 100,000 sleeping tasks (MiB)|rss_100k_mib|rss_100k_mib|lt 1024
RSS delta for them (MiB)|rss_100k_delta_mib|rss_100k_delta_mib|-
EOF

awk -F'|' -v all="$tmp/all" '
function median(side, name,    n, i, j, v, t) {
    n = 0
    for (i = 1; i <= cnt[side, name]; i++)
        v[++n] = val[side, name, i]
    if (n == 0)
        return ""
    for (i = 2; i <= n; i++)           # insertion sort; n is tiny
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function runs(side, name,    i, s) {
    s = ""
    for (i = 1; i <= cnt[side, name]; i++)
        s = s (i > 1 ? " / " : "") val[side, name, i]
    return s
}
function num(x) { return x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
BEGIN {
    while ((getline line < all) > 0) {
        split(line, f, " ")
        k = ++cnt[f[1], f[3]]
        val[f[1], f[3], k] = f[4]
    }
    print "| measurement | ahttp | asyncio | ratio (asyncio/ahttp) | target | met |"
    print "|---|---:|---:|---:|---|---|"
}
{
    label = $1; cm = $2; pm = $3; split($4, tg, " ")
    c = median("ahttp", cm); p = median("asyncio", pm)
    ratio = (c != "" && p != "" && c > 0) ? p / c : ""
    rs = ratio == "" ? "n/a" : sprintf(ratio >= 10 ? "%.0f×" : ratio >= 1 ? "%.1f×" : "%.2f×", ratio)
    target = "—"; met = "—"
    if (tg[1] == "le" || tg[1] == "lt") {
        ok = (tg[1] == "le") ? (c <= tg[2]) : (c < tg[2])
        target = (tg[1] == "le" ? "≤ " : "< ") tg[2]
        if (tg[3] == "ge") {
            target = target ", ≥ " tg[4] "× asyncio"
            ok = ok && ratio != "" && ratio >= tg[4]
        }
        met = ok ? "yes" : "**no**"
    }
    printf "| %s | %s | %s | %s | %s | %s |\n", label, (c == "" ? "n/a" : num(c)), \
        (p == "" ? "n/a" : num(p)), rs, target, met
    raw[++nraw] = sprintf("  %-19s %s;  %s", cm, runs("ahttp", cm), runs("asyncio", pm))
}
END {
    print ""
    print "Each run (ahttp; asyncio):"
    for (i = 1; i <= nraw; i++)
        print raw[i]
}' "$tmp/rows"
