#!/usr/bin/env bash
# ahttp-crawl against nginx serving the site tests/crawl/make_site.py generates: the crawl fetches
# exactly the expected URL set, each page once; robots.txt is obeyed (nothing under /private/ but
# the page it allows again); other hosts are skipped with --same-host; a redirect loop ends; the
# 404 and the 500 are recorded with their statuses; the huge page is cut and marked truncated;
# --max-pages and --max-depth hold; --per-host 2 never has more than 2 requests at the server at
# once (from nginx's $msec and $request_time); an interrupted crawl resumes from its --state file
# without fetching any page twice; a 503 robots.txt keeps us off a host, a 404 one allows all,
# Crawl-delay is obeyed; bad flags and URLs exit 2. With a tiny --frontier-mem the frontier
# spills to disk and the crawl still finds the same pages, each once, and still resumes exactly;
# a resumed --state log is compacted to one line per URL.
# Every port is ephemeral, every wait is bounded, nginx is killed by PID on exit. Needs
# $top_builddir (exported by `make check`).
set -uo pipefail

build="${top_builddir:-.}"
srcdir="$(cd "$(dirname "$0")/../.." && pwd)"
crawl="$build/apps/ahttp-crawl"
python=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init crawl_interop
chmod 755 "$work" # nginx's worker may run as another user

finish() {
    echo "crawl_interop: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit $?
}

if [ ! -x "$crawl" ]; then
    echo "crawl_interop: $crawl not built"
    failed=1
    finish
fi
if ! command -v nginx >/dev/null; then
    echo "crawl_interop: nginx not installed (Debian package nginx)"
    failed=1
    finish
fi

