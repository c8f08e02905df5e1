#!/usr/bin/env bash
# libFuzzer runs of every parser of outside bytes (README "Fuzzing").
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Sets up and builds build-fuzz (clang, libFuzzer, ASan + UBSan), then runs
# each target (default: all five) for SECONDS (default 24: about 2 minutes
# in all) on a scratch copy of its committed seed corpus, under
# fuzz-out/<target>/corpus (kept between runs, so a later run starts from
# what an earlier one found; tests/fuzz/corpus is never modified).
# -malloc_limit_mb makes any single allocation over 1 GiB a crash (an
# allocation sized by a header field nobody checked), -rss_limit_mb bounds
# the whole process. Prints one line per target; exits 1 if a target found
# a crash, leak, timeout or out-of-memory (the reproducer is printed, and
# saved under fuzz-out/<target>/), 2 if the build failed.
# Environment: TG_FUZZ_BUILD (build dir), TG_FUZZ_OUT (output dir).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-24}
[ $# -gt 0 ] && shift
case $secs in '' | *[!0-9]* | 0) echo "usage: scripts/fuzz.sh [SECONDS >= 1] [TARGET...]" >&2; exit 2 ;; esac
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_idx fuzz_idx_gz fuzz_cifar fuzz_csv fuzz_safetensors)
build=${TG_FUZZ_BUILD:-build-fuzz}
out=${TG_FUZZ_OUT:-fuzz-out}
log=${TMPDIR:-/tmp}/tg-fuzz-build.$$.log

# one set-up and build at a time (another checkout user may run test.sh)
mkdir -p "$out"
exec 9>"$out/.build.lock"
flock 9
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" --werror -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dtests=false --buildtype=debugoptimized >"$log" 2>&1 ||
    { cat "$log"; echo "fuzz: meson setup of $build failed"; exit 2; }
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >"$log" 2>&1 ||
  { cat "$log"; echo "fuzz: building the targets in $build failed"; exit 2; }
exec 9>&-

stat_of() { grep -aoE "^stat::$1: *[0-9]+" "$2" | grep -oE '[0-9]+$' | tail -1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
  dir=$out/$t
  mkdir -p "$dir/corpus"
  cp -n tests/fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null
  max_len=4096
  [ "$t" = fuzz_cifar ] && max_len=12400 # four 3073-byte records and the flags byte
  tlog=$dir/fuzz.log.$$ # this run's log, renamed to fuzz.log at the end
  start=$(date +%s)
  "$build/tests/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -timeout=10 -max_len=$max_len -print_final_stats=1 -artifact_prefix="$dir/" \
    "$dir/corpus" >"$tlog" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  runs=$(stat_of number_of_executed_units "$tlog")
  eps=$(stat_of average_exec_per_sec "$tlog")
  new=$(stat_of new_units_added "$tlog")
  rss=$(stat_of peak_rss_mb "$tlog")
  if [ $rc -eq 0 ]; then
    echo "-- fuzz $t: clean (${took} s, ${runs:-?} runs, ${eps:-?} exec/s, ${new:-0} new inputs, peak RSS ${rss:-?} MB)"
  else
    status=1
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$tlog" | tail -1)
    echo "-- fuzz $t: FAILED (exit $rc after ${took} s): reproducer ${repro:-(none written)}, log $dir/fuzz.log"
    grep -aE 'ERROR: |SUMMARY: |runtime error|#[0-9]+ 0x' "$tlog" |
      grep -avE 'fuzzer::|__sanitizer|__asan|__interceptor|libc_start|in _start' | head -20 | sed 's/^/   /'
    [ -n "$repro" ] && echo "   replay: $build/tests/fuzz/$t $repro"
  fi
  mv -f "$tlog" "$dir/fuzz.log"
done
rm -f "$log"
exit $status
