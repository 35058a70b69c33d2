# Shared by the interop scripts (sourced, not run): their temp dir, the background processes
# they start, their PASS/FAIL/SKIP lines and counters, and the bounded waits they all need.
#
#   interop_init NAME   $work (a fresh temp dir, removed at exit), pids=() (every PID in it is
#                       killed and reaped at exit), passed/failed/skipped = 0, traps
#   pass NAME           one check passed
#   fail NAME [FILE...] one check failed; the last lines of each FILE that exists are shown
#   skip NAME WHY       one check could not run here
#   wait_for_text FILE TEXT   until FILE contains TEXT (at most 10 s); non-zero if it never did
#   wait_for_port PORT        until 127.0.0.1:PORT accepts (at most 10 s)
#   free_ports N              N ports free now (the kernel's picks), on one line
#   free_port                 one of them
#   run_fetch ARGS...         $fetch ARGS (at most 30 s): stdout in $work/out, stderr in
#                             $work/err, the exit status in $rc
#   check NAME RC [OUT_RE] [ERR_RE]   pass if run_fetch exited RC and its stdout/stderr match
#
# Needs /usr/bin/python3 for free_ports (every interop script needs it anyway).

interop_init() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    pids=()
    passed=0
    failed=0
    skipped=0
    trap interop_cleanup EXIT
    trap 'exit 130' INT TERM
}

interop_cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
}

pass() {
    echo "PASS: $1"
    passed=$((passed + 1))
}

fail() {
    echo "FAIL: $1"
    shift
    for f in "$@"; do
        [ -f "$f" ] && sed 's/^/    | /' "$f" | tail -20
    done
    failed=$((failed + 1))
}

skip() {
    echo "SKIP: $1 ($2)"
    skipped=$((skipped + 1))
}

wait_for_text() {
    timeout 10 bash -c "until grep -q -- '$2' '$1' 2>/dev/null; do sleep 0.05; done"
}

wait_for_port() {
    timeout 10 bash -c "until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do sleep 0.05; done"
}

free_ports() {
    /usr/bin/python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

free_port() { free_ports 1; }

run_fetch() {
    timeout 30 "$fetch" "$@" >"$work/out" 2>"$work/err"
    rc=$?
}

check() {
    local name=$1 want=$2 out_pat=${3:-} err_pat=${4:-}
    if [ "$rc" != "$want" ]; then
        fail "$name (exit $rc, want $want)" "$work/out" "$work/err"
    elif [ -n "$out_pat" ] && ! grep -q -- "$out_pat" "$work/out"; then
        fail "$name (stdout lacks '$out_pat')" "$work/out" "$work/err"
    elif [ -n "$err_pat" ] && ! grep -q -- "$err_pat" "$work/err"; then
        fail "$name (stderr lacks '$err_pat')" "$work/out" "$work/err"
    else
        pass "$name"
    fi
}
