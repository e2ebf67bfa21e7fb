#!/usr/bin/env bash
# Tests tools/adb-bench.sh against tests/tools/fake-adb (a local folder acting as the device).
#
# usage: adb_bench_test.sh logic
#          the script's logic with a stand-in crumb-bench (a shell script): device selection,
#          errors, flags, taskset, pulling result files, cleanup. Needs only bash.
#        adb_bench_test.sh qemu
#          the real arm64 Linux bundle run under qemu-aarch64 on the fake device. Needs
#          qemu-aarch64, the bundle ($CRUMB_ARM64_BUNDLE: crumb-bench + shared libraries; or
#          one put together here from $CRUMB_ARM64_BENCH and the *.so* of $CRUMB_ARM64_LIBS,
#          as an aarch64 build does) and a model ($CRUMB_ADB_TEST_MODEL, or one made with
#          $CRUMB_CONVERT from tests/data). Exits 77 (skipped) with the reason when one of them
#          is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
script=$repo/tools/adb-bench.sh
mode=${1:-logic}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$here/fake-adb" "$work/bin/adb"
export PATH="$work/bin:$PATH"
export FAKE_ADB_ROOT="$work/device" FAKE_ADB_LOG="$work/adb.log"
export FAKE_ADB_DEVICES=fake0
unset ANDROID_SERIAL ADB

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect_error NAME PATTERN -- COMMAND...: the command fails and its stderr matches PATTERN.
expect_error() {
  local name=$1 pattern=$2
  shift 3
  if "$@" >"$work/out.txt" 2>"$work/err.txt"; then
    fail "$name: succeeded, expected an error matching '$pattern'"
  elif ! grep -q -- "$pattern" "$work/err.txt"; then
    fail "$name: the error was '$(cat "$work/err.txt")', expected '$pattern'"
  else
    echo "ok: $name: $(head -n 1 "$work/err.txt")"
  fi
}
expect_in() {  # expect_in NAME FILE PATTERN
  grep -q -- "$3" "$2" || fail "$1: '$3' not found in $2: $(head -c 2000 "$2")"
}

if [ "$mode" = logic ]; then
  # A stand-in crumb-bench: prints its arguments, lists --profiling_output_csv_file in --help,
  # writes the CSV it is asked for, exits with $STUB_EXIT.
  stub=$work/bundle
  mkdir -p "$stub/bin" "$stub/lib"
  cat >"$stub/bin/crumb-bench" <<'EOF'
#!/usr/bin/env bash
if [ "${1:-}" = --help ]; then echo "usage: crumb-bench --graph=M [--profiling_output_csv_file=F]"; exit 0; fi
echo "STARTING!"
echo "args: $*"
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
for a in "$@"; do
  case $a in --profiling_output_csv_file=*) echo "op,avg_ms" >"${a#*=}" ;; esac
done
echo "Inference timings in us: Init: 1, First inference: 2, Warmup (avg): 2, Inference (avg): 1"
exit "${STUB_EXIT:-0}"
EOF
  chmod +x "$stub/bin/crumb-bench"
  # A stand-in for the bundle's glibc loader (tools/arm-bundle.sh packs the real one).
  mkdir -p "$stub/glibc"
  cat >"$stub/glibc/ld-linux-aarch64.so.1" <<'EOF'
