#!/usr/bin/env bash
# All tests: installs missing Debian packages, builds everything, runs ctest — on x86 (the host),
# then the aarch64 cross build under qemu-aarch64 twice (-cpu max: dotprod + i8mm; -cpu
# cortex-a53: neither) and the Armv7-A build under qemu-arm (-cpu cortex-a7). The Arm end-to-end
# tests convert with the host's crumb-convert and must match the host's outputs bit for bit.
# With CRUMB_EXTRA_MODELS=DIR set, the end-to-end checks also cover every model under DIR.
#
# usage: tools/test.sh [BUILD_DIR]    (default: build; Arm builds in BUILD_DIR-a64, BUILD_DIR-a32,
#                                      Arm sysroots in build-sysroot/)
#   CRUMB_TEST_ARM=0    x86 only
#   CRUMB_TEST_SANITIZE=0  without the sanitizer and fuzz suites (TSan threads tests in
#                       BUILD_DIR-tsan, libFuzzer targets in BUILD_DIR-fuzz; tests/fuzz/README.md)
#   CRUMB_TEST_ASAN=0   without the whole suite under ASan + UBSan in BUILD_DIR-asan (default on)
#   CRUMB_FUZZ_SECONDS=N   seconds per fuzz target (default 75)
#   CRUMB_FUZZ_SEED=N      libFuzzer's seed (default 1: a run replays the same mutations, so a
#                       red fuzz suite is reproducible; 0 = a new random seed each run)
# Every suite runs even when an earlier one fails; the summary names each suite, and the exit
# status is non-zero when any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
arm=${CRUMB_TEST_ARM:-1}
sanitize=${CRUMB_TEST_SANITIZE:-1}
asan=${CRUMB_TEST_ASAN:-1}
fuzz_seconds=${CRUMB_FUZZ_SECONDS:-75}
fuzz_seed=${CRUMB_FUZZ_SEED:-1}
jobs=$(nproc)

results=()
failed=0
# suite NAME COMMAND...: runs one labelled suite, records its outcome; returns its status.
suite() {
  local name=$1
  shift
  echo
  echo "======== [$name] $*"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  local t=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    results+=("[$name] passed (${t}s)")
  else
    results+=("[$name] FAILED, exit $rc (${t}s)")
    failed=$((failed + 1))
    echo "======== [$name] FAILED (exit $rc)"
  fi
  return $rc
}
# not_run NAME WHY: a suite that cannot run counts as failed.
not_run() {
  echo
  echo "======== [$1] NOT RUN: $2"
  results+=("[$1] NOT RUN: $2")
  failed=$((failed + 1))
}
# run_ctest DIR [VAR=VALUE...]: ctest in DIR with those environment variables; fails when it
# finds no test (a build that produced none is no pass).
run_ctest() { env "${@:2}" ctest --no-tests=error --output-on-failure -j"$jobs" --test-dir "$1"; }

x86_build() {
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$build" -j"$jobs"
}
# ARCH_BUILD TOOLCHAIN: configure + build a cross build, with the host's tools when they exist.
cross_build() {
  local dir=$1 toolchain=$2 host=()
  [ -x "$build/tools/crumb-convert" ] && [ -x "$build/tools/crumb-run" ] &&
    host=(-DCRUMB_HOST_TOOLS_DIR="$PWD/$build/tools")
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$toolchain" "${host[@]}" &&
    cmake --build "$dir" -j"$jobs"
}
# Smoke test of the arm64 Linux bundle: crumb-bench from the bundle alone, under qemu.
bundle_check() {
  local out=$build-a64/bundle model=$build-a64/bundle-check.crumb
  tools/arm-bundle.sh "$build-a64" "$out" &&
    "$build/tools/crumb-convert" tests/data/digits_w2a4/qcdq.onnx -o "$model" --quiet &&
    qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH="$PWD/$out/lib" \
      "$out/bin/crumb-bench" --graph="$model" --num_runs=3 --warmup_runs=1 | grep "Inference timings"
}

deps=()
[ "$arm" = 1 ] && deps+=(--arm)
[ "$sanitize" = 1 ] && deps+=(--sanitize)
tools/install-deps.sh "${deps[@]}"

if suite "x86 build" x86_build; then
  suite "x86 tests" run_ctest "$build" || true
else
  not_run "x86 tests" "the x86 build failed"
fi

