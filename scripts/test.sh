#!/usr/bin/env bash
# The whole test suite: set-up, a warning-free build with gcc and clang
# (-Werror), then every cmocka test under AddressSanitizer + UBSan, valgrind
# on the examples and a libFuzzer smoke run of every file reader.
# Ends with "N passed, M failed" (test cases) and exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

configure() { # dir, extra meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --werror "$@" >"${TMPDIR:-/tmp}/tg-$dir-setup.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tg-$dir-setup.log"; exit 1; }
  fi
  ninja -C "$dir" >"${TMPDIR:-/tmp}/tg-$dir-build.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tg-$dir-build.log"; exit 1; }
}

echo "== clang build (-Wall -Wextra -Werror)"
CC=clang configure build-clang
echo "== gcc build with AddressSanitizer + UndefinedBehaviorSanitizer (-Werror)"
configure build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
echo "== gcc build for valgrind (-Werror)"
configure build-valgrind --buildtype=debugoptimized -Dtests=false

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export CMOCKA_MESSAGE_OUTPUT=stdout
export OPENBLAS_NUM_THREADS=1
passed=0 failed=0 crashed=0
run_suite() { # executable, label
  local exe=$1 name=$2 log rc p f
  log=$(mktemp)
  (cd "$(dirname "$exe")" && "./$(basename "$exe")") >"$log" 2>&1
  rc=$?
  p=$(grep -oE '\[  PASSED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  f=$(grep -oE '\[  FAILED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  p=${p:-0} f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; crashed=$((crashed + 1))   # sanitizer report or crash outside a test case
  fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ $rc -ne 0 ] || [ "$f" -ne 0 ]; then
    echo "-- $name: FAILED (exit $rc)"; cat "$log"
  else
    echo "-- $name: $p passed"
  fi
  rm -f "$log"
}
for exe in build-asan/tests/test_*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  run_suite "$exe" "$(basename "$exe")"
done
# memory limits (setrlimit) cannot be tested under ASan's reservations
run_suite build-clang/tests/test_memory "test_memory (plain clang build, rlimit)"

# valgrind memcheck of the examples: zero errors, nothing definitely or
# indirectly lost (each run counts as one test case)
tmp=$(mktemp -d)
for ex in chain_rule dot quadratic_form sigmoid_gate softmax_ce jacobian hessian_saddle quickstart; do
  arg=""; [ "$ex" = chain_rule ] && arg="$tmp/graph.dot"
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       build-valgrind/examples/$ex $arg >"$tmp/out" 2>&1; then
    passed=$((passed + 1)); echo "-- valgrind $ex: clean"
  else
    failed=$((failed + 1)); echo "-- valgrind $ex: FAILED"; cat "$tmp/out"
  fi
done
rm -rf "$tmp"
echo "== libFuzzer smoke of every file reader (scripts/fuzz.sh 20)"
# libFuzzer smoke of every parser of outside bytes (README "Fuzzing"): 20 s
# per target, each target one test case (a failed fuzz build fails one)
fuzz_log=$(mktemp)
scripts/fuzz.sh 20 >"$fuzz_log" 2>&1
fuzz_rc=$?
fp=$(grep -c '^-- fuzz .*: clean' "$fuzz_log") ff=$(grep -c '^-- fuzz .*: FAILED' "$fuzz_log")
[ $fuzz_rc -ne 0 ] && [ "$ff" -eq 0 ] && ff=1
passed=$((passed + fp)); failed=$((failed + ff))
cat "$fuzz_log"
rm -f "$fuzz_log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