# Four free ports: the site, and the same site with a 503, a 404 and a Crawl-delay robots.txt.
read -r port port_5xx port_404 port_delay < <("$python" -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
base="http://127.0.0.1:$port"
if ! "$python" "$srcdir/tests/crawl/make_site.py" "$work" "$port" 40 "$port_5xx" "$port_404" \
    "$port_delay" >"$work/make_site.log" 2>&1; then
    fail "make_site.py" "$work/make_site.log"
    finish
fi
nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.05
done
if [ $up = 0 ]; then
    fail "nginx did not start" "$work/nginx.out" "$work/error.log"
    finish
fi

log="$work/access.log"
# The paths of the GETs in nginx's access log since the last reset, one a line.
requested() { requested_on "$port"; }
requested_on() { awk -v p="$1" '$NF == p { print $5 }' "$log"; }
reset_log() { : >"$log"; }
# The URLs of a JSON-lines output, as paths on our server, sorted.
out_paths() {
    "$python" -c '
import json, sys
base = sys.argv[1]
for line in open(sys.argv[2]):
    u = json.loads(line)["url"]
    print(u[len(base):] if u.startswith(base) else u)
' "$base" "$1" | sort
}
# field FILE PATH KEY: the value of KEY in the record for PATH ("" if none)
field() {
    "$python" -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["url"] == sys.argv[2]:
        v = r.get(sys.argv[3])
        print("" if v is None else json.dumps(v).strip("\""))
' "$1" "$base$2" "$3"
}

# ---- 1. the full crawl ----------------------------------------------------------------------
reset_log
timeout 60 "$crawl" --same-host --max-body 1000000 --per-host 4 -o "$work/full.jsonl" \
    "$base/" >"$work/full.out" 2>"$work/full.err"
rc=$?
if [ $rc = 0 ]; then pass "full crawl exits 0"; else fail "full crawl exit $rc" "$work/full.err"; fi
out_paths "$work/full.jsonl" >"$work/full.paths"
if diff "$work/expected.txt" "$work/full.paths" >"$work/full.diff"; then
    pass "full crawl fetches exactly the expected URLs, each once ($(wc -l <"$work/expected.txt"))"
else
    fail "full crawl URL set differs (< expected, > fetched)" "$work/full.diff"
fi
if "$python" -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
' "$work/full.jsonl" 2>"$work/json.err"; then
    pass "every output line is valid JSON"
else
    fail "invalid JSON in the output" "$work/json.err"
fi
requested | grep -v '^/robots.txt$' | sort >"$work/full.requested"
if diff "$work/expected.txt" "$work/full.requested" >"$work/req.diff"; then
    pass "nginx saw each expected page requested exactly once, nothing else"
else
    fail "nginx's requests differ from the expected set (< expected, > requested)" "$work/req.diff"
fi
if [ "$(requested | grep -c '^/robots.txt$')" = 1 ]; then
    pass "robots.txt fetched once"
else
    fail "robots.txt fetched $(requested | grep -c '^/robots.txt$') times" "$log"
fi
if requested | grep -q '^/private/' && ! requested | grep -v '^/private/open.html$' | grep -q '^/private/'; then
    pass "robots.txt obeyed: only the allowed /private/open.html requested under /private/"
else
    fail "robots.txt not obeyed under /private/" "$log"
fi
if ! grep -q 'other.example' "$work/full.jsonl" && ! grep -qi 'other.example' "$log"; then
    pass "--same-host: other.example never requested"
else
    fail "other.example requested" "$work/full.jsonl"
fi
if ! requested | grep -Eq '^/(nofollow|comment|script|never)\.html$'; then
    pass "nofollow, commented-out, scripted and past-the-cut links not followed"
else
    fail "a link that must not be followed was" "$log"
fi
if [ "$(field "$work/full.jsonl" /redir/a status)" = 302 ] &&
    [ "$(field "$work/full.jsonl" /redir/a redirect_to)" = "$base/redir/b" ] &&
    [ "$(field "$work/full.jsonl" /redir/b redirect_to)" = "$base/redir/a" ] &&
    [ "$(requested | grep -c '^/redir/')" = 2 ]; then
    pass "redirect loop recorded (302, redirect_to) and ended by dedup"
else
    fail "redirect loop" "$work/full.jsonl"
fi
if [ "$(field "$work/full.jsonl" /moved status)" = 301 ] &&
    [ "$(field "$work/full.jsonl" /moved redirect_to)" = "$base/page/3.html" ]; then
    pass "301 recorded with its target"
else
    fail "301 /moved" "$work/full.jsonl"
fi
if [ "$(field "$work/full.jsonl" /missing.html status)" = 404 ] &&
    [ "$(field "$work/full.jsonl" /boom status)" = 500 ]; then
    pass "404 and 500 recorded with their statuses"
else
    fail "404/500 statuses" "$work/full.jsonl"
fi
if [ "$(field "$work/full.jsonl" /big.html truncated)" = true ] &&
    [ "$(field "$work/full.jsonl" /big.html bytes)" = 1000000 ] &&
    [ "$(field "$work/full.jsonl" /page/0.html truncated)" = "" ]; then
    pass "the huge page is cut at --max-body and marked truncated"
else
    fail "huge page" "$work/full.jsonl"
fi
if [ "$(field "$work/full.jsonl" /files/doc.pdf content_type)" = application/pdf ] &&
    [ "$(field "$work/full.jsonl" /files/doc.txt links)" = 0 ] &&
    [ "$(field "$work/full.jsonl" /page/0.html links)" = 6 ]; then
    pass "content types recorded; only HTML is parsed for links"
else
    fail "content types / links" "$work/full.jsonl"
fi
if grep -q "pages in" "$work/full.err" && grep -q "disallowed by robots.txt" "$work/full.err" &&
    [ ! -s "$work/full.out" ]; then
    pass "summary on stderr, nothing on stdout with -o"
else
    fail "summary" "$work/full.err" "$work/full.out"
fi

# ---- 1b. the same crawl with a tiny in-memory frontier (4 URLs) -------------------------------
reset_log
timeout 60 "$crawl" --same-host --max-body 1000000 --per-host 4 --frontier-mem 4 \
    -o "$work/tiny.jsonl" "$base/" >"$work/tiny.out" 2>"$work/tiny.err"
rc=$?
out_paths "$work/tiny.jsonl" >"$work/tiny.paths"
requested | grep -v '^/robots.txt$' | sort >"$work/tiny.requested"
spilled=$(sed -n 's/.*; \([0-9]*\) URLs spilled to disk.*/\1/p' "$work/tiny.err")
if [ $rc = 0 ] && [ "${spilled:-0}" -gt 0 ] &&
    diff "$work/full.paths" "$work/tiny.paths" >"$work/tiny.diff" &&
    diff "$work/expected.txt" "$work/tiny.requested" >>"$work/tiny.diff"; then
    pass "--frontier-mem 4: $spilled URLs spilled to disk, the same pages fetched, each once"
else
    fail "--frontier-mem 4: exit $rc, spilled '$spilled' (< full crawl, > this one)" \
        "$work/tiny.diff" "$work/tiny.err"
fi

# ---- 2. bounds ------------------------------------------------------------------------------
reset_log
timeout 60 "$crawl" --same-host --max-pages 5 "$base/" >"$work/max.jsonl" 2>"$work/max.err"
rc=$?
n=$(wc -l <"$work/max.jsonl")
if [ $rc = 0 ] && [ "$n" = 5 ] && [ "$(requested | grep -vc '^/robots.txt$')" = 5 ]; then
    pass "--max-pages 5 fetches 5 pages"
else
    fail "--max-pages 5: exit $rc, $n lines" "$work/max.jsonl" "$work/max.err"
fi
reset_log
timeout 60 "$crawl" --same-host --max-depth 1 "$base/" >"$work/depth.jsonl" 2>"$work/depth.err"
rc=$?
maxdepth=$("$python" -c '
import json, sys
print(max(json.loads(l)["depth"] for l in open(sys.argv[1])))' "$work/depth.jsonl" 2>/dev/null)
if [ $rc = 0 ] && [ "$maxdepth" = 1 ] && grep -q "\"$base/page/0.html\"" "$work/depth.jsonl" &&
    ! grep -q "\"url\":\"$base/page/1.html\"" "$work/depth.jsonl"; then
    pass "--max-depth 1 stops one hop from the seed"
else
    fail "--max-depth 1: exit $rc, deepest $maxdepth" "$work/depth.jsonl" "$work/depth.err"
fi

# ---- 3. per-host concurrency ----------------------------------------------------------------
reset_log
timeout 60 "$crawl" --same-host --per-host 2 --concurrency 8 "$base/slow/index.html" \
    >"$work/slow.jsonl" 2>"$work/slow.err"
rc=$?
overlap=$("$python" -c '
import sys
events = []
for line in open(sys.argv[1]):
    f = line.split()
    end, took = float(f[0]), float(f[1])
    # 2 ms of slack for the millisecond rounding of both numbers
    events.append((end - took + 0.002, 1))
    events.append((end, -1))
events.sort(key=lambda e: (e[0], e[1]))
cur = best = 0
for _, d in events:
    cur += d
    best = max(best, cur)
print(best)' "$log")
out_paths "$work/slow.jsonl" >"$work/slow.paths"
if [ $rc = 0 ] && [ "$overlap" = 2 ] && diff -q "$work/slow.txt" "$work/slow.paths" >/dev/null; then
    pass "--per-host 2: at most 2 requests overlap at the server (max seen: $overlap)"
else
    fail "--per-host 2: exit $rc, max overlap $overlap" "$log" "$work/slow.err"
fi

# ---- 4. interrupt and resume ----------------------------------------------------------------
reset_log
resume_cmd=("$crawl" --same-host --max-body 1000000 --per-host 1 --delay 100 --state
    "$work/crawl.state" -o "$work/resume.jsonl" "$base/")
"${resume_cmd[@]}" >/dev/null 2>"$work/resume1.err" &
cpid=$!
sleep 1.5
kill -INT "$cpid" 2>/dev/null
rc=""
for _ in $(seq 100); do
    if ! kill -0 "$cpid" 2>/dev/null; then
        wait "$cpid"
        rc=$?
        break
    fi
    sleep 0.1
done
if [ -z "$rc" ]; then
    kill -9 "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    rc=killed
fi
first=$(wc -l <"$work/resume.jsonl")
total=$(wc -l <"$work/expected.txt")
if [ "$rc" = 0 ] && [ "$first" -gt 0 ] && [ "$first" -lt "$total" ] &&
    grep -q "interrupted" "$work/resume1.err"; then
    pass "SIGINT stops the crawl cleanly (exit 0 after $first of $total pages)"
else
    fail "SIGINT: exit $rc, $first of $total pages" "$work/resume1.err"
fi
timeout 60 "${resume_cmd[@]}" >/dev/null 2>"$work/resume2.err"
rc=$?
out_paths "$work/resume.jsonl" >"$work/resume.paths"
requested | grep -v '^/robots.txt$' | sort >"$work/resume.requested"
if [ $rc = 0 ] && diff "$work/expected.txt" "$work/resume.paths" >"$work/resume.diff" &&
    diff "$work/expected.txt" "$work/resume.requested" >>"$work/resume.diff"; then
    pass "resumed crawl completes: every expected page fetched exactly once over both runs"
else
    fail "resume: exit $rc (< expected, > fetched)" "$work/resume.diff" "$work/resume2.err"
fi
timeout 60 "${resume_cmd[@]}" >/dev/null 2>"$work/resume3.err"
rc=$?
if [ $rc = 0 ] && [ "$(wc -l <"$work/resume.jsonl")" = "$total" ]; then
    pass "a third run with a finished --state fetches nothing"
else
    fail "third run: exit $rc" "$work/resume3.err"
fi

# ---- 4b. interrupt and resume with a tiny in-memory frontier -------------------------------
reset_log
tiny_cmd=("$crawl" --same-host --max-body 1000000 --per-host 1 --delay 100 --frontier-mem 4
    --state "$work/tiny.state" -o "$work/tiny-resume.jsonl" "$base/")
"${tiny_cmd[@]}" >/dev/null 2>"$work/tiny1.err" &
cpid=$!
sleep 1.5
kill -TERM "$cpid" 2>/dev/null
rc=""
for _ in $(seq 100); do
    if ! kill -0 "$cpid" 2>/dev/null; then
        wait "$cpid"
        rc=$?
        break
    fi
    sleep 0.1
done
if [ -z "$rc" ]; then
    kill -9 "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    rc=killed
fi
first=$(wc -l <"$work/tiny-resume.jsonl")
spilled=$(sed -n 's/.*; \([0-9]*\) URLs spilled to disk.*/\1/p' "$work/tiny1.err")
if [ "$rc" = 0 ] && [ "$first" -gt 0 ] && [ "$first" -lt "$total" ] && [ "${spilled:-0}" -gt 0 ]; then
    pass "--frontier-mem 4: SIGTERM stops cleanly after $first pages ($spilled URLs spilled)"
else
    fail "--frontier-mem 4, SIGTERM: exit $rc, $first of $total pages, spilled '$spilled'" \
        "$work/tiny1.err"
fi
timeout 60 "${tiny_cmd[@]}" >/dev/null 2>"$work/tiny2.err"
rc=$?
out_paths "$work/tiny-resume.jsonl" >"$work/tiny-resume.paths"
requested | grep -v '^/robots.txt$' | sort >"$work/tiny-resume.requested"
if [ $rc = 0 ] && diff "$work/expected.txt" "$work/tiny-resume.paths" >"$work/tiny-resume.diff" &&
    diff "$work/expected.txt" "$work/tiny-resume.requested" >>"$work/tiny-resume.diff"; then
    pass "--frontier-mem 4: resumed crawl fetches every expected page exactly once over both runs"
else
    fail "--frontier-mem 4 resume: exit $rc (< expected, > fetched)" "$work/tiny-resume.diff" \
        "$work/tiny2.err"
fi
timeout 60 "${tiny_cmd[@]}" >/dev/null 2>"$work/tiny3.err"
rc=$?
lines=$(wc -l <"$work/tiny.state")
if [ $rc = 0 ] && [ "$(wc -l <"$work/tiny-resume.jsonl")" = "$total" ] &&
    [ "$(grep -c '^D [0-9a-f]\{16\}$' "$work/tiny.state")" = "$lines" ] &&
    [ "$(sort -u "$work/tiny.state" | wc -l)" = "$lines" ] && [ "$lines" -ge "$total" ] &&
    [ ! -e "$work/tiny.state.tmp" ]; then
    pass "a finished --state log is compacted to one hash line per URL ($lines lines)"
else
    fail "compacted state: exit $rc, $lines lines" "$work/tiny.state" "$work/tiny3.err"
fi

# ---- 5. robots.txt answers: 503, 404, Crawl-delay -------------------------------------------
reset_log
timeout 60 "$crawl" --same-host "http://127.0.0.1:$port_5xx/" >"$work/r5.jsonl" 2>"$work/r5.err"
rc=$?
if [ $rc = 0 ] && [ ! -s "$work/r5.jsonl" ] &&
    [ "$(requested_on "$port_5xx" | tr '\n' ' ')" = "/robots.txt " ]; then
    pass "a 503 robots.txt keeps the crawler off the whole host"
else
    fail "503 robots.txt: exit $rc" "$work/r5.jsonl" "$log"
fi
reset_log
timeout 60 "$crawl" --same-host --max-depth 1 "http://127.0.0.1:$port_404/private/secret.html" \
    >"$work/r4.jsonl" 2>"$work/r4.err"
rc=$?
got=$(requested_on "$port_404" | sort | tr '\n' ' ')
if [ $rc = 0 ] && [ "$got" = "/private/deeper.html /private/secret.html /robots.txt " ]; then
    pass "a 404 robots.txt allows everything"
else
    fail "404 robots.txt: exit $rc, requested: $got" "$work/r4.jsonl" "$work/r4.err"
fi
reset_log
timeout 60 "$crawl" --same-host --max-pages 4 "http://127.0.0.1:$port_delay/page/0.html" \
    >"$work/rd.jsonl" 2>"$work/rd.err"
rc=$?
gap=$(awk -v p="$port_delay" '$NF == p { printf "%.3f\n", $1 - $2 }' "$log" | sort -n | "$python" -c '
import sys
starts = [float(x) for x in sys.stdin]
print("%.3f %d" % (min(b - a for a, b in zip(starts, starts[1:])), len(starts)))')
if [ $rc = 0 ] && [ "$(wc -l <"$work/rd.jsonl")" = 4 ] &&
    "$python" -c 'import sys; g, n = sys.argv[1].split(); sys.exit(not (float(g) >= 0.29 and n == "5"))' "$gap"; then
    pass "Crawl-delay 0.3 spaces the requests to a host (smallest gap, requests: $gap)"
else
    fail "Crawl-delay: exit $rc, smallest gap and requests: $gap" "$log" "$work/rd.err"
fi

# ---- 6. usage errors ------------------------------------------------------------------------
timeout 10 "$crawl" --bogus "$base/" >/dev/null 2>"$work/usage.err"
rc=$?
if [ $rc = 2 ] && grep -q "unknown option" "$work/usage.err"; then
    pass "bad flag exits 2 with a message"
else
    fail "bad flag: exit $rc" "$work/usage.err"
fi
timeout 10 "$crawl" "not a url" >/dev/null 2>"$work/usage.err"
rc=$?
if [ $rc = 2 ] && grep -q "bad URL" "$work/usage.err"; then
    pass "bad URL exits 2 with a message"
else
    fail "bad URL: exit $rc" "$work/usage.err"
fi
timeout 10 "$crawl" --include '(' "$base/" >/dev/null 2>"$work/usage.err"
rc=$?
if [ $rc = 2 ] && grep -q "bad --include" "$work/usage.err"; then
    pass "bad regex exits 2 with a message"
else
    fail "bad regex: exit $rc" "$work/usage.err"
fi

finish
