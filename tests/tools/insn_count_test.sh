#!/usr/bin/env bash
# Tests the qemu instruction counter (tools/qemu-insn-count) through
# benchmarks/arm-insn-per-mac.sh: the count of a kernel call is the same whether it is called
# once or three times per measurement (so the markers isolate the kernel), instructions per MAC
# are plausible, every kernel of the driver runs on both qemu CPUs, and bad plugin arguments are
# refused with a message.
#
# Environment: CRUMB_INSN_DRIVER (the arm64 kernel_insn_driver), CRUMB_ARM64_LIBS (its shared
# libraries' folder), CRUMB_ARM64_LD_PREFIX (arm64 glibc for qemu -L, default
# /usr/aarch64-linux-gnu). Exits 77 (skipped) with the reason when qemu-aarch64, a host C
# compiler or the driver is missing.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
script=$repo/benchmarks/arm-insn-per-mac.sh
skip() {
  echo "SKIPPED: $*"
  exit 77
}
command -v qemu-aarch64 >/dev/null 2>&1 || skip "qemu-aarch64 is not installed (apt-get install qemu-user)."
command -v "${CC:-cc}" >/dev/null 2>&1 || skip "no host C compiler (${CC:-cc}) to build the qemu plugin."
driver=${CRUMB_INSN_DRIVER:-}
[ -n "$driver" ] && [ -f "$driver" ] ||
  skip "no arm64 kernel_insn_driver: set CRUMB_INSN_DRIVER (an aarch64 build registers it)."
prefix=${CRUMB_ARM64_LD_PREFIX:-/usr/aarch64-linux-gnu}
args=(--driver "$driver" --ld-prefix "$prefix")
[ -n "${CRUMB_ARM64_LIBS:-}" ] && args+=(--libs "$CRUMB_ARM64_LIBS")

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# instructions/call of one kernel row: run KERNEL REPS CPU
per_call() {
  "$script" "${args[@]}" --cpu "$3" --reps "$2" 16 16 96 "$1" >"$work/out.txt" 2>&1 ||
    { fail "$1 on $3: $(cat "$work/out.txt")"; echo 0; return; }
  cat "$work/out.txt" >&2
  awk -v k="$1" '$1 == k { print $4; exit }' "$work/out.txt"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

one=$(per_call scalar-gemm 1 max)
three=$(per_call scalar-gemm 3 max)
# The marker functions add a few instructions per measurement, nothing per call.
awk -v a="$one" -v b="$three" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 4) }' ||
  fail "scalar-gemm: $one instructions per call measured once, $three measured three times"
awk -v a="$one" 'BEGIN { r = a / (16 * 16 * 96); exit !(r > 0.05 && r < 50) }' ||
  fail "scalar-gemm: $one instructions for 24576 MACs is not plausible"

kernels=$(qemu-aarch64 -L "$prefix" ${CRUMB_ARM64_LIBS:+-E LD_LIBRARY_PATH=$CRUMB_ARM64_LIBS} "$driver" --list)
for k in $kernels; do
  for cpu in max cortex-a53; do
    n=$(per_call "$k" 2 "$cpu")
    awk -v a="$n" 'BEGIN { exit !(a > 0) }' || fail "$k on $cpu: no instructions counted"
  done
done

plugin=$(cd "$(dirname "$driver")" && pwd)/libinsn_count.so
if qemu-aarch64 -L "$prefix" -plugin "$plugin,bogus=1" "$driver" --list >"$work/bad.txt" 2>&1; then
  fail "the plugin accepted the argument bogus=1"
else
  grep -q "cannot use the argument 'bogus=1'" "$work/bad.txt" ||
    fail "the plugin's message for bogus=1 was: $(cat "$work/bad.txt")"
fi

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed."
  exit 1
fi
echo "all insn_count checks passed."
