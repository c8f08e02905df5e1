#!/usr/bin/env bash
# The whole test suite: set-up, a warning-free build with gcc and clang
# (-Werror), then every cmocka test under AddressSanitizer + UBSan (and the
# deep-graph test at full size in the plain build), valgrind
# on the examples, a libFuzzer smoke run of every file reader and the API
# reference (Doxygen, warnings fail).
# Ends with "N passed, M failed" (test cases) and exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
# python3-torch: PyTorch is the oracle of tests/oracle (its forward, gradient
# and error for every op)
TG_SETUP_EXTRA="python3-torch" scripts/setup.sh || exit 1

configure() { # dir, extra meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --werror "$@" >"${TMPDIR:-/tmp}/tg-$dir-setup.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tg-$dir-setup.log"; exit 1; }
  fi
  ninja -C "$dir" >"${TMPDIR:-/tmp}/tg-$dir-build.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tg-$dir-build.log"; exit 1; }
}

echo "== clang build (-Wall -Wextra -Werror)"
CC=clang CXX=clang++ configure build-clang -Dtests=true
echo "== gcc build with AddressSanitizer + UndefinedBehaviorSanitizer (-Werror)"
configure build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug -Dtests=true
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
    # memory per recorded node, from test_deep_graphs
    grep -h 'bytes_per_node=' "$log" | sed -E 's/^\[ +\] /     /'
  fi
  rm -f "$log"
}
for exe in build-asan/tests/test_*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  run_suite "$exe" "$(basename "$exe")"
done
# dist/ across processes, where Open MPI's mpirun is installed: the
# collectives, DDP against single-process training, no_sync and the start-up
# checks at 2 and 3 ranks (oversubscribed on the 2-core machine; root in CI).
# Open MPI keeps what MPI_Init allocates: tests/lsan_mpi.supp names only MPI's
# libraries, matched along the full allocation stack (fast_unwind off).
run_mpi() { # ranks
  local log rc p f
  log=$(mktemp)
  (cd build-asan/tests &&
    ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$PWD/../../tests/lsan_mpi.supp \
    timeout 120 mpirun --allow-run-as-root --oversubscribe -np "$1" ./test_dist_mpi) >"$log" 2>&1
  rc=$?
  p=$(grep -oE '\[  PASSED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  f=$(grep -oE '\[  FAILED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  p=${p:-0} f=${f:-0}
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p)); failed=$((failed + f))
  if [ $rc -ne 0 ] || [ "$f" -ne 0 ]; then
    echo "-- test_dist_mpi (mpirun -np $1): FAILED (exit $rc)"; cat "$log"
  else
    echo "-- test_dist_mpi (mpirun -np $1): $p passed"
  fi
  rm -f "$log"
}
# a rank that dies mid-training (--fault-exit): mpirun must end the job with
# an error naming it, well before the 60 s timeout (124: it hung)
run_mpi_fault() {
  local log rc
  log=$(mktemp)
  (cd build-asan/tests &&
    ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$PWD/../../tests/lsan_mpi.supp \
    timeout 60 mpirun --allow-run-as-root --oversubscribe -np 3 ./test_dist_mpi --fault-exit) >"$log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] && grep -q "rank 2 exits at step 2" "$log" &&
     grep -q "exited with non-zero status" "$log"; then
    passed=$((passed + 1)); echo "-- test_dist_mpi --fault-exit (a rank dies): the job ended (exit $rc)"
  else
    failed=$((failed + 1)); echo "-- test_dist_mpi --fault-exit (a rank dies): FAILED (exit $rc)"; cat "$log"
  fi
  rm -f "$log"
}
if command -v mpirun >/dev/null && [ -x build-asan/tests/test_dist_mpi ]; then
  run_mpi 2
  run_mpi 3
  run_mpi_fault
