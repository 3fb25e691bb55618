#!/usr/bin/env bash
# Runs one fuzzer for SECONDS on a working copy of its seed corpus (new inputs it finds stay in
# WORK, not in the source tree), then prints its executions, speed and coverage. A crash, leak,
# sanitizer report or timeout fails the run; the input that caused it is kept as WORK/crash-*
# (add it to tests/fuzz/corpus/NAME as a regression seed, and fix the bug).
# Usage: run-fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS
set -uo pipefail
fuzzer="$1" seeds="$2" work="$3" seconds="$4"
mkdir -p "$work/corpus"
cp -n "$seeds"/* "$work/corpus/" 2>/dev/null
cd "$work" || exit 1
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$(dirname "$0")/ubsan.supp"
# A fixed random seed by default (SUND_FUZZ_SEED, 1), so that make test explores the same
# mutations each run and stays reproducible; make fuzz uses 0 (a new seed every run).
"$fuzzer" -seed="${SUND_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 corpus > fuzz.log 2>&1
status=$?
if [[ $status -ne 0 ]]; then
  tail -60 fuzz.log
  echo "run-fuzzer: $(basename "$fuzzer") failed ($status); the input is in $work"
  exit "$status"
fi
grep -E "^#[0-9]+ +DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" fuzz.log
echo "run-fuzzer: $(basename "$fuzzer"): $(ls corpus | wc -l) inputs in the corpus"
