#!/usr/bin/env bash
# The property soak: the core's property tests at 100,000 cases each, the Rust ones
# (src/proptests.rs, proptest) and the Python ones (tests/test_properties.py, hypothesis), then
# one result line: properties, cases, time, failures.
#
#   bash scripts/soak_properties.sh            # 100,000 cases per property
#   CASES=20000 bash scripts/soak_properties.sh
#
# Rust runs in release with overflow checks and debug assertions on (an arithmetic overflow is
# then a failure, as in a debug build, at release speed), in its own target directory
# (target/soak) so that it leaves the normal builds alone. Bounded: each side also stops after
# SOAK_TIMEOUT seconds (default 3 hours).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CASES=${CASES:-100000}
SOAK_TIMEOUT=${SOAK_TIMEOUT:-10800}
LOG_DIR=${LOG_DIR:-target/soak-logs}
mkdir -p "$LOG_DIR"

# shellcheck source=scripts/setup.sh
source scripts/setup.sh

echo "== rust: src/proptests.rs, PROPTEST_CASES=$CASES" >&2
export CARGO_TARGET_DIR=target/soak CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
    CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
cargo test --release --lib --quiet --no-run >"$LOG_DIR/rust-build.log" 2>&1 ||
    { echo "rust build failed, see $LOG_DIR/rust-build.log" >&2; exit 1; }
rust_start=$(date +%s)
PROPTEST_CASES=$CASES \
    timeout "$SOAK_TIMEOUT" cargo test --release --lib --quiet proptests -- --test-threads=2 \
    >"$LOG_DIR/rust.log" 2>&1
rust_rc=$?
# the properties (proptests::<name>); proptests::fixed_cases::* run once
rust_props=$(cargo test --release --lib --quiet proptests -- --list 2>/dev/null |
    grep -cE '^proptests::[a-z_]+: test$')
unset CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS
rust_secs=$(( $(date +%s) - rust_start ))
# "test result: ok. 18 passed; 0 failed; 1 ignored; ..."
rust_summary=$(grep -E '^test result:' "$LOG_DIR/rust.log" | tail -n 1)
rust_passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$rust_summary")
rust_failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$rust_summary")
rust_ignored=$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$rust_summary")
[ "$rust_rc" -eq 0 ] || { echo "rust soak failed (rc=$rust_rc), see $LOG_DIR/rust.log" >&2;
                           grep -E 'panicked|Test failed|minimal failing' "$LOG_DIR/rust.log" |
                           head -n 20 >&2; }

echo "== python: tests/test_properties.py, hypothesis profile soak (max_examples=$CASES)" >&2
# two pytest processes (two cores): half the normalisers, then the other half and the rest
T=tests/test_properties.py
N="$T::test_normaliser_gives_a_value_or_names_the_field"
first=("$N[email]" "$N[phone]" "$N[first_name]" "$N[last_name]" "$N[gender]" "$N[date_of_birth]")
py_start=$(date +%s)
run_pytest() {  # log file, then pytest arguments
    local logf=$1; shift
    CONVAPI_HYPOTHESIS_PROFILE=soak CONVAPI_SOAK_CASES=$CASES \
        timeout "$SOAK_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider \
        --hypothesis-show-statistics "$@" >"$logf" 2>&1
}
run_pytest "$LOG_DIR/python-1.log" "${first[@]}" &
first_pid=$!
deselect=()
for id in "${first[@]}"; do deselect+=(--deselect "$id"); done
run_pytest "$LOG_DIR/python-2.log" "$T" "${deselect[@]}"
py_rc=$?
wait "$first_pid" || py_rc=$?
py_secs=$(( $(date +%s) - py_start ))
cat "$LOG_DIR/python-1.log" "$LOG_DIR/python-2.log" >"$LOG_DIR/python.log"
# hypothesis statistics, per property: "- 100000 passing, 0 failing, and 12 invalid test cases"
py_counts=$(sed -nE 's/.* ([0-9]+) passing, ([0-9]+) failing.*/\1 \2/p' "$LOG_DIR/python.log")
py_props=$(grep -c . <<<"$py_counts")
py_examples=$(awk '{s += $1} END {print s + 0}' <<<"$py_counts")
py_min=$(awk 'NR == 1 || $1 < m {m = $1} END {print m + 0}' <<<"$py_counts")
py_failing=$(awk '{s += $2} END {print s + 0}' <<<"$py_counts")
py_normalisers=$(grep -A4 'names_the_field\[' "$LOG_DIR/python.log" |
    sed -nE 's/.* ([0-9]+) passing,.*/\1/p' | sort -n | head -n 1)
py_summary="$(tail -n 1 "$LOG_DIR/python-1.log") / $(tail -n 1 "$LOG_DIR/python-2.log")"
[ "$py_rc" -eq 0 ] || { echo "python soak failed (rc=$py_rc), see $LOG_DIR/python.log" >&2;
                         grep -E '^(FAILED|E )' "$LOG_DIR/python.log" | head -n 20 >&2; }

echo "soak $(date -u +%Y-%m-%d) at $(git rev-parse --short HEAD):" \
     "rust ${rust_props} properties x ${CASES} cases, ${rust_secs} s, ${rust_failed:-?} failed" \
     "(${rust_passed:-?} tests passed, ${rust_ignored:-0} ignored);" \
     "python ${py_props} properties, ${py_examples} examples (each normaliser" \
     "${py_normalisers:-?}, every property at least ${py_min})," \
     "${py_secs} s, ${py_failing} failing examples (pytest: ${py_summary})"
[ "$rust_rc" -eq 0 ] && [ "$py_rc" -eq 0 ]
