#!/usr/bin/env bash
# Print Check's summary line of every suite run in build dir $1, and one total line.
# Exits non-zero if any suite failed or none ran.
set -uo pipefail
build="${1:-build}"
passed=0
failed=0
shopt -s nullglob
for log in "$build"/tests/unit/*.log; do
    case "$log" in *.valgrind.log) kind="valgrind " ;; *) kind="" ;; esac
    line=$(grep -h '^[0-9]*%: Checks:' "$log" | tail -1)
    [ -n "$line" ] || continue
    echo "${kind}$(basename "${log%%.*}"): $line"
    checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    fails=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$line")
    fails=$((fails))
    passed=$((passed + checks - fails))
    failed=$((failed + fails))
done
for log in "$build"/tests/*.log "$build"/tests/interop/*.log; do
    line=$(grep -hE '^[a-z-]*:? ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    [ -n "$line" ] || continue
    echo "$(basename "${log%.log}"): $line"
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