#!/usr/bin/env bash
echo "loader: $1 $2"
shift 2
exec "$@"
EOF
  chmod +x "$stub/glibc/ld-linux-aarch64.so.1"
  echo fake >"$stub/lib/libfake.so.0"
  ln -s libfake.so.0 "$stub/lib/libfake.so"
  echo model >"$work/m.crumb"

  # Errors before the device is touched.
  expect_error "no model" "no model given" -- "$script" --bundle "$stub"
  expect_error "missing model" "does not exist" -- "$script" --bundle "$stub" "$work/none.crumb"
  expect_error "no binary" "no crumb-bench given" -- "$script" "$work/m.crumb"
  expect_error "missing binary" "binary '$work/nope' does not exist" -- \
    "$script" --binary "$work/nope" "$work/m.crumb"
  expect_error "missing bundle" "bundle folder" -- "$script" --bundle "$work/nope" "$work/m.crumb"
  mkdir -p "$work/empty"
  expect_error "bundle without crumb-bench" "has no crumb-bench" -- \
    "$script" --bundle "$work/empty" "$work/m.crumb"
  expect_error "bad mask" "hexadecimal CPU mask" -- \
    "$script" --bundle "$stub" --taskset 4-7 "$work/m.crumb"
  expect_error "bad threads" "whole number" -- "$script" --bundle "$stub" -t two "$work/m.crumb"
  expect_error "no adb" "was not found on PATH" -- \
    env ADB="$work/no-adb" "$script" --bundle "$stub" "$work/m.crumb"

  # Device selection.
  expect_error "no device" "no device is connected" -- \
    env FAKE_ADB_DEVICES= "$script" --bundle "$stub" "$work/m.crumb"
  expect_error "two devices" "several devices are connected (fake0 fake1)" -- \
    env FAKE_ADB_DEVICES="fake0 fake1" "$script" --bundle "$stub" "$work/m.crumb"
  expect_error "unknown serial" "'nope' is not connected" -- \
    "$script" -s nope --bundle "$stub" "$work/m.crumb"

  # A full run: CPU list first, flags, taskset, LD_LIBRARY_PATH, CSV pulled, device cleaned.
  : >"$FAKE_ADB_LOG"
  if FAKE_ADB_DEVICES="fake0 fake1" "$script" -s fake1 --bundle "$stub" -t 2 -r 7 -w 3 -p \
    --taskset f0 --isa scalar -o "$work/res" "$work/m.crumb" -- --extra_flag=1 \
    >"$work/run.txt" 2>&1; then
    head -n 1 "$work/run.txt" | grep -q '^Device fake1: Fake Phone (Fake SoC)' ||
      fail "full run: the first line is not the device: $(head -n 1 "$work/run.txt")"
    expect_in "full run" "$work/run.txt" 'cpu0   Cortex-A55         300-1800 MHz, now 1200 MHz'
    expect_in "full run" "$work/run.txt" 'cpu7   Cortex-A76         300-2400 MHz, now 2400 MHz'
    expect_in "full run" "$work/res/device.txt" 'cpu4   Cortex-A76'
    expect_in "full run" "$work/res/bench.txt" \
      'args: --graph=.*/data/local/tmp/crumb-bench/model.crumb --num_threads=2 --num_runs=7 --warmup_runs=3 --enable_op_profiling=true --isa=scalar --profiling_output_csv_file=op_profile.csv --extra_flag=1'
    expect_in "full run" "$work/res/bench.txt" 'LD_LIBRARY_PATH=.*/data/local/tmp/crumb-bench/lib'
    expect_in "full run" "$work/res/op_profile.csv" 'op,avg_ms'
    expect_in "full run" "$FAKE_ADB_ROOT/taskset.log" '^f0$'
    grep -q 'adb-bench-exit' "$work/res/bench.txt" && fail "full run: bench.txt has the exit marker"
    grep -v '^devices$' "$FAKE_ADB_LOG" | grep -qv '^-s fake1 ' && fail "full run: adb used without -s fake1"
    [ -e "$FAKE_ADB_ROOT/data/local/tmp/crumb-bench" ] && fail "full run: the device folder was not removed"
    echo "ok: full run"
  else
    fail "full run: $(cat "$work/run.txt")"
  fi

  # --binary, --keep, default output folder, no CSV without --profile.
  (
    cd "$work"
    "$script" --binary "$stub/bin/crumb-bench" --keep "$work/m.crumb" >"$work/run2.txt" 2>&1
  ) || fail "binary run: $(cat "$work/run2.txt")"
  expect_in "binary run" "$work/run2.txt" 'it wrote no CSV/JSON file'
  ls "$work"/adb-bench-out/m-fake0-*/bench.txt >/dev/null 2>&1 || fail "binary run: no default output folder"
  [ -x "$FAKE_ADB_ROOT/data/local/tmp/crumb-bench/crumb-bench" ] || fail "binary run: --keep removed the files"
  grep -q -- '--profiling_output_csv_file' "$work"/adb-bench-out/m-fake0-*/bench.txt &&
    fail "binary run: CSV asked for without --profile"
  echo "ok: binary run"

  # A device without glibc (Android) runs the bundle through the bundle's loader.
  if FAKE_ADB_GLIBC=0 "$script" --bundle "$stub" -r 2 --taskset 0x0f -o "$work/res4" "$work/m.crumb" \
    >"$work/run4.txt" 2>&1; then
    expect_in "no glibc" "$work/run4.txt" "has no glibc (Android?): running crumb-bench through the bundle's glibc/ld-linux-aarch64.so.1"
    expect_in "no glibc" "$work/res4/bench.txt" 'loader: --library-path .*/data/local/tmp/crumb-bench/lib:.*/data/local/tmp/crumb-bench/glibc'
    expect_in "no glibc" "$work/res4/bench.txt" 'args: --graph=.*model.crumb --num_threads=1 --num_runs=2'
    grep -q 'LD_LIBRARY_PATH=.' "$work/res4/bench.txt" && fail "no glibc: LD_LIBRARY_PATH was set"
    expect_in "no glibc" "$FAKE_ADB_ROOT/taskset.log" '^0f$'
    echo "ok: no glibc"
  else
    fail "no glibc: $(cat "$work/run4.txt")"
  fi

  # crumb-bench failing on the device is an error naming its exit status.
  expect_error "failing run" "crumb-bench failed on device 'fake0' (exit status 3)" -- \
    env STUB_EXIT=3 "$script" --bundle "$stub" -o "$work/res3" "$work/m.crumb"
