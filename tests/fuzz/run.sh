#!/usr/bin/env bash
# tests/fuzz/run.sh: run each libFuzzer target for a while and say whether it found anything.
#
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]     (defaults: 60, build-fuzz)
#
# Builds nothing: BUILD_DIR must hold the targets of a `CC=clang configure --enable-fuzzing` build
# (quickstart.sh test makes one in build-fuzz/). Each target runs for SECONDS, one after the other,
# over a copy of its committed corpus (tests/fuzz/corpus/<target>) in
# BUILD_DIR/fuzz-run/<target>/corpus, so a run adds nothing to the committed corpus unless
# FUZZ_UPDATE_CORPUS=1 asks it to merge what it found (libFuzzer -merge=1: only inputs that add
# coverage). Every seed runs first, so the issue's attack inputs are checked on every run.
#
# For each target it prints the executions, exec/s and coverage (cov: and ft: from libFuzzer's
# final lines), and PASS or FAIL. A crash, a leak, a timeout (-timeout=10) or running out of
# memory fails the target: the input is left in BUILD_DIR/fuzz-run/<target>/artifacts/ and its path
# printed, with the end of libFuzzer's log (the stack); the whole log is
# BUILD_DIR/fuzz-run/<target>/fuzz.log. Replay an input with: BUILD_DIR/tests/fuzz/fuzz_<target> FILE
# (AH_FUZZ_DUMP=1 shows what the target read and wrote). libFuzzer stops at the first failure, so
# after one the committed seeds are also replayed one by one and those that fail are listed.
#
# The last line is exactly "fuzz: N passed, M failed" (CI reads it); the exit status is 0 only
# if nothing failed. Environment: FUZZ_TARGETS="request response" (which targets),
# FUZZ_MAX_LEN (16384), FUZZ_ARGS (more libFuzzer arguments), FUZZ_UPDATE_CORPUS=1 (see above).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
build=${2:-build-fuzz}
case "$secs" in
'' | *[!0-9]*)
    echo "run.sh: SECONDS must be a whole number (got '$secs')" >&2
    exit 2
    ;;
esac
# BUILD_DIR as given (relative to the current directory), else relative to the source tree
if [ ! -d "$build" ] && [ -d "$top/$build" ]; then
    build="$top/$build"
fi
if [ ! -d "$build" ]; then
    echo "run.sh: no build directory '$build' (configure one with CC=clang --enable-fuzzing)" >&2
    exit 2
fi
build=$(cd "$build" && pwd)
targets=${FUZZ_TARGETS:-request response}
max_len=${FUZZ_MAX_LEN:-16384}
# halt_on_error: the one recoverable UBSan check (pointer-overflow, see configure.ac) stops the
# run too, except for the known library reports tests/fuzz/ubsan.supp lists.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$top/tests/fuzz/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

passed=0
failed=0
for t in $targets; do
    name=fuzz_$t
    bin=$build/tests/fuzz/$name
    seeds=$top/tests/fuzz/corpus/$t
    work=$build/fuzz-run/$t
    if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
        echo "FAIL: $name: no $bin (build it: make -C $build tests/fuzz/$name) or no $seeds"
        failed=$((failed + 1))
        continue
    fi
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$seeds"/* "$work/corpus/"
    log=$work/fuzz.log
    echo "fuzz: $name for ${secs}s over $(find "$seeds" -type f | wc -l) seeds (log: $log)"
    started=$SECONDS
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of arguments
    "$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} \
        "$work/corpus" >"$log" 2>&1
    rc=$?
    took=$((SECONDS - started))
    # the figures: libFuzzer's final stats, and the last status line with cov: and ft:
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    if [ -z "$execs" ]; then # stopped before the final stats: count from the status line
        execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    fi
    summary="${took}s, ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    found=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o \
        -name 'timeout-*' -o -name 'oom-*' \) | sort)
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        echo "PASS: $name ($summary)"
        passed=$((passed + 1))
    else
        echo "FAIL: $name (exit $rc; $summary)"
        echo "----- end of $log -----"
        grep -v -E '^#[0-9]+' "$log" | tail -60
        echo "-----"
        for f in $found; do
            echo "fuzz: $name: input that failed: $f"
            echo "fuzz: replay with: $bin $f"
        done
        [ -n "$found" ] || echo "fuzz: $name: exited $rc without leaving an input (see $log)"
        # libFuzzer stops at the first failure: list every committed seed that fails on its own
        bad=""
        for f in "$seeds"/*; do
            "$bin" -runs=1 "$f" >/dev/null 2>&1 || bad="$bad $(basename "$f")"
        done
        echo "fuzz: $name: committed seeds that fail on their own:${bad:- none}"
        failed=$((failed + 1))
    fi
    crashes=$(grep -c . <<<"$found")
    [ "$rc" -eq 0 ] || [ "$crashes" -gt 0 ] || crashes=1
    # a row for tests/fuzz/RESULTS.md: target, seconds, execs, exec/s, cov, ft, crashes, date
    echo "results row: | $name | $took | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} |" \
        "$crashes | $(date -u +%Y-%m-%d) |"
    if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ] && [ "$rc" -eq 0 ]; then
        # only inputs that add coverage go into the committed corpus
        "$bin" -merge=1 -max_len="$max_len" "$seeds" "$work/corpus" >"$work/merge.log" 2>&1 &&
            echo "fuzz: $name: merged into $seeds ($(find "$seeds" -type f | wc -l) files now)" ||
            echo "fuzz: $name: merge failed (see $work/merge.log)"
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