fi
# PyTorch as the oracle: random cases run in tapegrad (the ASan runner) and in
# PyTorch. Each driver ends with "PREFIX: N passed, M failed", counted in ops
# (or kinds), which count as test cases.
run_oracle() { # driver, runner, summary prefix
  local log rc op of
  log=$(mktemp)
  /usr/bin/python3 "$1" "$2" >"$log" 2>&1
  rc=$?
  sed -E 's/^/   /' "$log"
  op=$(grep -oE "^$3: [0-9]+ passed, [0-9]+ failed" "$log" | grep -oE '[0-9]+' | head -1)
  of=$(grep -oE "^$3: [0-9]+ passed, [0-9]+ failed" "$log" | grep -oE '[0-9]+' | tail -1)
  op=${op:-0} of=${of:-0}
  [ $rc -ne 0 ] && [ "$of" -eq 0 ] && of=1
  passed=$((passed + op)); failed=$((failed + of))
  rm -f "$log"
}
# every op: forward, gradients and double backward compared
echo "== PyTorch oracle (tests/oracle/torch_oracle.py)"
run_oracle tests/oracle/torch_oracle.py build-asan/tests/oracle_runner oracle
# every optimizer over 20 steps (every option combination), every LR
# scheduler, BatchNorm1d's running statistics over train/eval steps
echo "== PyTorch oracle of optimizers, LR schedulers, BatchNorm1d (tests/oracle/optim_oracle.py)"
run_oracle tests/oracle/optim_oracle.py build-asan/tests/optim_runner "optim oracle"
# the exported symbols of both shared libraries (gcc + ASan, clang) against
# the public headers' declarations (tests/test_exports.py)
for b in build-asan build-clang; do
  log=$(mktemp)
  if python3 tests/test_exports.py --lib $b/libtapegrad.so --cc "$([ $b = build-clang ] && echo clang || echo gcc)" \
       >"$log" 2>&1; then
    passed=$((passed + 1)); echo "-- test_exports ($b/libtapegrad.so): $(grep -c '^-- every' "$log") checks passed"
  else
    failed=$((failed + 1)); echo "-- test_exports ($b/libtapegrad.so): FAILED"; cat "$log"
  fi
  rm -f "$log"
done
# meson install into a prefix (README "Installing"), reusing build-valgrind
# (no tests): quickstart.c built outside the tree with the README's
# pkg-config commands, shared and static, must run in an empty environment
install_check() { # build dir
  local prefix=$PWD/$1/prefix d log pcdir
  d=$(mktemp -d) log=$d/log
  rm -rf "$prefix"
  meson configure "$1" --prefix="$prefix" >"$log" 2>&1 &&
    meson install -C "$1" >>"$log" 2>&1 || { echo "meson install failed"; cat "$log"; return 1; }
  pcdir=$(dirname "$(find "$prefix" -name tapegrad.pc | head -1)")
  cp examples/quickstart.c "$d/prog.c"
  (cd "$d" &&
    export PKG_CONFIG_PATH=$pcdir &&
    cc prog.c -o prog_shared $(pkg-config --cflags --libs tapegrad) &&
    cc prog.c -o prog_static $(pkg-config --static --cflags --libs tapegrad-static)) >>"$log" 2>&1 ||
    { echo "building against the prefix failed"; cat "$log"; return 1; }
  # the shared one loads the prefix's library, the static one none
  env -i "$d/prog_shared" >"$d/out_shared" 2>&1 && env -i "$d/prog_static" >"$d/out_static" 2>&1 &&
    cmp -s "$d/out_shared" "$d/out_static" && grep -q '^predictions for' "$d/out_shared" &&
    env -i ldd "$d/prog_shared" | grep -q "libtapegrad.so.0 => $prefix/" &&
    ! ldd "$d/prog_static" | grep -q libtapegrad ||
    { echo "the installed programs failed"; cat "$d"/out_*; ldd "$d/prog_shared" "$d/prog_static"; return 1; }
  rm -rf "$d"
}
if install_check build-valgrind; then
  passed=$((passed + 1)); echo "-- meson install + pkg-config (shared, --static): both programs run"
else
  failed=$((failed + 1)); echo "-- meson install + pkg-config: FAILED"