elif [ "$mode" = qemu ]; then
  skip() {
    echo "SKIPPED: $*"
    exit 77
  }
  command -v "${FAKE_ADB_QEMU:-qemu-aarch64}" >/dev/null 2>&1 ||
    skip "qemu-aarch64 is not installed (apt-get install qemu-user)."
  bundle=${CRUMB_ARM64_BUNDLE:-}
  if [ -n "$bundle" ]; then
    [ -d "$bundle" ] || skip "the arm64 bundle '$bundle' (CRUMB_ARM64_BUNDLE) does not exist yet: build it first."
  elif [ -n "${CRUMB_ARM64_BENCH:-}" ] && [ -f "${CRUMB_ARM64_BENCH:-}" ] &&
    [ -d "${CRUMB_ARM64_LIBS:-}" ]; then
    bundle=$work/bundle
    mkdir -p "$bundle/bin" "$bundle/lib"
    cp "$CRUMB_ARM64_BENCH" "$bundle/bin/crumb-bench"
    find "$CRUMB_ARM64_LIBS" -maxdepth 1 -name '*.so*' -exec cp -P {} "$bundle/lib/" \;
    # As tools/arm-bundle.sh does: glibc's loader and libc for devices without glibc.
    libc=${FAKE_ADB_LD_PREFIX:-/usr/aarch64-linux-gnu}/lib
    if [ -f "$libc/ld-linux-aarch64.so.1" ]; then
      mkdir -p "$bundle/glibc"
      cp -L "$libc/ld-linux-aarch64.so.1" "$libc/libc.so.6" "$libc/libm.so.6" "$bundle/glibc/"
    fi
  else
    skip "no arm64 bundle: set CRUMB_ARM64_BUNDLE (environment or CMake cache) to the folder holding crumb-bench and its shared libraries."
  fi
  [ -d "${FAKE_ADB_LD_PREFIX:-/usr/aarch64-linux-gnu}/lib" ] ||
    skip "no arm64 glibc for qemu at ${FAKE_ADB_LD_PREFIX:-/usr/aarch64-linux-gnu} (apt-get install libc6-arm64-cross)."
  model=${CRUMB_ADB_TEST_MODEL:-}
  if [ -z "$model" ]; then
    [ -n "${CRUMB_CONVERT:-}" ] && [ -x "${CRUMB_CONVERT:-}" ] ||
      skip "no model: set CRUMB_ADB_TEST_MODEL to a .crumb file, or CRUMB_CONVERT to a host crumb-convert."
    model=$work/digits.crumb
    "$CRUMB_CONVERT" "$repo/tests/data/digits_w2a4/qcdq.onnx" -o "$model" --quiet
  fi
  if "$script" --bundle "$bundle" -t 1 -r 3 -w 1 -p --taskset f0 -o "$work/res" "$model" \
    >"$work/run.txt" 2>&1; then
    head -n 1 "$work/run.txt" | grep -q '^Device fake0' || fail "qemu run: the device is not printed first"
    expect_in "qemu run" "$work/res/bench.txt" 'Inference timings in us: Init: '
    expect_in "qemu run" "$work/res/bench.txt" 'Operator-wise Profiling Info'
    expect_in "qemu run" "$FAKE_ADB_ROOT/taskset.log" '^f0$'
    echo "ok: qemu run"
  else
    fail "qemu run: $(cat "$work/run.txt")"
  fi
  if ls "$bundle"/glibc/ld-linux-*.so.* >/dev/null 2>&1; then
    if FAKE_ADB_GLIBC=0 "$script" --bundle "$bundle" -r 2 -o "$work/res2" "$model" >"$work/run2.txt" 2>&1; then
      expect_in "qemu run without glibc" "$work/run2.txt" "has no glibc (Android?)"
      expect_in "qemu run without glibc" "$work/res2/bench.txt" 'Inference timings in us: Init: '
      echo "ok: qemu run without glibc (the bundle's loader)"
    else
      fail "qemu run without glibc: $(cat "$work/run2.txt")"
    fi
  fi
else
  echo "usage: $0 logic|qemu" >&2
  exit 2
fi

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed."
  exit 1
fi
echo "all adb-bench $mode checks passed."