# ---------------------------------------------------------------- sanitizers and fuzzing (x86)
# Any sanitizer report fails the program that made it. LeakSanitizer is on (ASan's default).
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# Everything with ASan + UBSan (benchmarks aside: they run nothing in ctest), at -O1 -g1 (line
# tables for the reports): ASan's instrumentation makes g++ -O2 spend 25 minutes on the AVX-512
# dot kernel file alone; at -O1 the whole build takes about a third of the time.
asan_build() {
  cmake -S . -B "$build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRUMB_SANITIZE=address,undefined \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DCRUMB_BUILD_BENCHMARKS=OFF &&
    cmake --build "$build-asan" -j"$jobs"
}
# Excluded under ASan: install_package links the installed (instrumented) libcrumb into a
# consumer built without -fsanitize, which cannot link; the same code runs in every other test.
asan_tests() {
  ctest --no-tests=error --output-on-failure -j"$jobs" --test-dir "$build-asan" -E '^install_package$'
}
# TSan: the runtime and the two programs whose tests run several interpreters on one model, each
# on its own thread. The end-to-end test converts with the x86 build's crumb-convert (the
# converter is single-threaded; not building it under TSan saves most of this build).
tsan_build() {
  cmake -S . -B "$build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRUMB_SANITIZE=thread \
    -DCRUMB_BUILD_BENCHMARKS=OFF -DCRUMB_BUILD_CONVERTER=OFF \
    -DCRUMB_HOST_TOOLS_DIR="$PWD/$build/tools" &&
    cmake --build "$build-tsan" -j"$jobs" --target runtime_c_api_test e2e_models_test
}
# The float-layer models run XNNPACK's operators on the interpreter's pool too.
tsan_tests() {
  "$build-tsan/tests/runtime/runtime_c_api_test" --gtest_filter='CApi.SharedModelManyInterpreters' &&
    "$build-tsan/tests/e2e/e2e_models_test" --convert="$build/tools/crumb-convert" \
      --gtest_filter='*threads_identical*' &&
    "$build-tsan/tests/e2e/e2e_models_test" --convert="$build/tools/crumb-convert" \
      --models=project --data=tests/data/float_layer --gtest_filter='*threads_identical*'
}
fuzz_build() {
  cmake -S . -B "$build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DCRUMB_FUZZ=ON -DCRUMB_BUILD_TESTS=OFF -DCRUMB_BUILD_TOOLS=OFF \
    -DCRUMB_BUILD_BENCHMARKS=OFF &&
    cmake --build "$build-fuzz" -j"$jobs"
}
# fuzz_run TARGET: the fuzzer for fuzz_seconds over a scratch copy of the checked-in corpus
# (libFuzzer adds what it finds to its first directory; the repository stays as it is). A crash,
# leak, timeout or out-of-memory leaves its input in the scratch folder and fails the suite.
fuzz_run() {
  local t=$1 work
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$t" "$work/corpus" &&
    "$build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$fuzz_seconds" -seed="$fuzz_seed" -rss_limit_mb=2048 \
      -timeout=20 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" \
      "tests/fuzz/corpus/regressions/$t"
  local rc=$?
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "fuzz_$t: inputs kept in $work"; fi
  return $rc
}
# Both targets, the second also when the first fails.
fuzz_all() {
  local rc=0
  fuzz_run load_invoke || rc=1
  fuzz_run onnx_import || rc=1
  return $rc
}

if [ "$sanitize" = 1 ]; then
  if [ "$asan" = 1 ]; then
    if suite "x86 asan+ubsan build" asan_build; then
      suite "x86 asan+ubsan tests" asan_tests || true
    else
      not_run "x86 asan+ubsan tests" "the asan+ubsan build failed"
    fi
  fi
  if suite "x86 tsan build" tsan_build; then
    suite "x86 tsan threads" tsan_tests || true
  else
    not_run "x86 tsan threads" "the tsan build failed"
  fi
  if suite "fuzz build" fuzz_build; then
    suite "fuzz" fuzz_all || true
  else
    not_run "fuzz" "the fuzz build failed"
  fi
fi

if [ "$arm" = 1 ]; then
  sysroot=0
  suite "arm sysroots" tools/arm-sysroot.sh build-sysroot arm64 armhf || sysroot=$?
  a64="aarch64 tests, qemu -cpu"
  if [ $sysroot -eq 0 ] && suite "aarch64 build" cross_build "$build-a64" toolchains/aarch64-linux-gnu.cmake; then
    suite "$a64 max" run_ctest "$build-a64" QEMU_CPU=max CRUMB_EXPECT_ISA=neondot \
      CRUMB_EXPECT_I8MM=1 || true
    suite "$a64 cortex-a53" run_ctest "$build-a64" QEMU_CPU=cortex-a53 CRUMB_EXPECT_ISA=neon \
      CRUMB_EXPECT_I8MM=0 || true
    suite "aarch64 bundle" bundle_check || true
  else
    for s in "$a64 max" "$a64 cortex-a53" "aarch64 bundle"; do not_run "$s" "no aarch64 build"; done
  fi
  if [ $sysroot -eq 0 ] && suite "armv7 build" cross_build "$build-a32" toolchains/arm-linux-gnueabihf.cmake; then
    suite "armv7 tests, qemu -cpu cortex-a7" run_ctest "$build-a32" QEMU_CPU=cortex-a7 \
      CRUMB_EXPECT_ISA=neon || true
  else
    not_run "armv7 tests, qemu -cpu cortex-a7" "no armv7 build"
  fi
fi

echo
echo "======== summary"
printf '%s\n' "${results[@]}"
echo "suites: $((${#results[@]} - failed)) passed, $failed failed"
[ $failed -eq 0 ]