fi
# and a plain set-up (what `meson install` builds) defines no test or benchmark
plain=$(mktemp -d)
if meson setup "$plain/build" >"$plain/log" 2>&1 &&
   grep -q '"defined_in": "[^"]*/examples/meson.build"' "$plain/build/meson-info/intro-targets.json" &&
   ! grep -qE '"defined_in": "[^"]*/(tests|bench)/meson.build"' "$plain/build/meson-info/intro-targets.json"; then
  passed=$((passed + 1)); echo "-- a plain meson setup: the library and examples, no tests or benchmarks"
else
  failed=$((failed + 1)); echo "-- a plain meson setup: FAILED (tests or benchmarks among its targets)"; cat "$plain/log"
fi
rm -rf "$plain"
# memory limits (setrlimit) cannot be tested under ASan's reservations
run_suite build-clang/tests/test_memory "test_memory (plain clang build, rlimit)"
# deep and wide graphs at full size: backward through a 10^7-op chain and
# 10^6-way fan-ins, memory linear in graph size (gigabytes and tens of
# seconds, bench/RESULTS.md; mostly first touches of fresh memory; glibc's heap on
# transparent huge pages saves most of the page faults)
TG_DEEP_OPS=10000000 TG_FANIN=1000000 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
  run_suite build-clang/tests/test_deep_graphs "test_deep_graphs (plain clang build, 10^7 ops, 10^6 fan-in)"
# the worker threads that split large products (tensor/parallel.c) and the
# DataLoader's workers (data/loader.c) under ThreadSanitizer: products at 1,
# 2 and 3 threads must agree, batches at 0..3 workers too, with no race
echo "== clang ThreadSanitizer build of test_ops_grad, test_ops_conv and test_loader_workers"
if [ ! -f build-tsan/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-tsan --werror -Db_sanitize=thread -Db_lundef=false --buildtype=debug -Dtests=true \
    >"${TMPDIR:-/tmp}/tg-build-tsan-setup.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tg-build-tsan-setup.log"; exit 1; }
fi
ninja -C build-tsan tests/test_ops_grad tests/test_loader_workers tests/test_ops_conv >"${TMPDIR:-/tmp}/tg-build-tsan.log" 2>&1 || { cat "${TMPDIR:-/tmp}/tg-build-tsan.log"; exit 1; }
TSAN_OPTIONS=halt_on_error=1 run_suite build-tsan/tests/test_ops_grad "test_ops_grad (ThreadSanitizer)"
TSAN_OPTIONS=halt_on_error=1 run_suite build-tsan/tests/test_ops_conv "test_ops_conv (ThreadSanitizer)"
TSAN_OPTIONS=halt_on_error=1 run_suite build-tsan/tests/test_loader_workers \
  "test_loader_workers (ThreadSanitizer)"

# valgrind memcheck of the examples: zero errors, nothing definitely or
# indirectly lost (each run counts as one test case)
tmp=$(mktemp -d)
for ex in chain_rule dot quadratic_form sigmoid_gate softmax_ce jacobian hessian_saddle complex_cell quickstart \
    rnn_on_the_fly activation_stats; do
  arg=""; [ "$ex" = chain_rule ] && arg="$tmp/graph.dot"
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       build-valgrind/examples/$ex $arg >"$tmp/out" 2>&1; then
    passed=$((passed + 1)); echo "-- valgrind $ex: clean"
  else
    failed=$((failed + 1)); echo "-- valgrind $ex: FAILED"; cat "$tmp/out"
  fi
done
# a user program with threads (tests/shutdown_prog.c: tapegrad's workers, a
# pthread making tensors, exit without cleaning up): no block left of any
# kind, still reachable included (glibc's and OpenBLAS's too). Built here
# against build-valgrind: valgrind 3.19 cannot read clang 14's DWARF 5.
vg_inc="-I. -Itensor -Iautograd -Iops -Inn -Ioptim -Idata -Idist"
if cc -g -O1 $vg_inc tests/shutdown_prog.c -o "$tmp/shutdown_prog" -Lbuild-valgrind -ltapegrad \
     -Wl,-rpath,"$PWD/build-valgrind" -lpthread -lm >"$tmp/out" 2>&1 &&
   valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
     "$tmp/shutdown_prog" >"$tmp/out" 2>&1 && grep -q "shutdown_prog: ok" "$tmp/out"; then
  passed=$((passed + 1)); echo "-- valgrind shutdown_prog (threads, no clean-up call): clean"
else
  failed=$((failed + 1)); echo "-- valgrind shutdown_prog: FAILED"; cat "$tmp/out"
fi
# and of the training examples on tiny data sets (gen_fixtures: 100
# training and 20 test images, IDX and CIFAR-10): one epoch of 2-3 steps, then
# evaluation of the checkpoint the run wrote (--epochs 0 --load)
vg_train() { # label, example, args...
  local label=$1; shift
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1)); echo "-- valgrind $label: clean"
  else
    failed=$((failed + 1)); echo "-- valgrind $label: FAILED"; cat "$tmp/out"
  fi
}
if build-clang/tests/gen_fixtures "$tmp/data" 100 20 >"$tmp/out" 2>&1; then
  d=$tmp/data ex=build-valgrind/examples
  vg_train "mlp_mnist (1 epoch, 3 steps)" $ex/mlp_mnist --data "$d/mnist" --epochs 1 --batch 20 \
    --max-steps 3 --threads 1 --out "$tmp/mlp"
  vg_train "mlp_mnist --load" $ex/mlp_mnist --data "$d/mnist" --epochs 0 \
    --load "$tmp/mlp/mlp_mnist.safetensors" --threads 1 --out "$tmp/mlp_load"
  vg_train "cifar_mlp --cifar (1 epoch, 3 steps)" $ex/cifar_mlp --cifar "$d/cifar" --epochs 1 \
    --batch 20 --max-steps 3 --threads 1 --out "$tmp/cifar"
  vg_train "cifar_mlp --load" $ex/cifar_mlp --cifar "$d/cifar" --epochs 0 \
    --load "$tmp/cifar/cifar_mlp.safetensors" --threads 1 --out "$tmp/cifar_load"
  vg_train "cnn_mnist (1 epoch, 2 steps)" $ex/cnn_mnist --data "$d/mnist" --epochs 1 --batch 8 \
    --max-steps 2 --threads 1 --out "$tmp/cnn"
  vg_train "vae_mnist (1 epoch, 2 steps, checkpoint reload)" $ex/vae_mnist --data "$d/mnist" \
    --epochs 1 --batch 16 --max-steps 2 --threads 1 --out "$tmp/vae"
  # mlp_mnist data-parallel: 2 ranks of batch 10 against 1 of batch 20 (the
  # same global batches, the DistributedSampler's order): one progress line
  # per epoch (rank 0's), the same losses to 1e-3, rank 0's checkpoint
  if command -v mpirun >/dev/null; then
    mr="mpirun --allow-run-as-root --oversubscribe"
    if timeout 120 $mr -np 1 $ex/mlp_mnist --data "$d/mnist" --epochs 2 --batch 20 --out "$tmp/mpi1" \
         >"$tmp/mpi1.out" 2>&1 &&
       timeout 120 $mr -np 2 $ex/mlp_mnist --data "$d/mnist" --epochs 2 --batch 10 --out "$tmp/mpi2" \
         >"$tmp/mpi2.out" 2>&1 &&
       [ "$(grep -c '^epoch ' "$tmp/mpi2.out")" -eq 2 ] && [ -f "$tmp/mpi2/mlp_mnist.safetensors" ] &&
       paste <(grep -oE '^epoch [0-9/]+  loss [0-9.]+' "$tmp/mpi1.out" | awk '{print $4}') \
             <(grep -oE '^epoch [0-9/]+  loss [0-9.]+' "$tmp/mpi2.out" | awk '{print $4}') |
         awk 'NF != 2 || ($1 - $2) > 1e-3 || ($2 - $1) > 1e-3 {bad = 1} END {exit bad || NR != 2}'; then
      passed=$((passed + 1)); echo "-- mlp_mnist under mpirun -np 2: the losses of -np 1 at the same global batch"
    else
      failed=$((failed + 1)); echo "-- mlp_mnist under mpirun -np 2: FAILED"; cat "$tmp/mpi1.out" "$tmp/mpi2.out"
    fi
    # cnn_mnist the same way (LeNet-5, 1 epoch of the 100-image fixture)
    if timeout 60 $mr -np 1 $ex/cnn_mnist --data "$d/mnist" --epochs 1 --batch 20 --out "$tmp/cmpi1" \
         >"$tmp/cmpi1.out" 2>&1 &&
       timeout 60 $mr -np 2 $ex/cnn_mnist --data "$d/mnist" --epochs 1 --batch 10 --out "$tmp/cmpi2" \
         >"$tmp/cmpi2.out" 2>&1 &&
       [ "$(grep -c '^epoch ' "$tmp/cmpi2.out")" -eq 1 ] && [ -f "$tmp/cmpi2/cnn_mnist.safetensors" ] &&
       paste <(grep -oE '^epoch [0-9/]+  loss [0-9.]+' "$tmp/cmpi1.out" | awk '{print $4}') \
             <(grep -oE '^epoch [0-9/]+  loss [0-9.]+' "$tmp/cmpi2.out" | awk '{print $4}') |
         awk 'NF != 2 || ($1 - $2) > 1e-3 || ($2 - $1) > 1e-3 {bad = 1} END {exit bad || NR != 1}'; then
      passed=$((passed + 1)); echo "-- cnn_mnist under mpirun -np 2: the loss of -np 1 at the same global batch"
    else
      failed=$((failed + 1)); echo "-- cnn_mnist under mpirun -np 2: FAILED"; cat "$tmp/cmpi1.out" "$tmp/cmpi2.out"
    fi
    # and memcheck on both ranks (Open MPI's suppressions, and
    # tests/valgrind_mpi.supp for what MPI_Init keeps)
    if timeout 300 $mr -np 2 valgrind -q --num-callers=50 --error-exitcode=99 --leak-check=full \
         --errors-for-leak-kinds=definite,indirect --suppressions=/usr/share/openmpi/openmpi-valgrind.supp \
         --suppressions=tests/valgrind_mpi.supp $ex/mlp_mnist --data "$d/mnist" --epochs 1 --batch 10 \
         --max-steps 3 --threads 1 --out "$tmp/mpivg" >"$tmp/out" 2>&1; then
      passed=$((passed + 1)); echo "-- valgrind mlp_mnist under mpirun -np 2 (3 steps): clean"
    else
      failed=$((failed + 1)); echo "-- valgrind mlp_mnist under mpirun -np 2: FAILED"; cat "$tmp/out"
    fi
  fi
else
  failed=$((failed + 1)); echo "-- gen_fixtures: FAILED"; cat "$tmp/out"
fi
if [ -r /usr/share/dict/words ]; then
  vg_train "char_lstm (1 epoch, 3 steps, 20 samples)" build-valgrind/examples/char_lstm --max-words 200 \
    --epochs 1 --max-steps 3 --batch 8 --embed 4 --hidden 8
  # the GPT example on the word list: 3 steps, one evaluation batch, a short sample
  vg_train "gpt_mini (3 steps)" build-valgrind/examples/gpt_mini --steps 3 --batch 4 --eval-iters 1 --sample 10
fi
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
# the API reference (scripts/docs.sh): Doxygen over the public headers, one
# test case, failed by any Doxygen warning
echo "== API reference (scripts/docs.sh)"
if docs_out=$(scripts/docs.sh 2>&1); then
  passed=$((passed + 1)); echo "-- $docs_out"
else
  failed=$((failed + 1)); echo "-- docs: FAILED"; echo "$docs_out"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
