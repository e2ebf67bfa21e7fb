#!/usr/bin/env bash
# Instructions per multiply-accumulate of GEMM kernels on arm64, counted under qemu-aarch64 by
# the insn_count TCG plugin (tools/qemu-insn-count): the speed proxy while there is no Arm
# hardware. The arm64 kernel_insn_driver (benchmarks/kernel_insn_driver.cc) calls each kernel
# REPS times at M x N x K between two marker functions; only the instructions between the
# markers count, so the driver's setup and the process start do not.
#
# usage: benchmarks/arm-insn-per-mac.sh [options] M N K [KERNEL...]
#   --driver FILE     the arm64 kernel_insn_driver (default: $CRUMB_INSN_DRIVER, else
#                     build-aarch64/benchmarks/kernel_insn_driver)
#   --libs DIR        folder of the arm64 shared libraries it needs (XNNPACK, cpuinfo,
#                     pthreadpool): the sysroot's usr/lib/aarch64-linux-gnu or a bundle's lib
#                     (default: $CRUMB_ARM64_LIBS)
#   --cpu CPU         a qemu -cpu model; repeatable (default: max and cortex-a53, i.e. with and
#                     without the dot-product instructions)
#   --bits LIST       weight bit widths for crumb's kernels, comma-separated (default 8)
#   --reps N          calls per measurement (default 5)
#   --ld-prefix DIR   the arm64 glibc for qemu -L (default /usr/aarch64-linux-gnu)
# KERNEL: as `kernel_insn_driver --list` prints (default: all of them).
# The plugin is compiled with the host's cc into the driver's folder when missing or older than
# its source.
set -euo pipefail

prog=$(basename "$0")
die() {
  echo "$prog: $*" >&2
  exit 1
}
repo=$(cd "$(dirname "$0")/.." && pwd)

driver=${CRUMB_INSN_DRIVER:-$repo/build-aarch64/benchmarks/kernel_insn_driver}
libs=${CRUMB_ARM64_LIBS:-}
cpus=() bits=8 reps=5 prefix=/usr/aarch64-linux-gnu
pos=()
while [ $# -gt 0 ]; do
  case $1 in
    --driver) driver=${2:?--driver needs a file}; shift 2 ;;
    --libs) libs=${2:?--libs needs a folder}; shift 2 ;;
    --cpu) cpus+=("${2:?--cpu needs a qemu CPU model}"); shift 2 ;;
    --bits) bits=${2:?--bits needs a list}; shift 2 ;;
    --reps) reps=${2:?--reps needs a number}; shift 2 ;;
    --ld-prefix) prefix=${2:?--ld-prefix needs a folder}; shift 2 ;;
    -h | --help) sed -n '/^# usage:/,/^# its source/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)." ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -ge 3 ] || die "give the shape: M N K (see --help)."
m=${pos[0]} n=${pos[1]} k=${pos[2]}
kernels=("${pos[@]:3}")
[ ${#cpus[@]} -gt 0 ] || cpus=(max cortex-a53)
for v in m n k reps; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number, not '${!v}'."
done
[[ $bits =~ ^[1-8](,[1-8])*$ ]] || die "--bits takes widths 1..8 separated by commas, not '$bits'."

command -v qemu-aarch64 >/dev/null 2>&1 || die "qemu-aarch64 is not installed (apt-get install qemu-user)."
[ -f "$driver" ] || die "the arm64 driver '$driver' does not exist: build the kernel_insn_driver target of an aarch64 build (toolchains/aarch64-linux-gnu.cmake), or give --driver."
[ -z "$libs" ] || [ -d "$libs" ] || die "the library folder '$libs' does not exist."

# The plugin: a host shared object.
src=$repo/tools/qemu-insn-count/insn_count.c
plugin=$(cd "$(dirname "$driver")" && pwd)/libinsn_count.so
if [ ! -f "$plugin" ] || [ "$src" -nt "$plugin" ] || [ "$repo/tools/qemu-insn-count/qemu-plugin.h" -nt "$plugin" ]; then
  "${CC:-cc}" -O2 -Wall -Wextra -shared -fPIC -o "$plugin" "$src" ||
    die "cannot compile the qemu plugin $src with ${CC:-cc}."
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
qemu_run() {  # qemu_run CPU PLUGIN_ARGS DRIVER_ARGS...
  local cpu=$1 pargs=$2
  shift 2
  local env=()
  [ -n "$libs" ] && env=(-E "LD_LIBRARY_PATH=$libs")
  qemu-aarch64 -cpu "$cpu" -L "$prefix" "${env[@]}" ${pargs:+-plugin "$plugin,$pargs"} "$driver" "$@"
}

if [ ${#kernels[@]} -eq 0 ]; then
  list=$(qemu_run "${cpus[0]}" "" --list 2>&1) || die "the driver does not run under qemu: $list"
  read -r -a kernels <<<"$(echo $list)"
fi

echo "GEMM M=$m N=$n K=$k ($((m * n * k)) MACs per call), $reps calls per measurement, qemu $(qemu-aarch64 --version | head -n 1 | awk '{ print $3 }')"
printf '%-18s %4s  %-12s %16s %12s\n' kernel bits cpu instructions/call instr/MAC
for kernel in "${kernels[@]}"; do
  kbits=$bits
  [[ $kernel == scalar-* ]] || kbits=8
  for b in ${kbits//,/ }; do
    for cpu in "${cpus[@]}"; do
      if ! qemu_run "$cpu" "begin=crumb_insn_region_begin,end=crumb_insn_region_end,out=$tmp/count" \
        "$kernel" "$m" "$n" "$k" "$b" "$reps" >"$tmp/out" 2>&1; then
        die "$kernel on $cpu failed: $(cat "$tmp/out")"
      fi
      macs=$(sed -n 's/.*macs_per_call=\([0-9]*\).*/\1/p' "$tmp/out")
      region=$(sed -n 's/.* region=\([0-9]*\).*/\1/p' "$tmp/count")
      regions=$(sed -n 's/.* regions=\([0-9]*\).*/\1/p' "$tmp/count")
      [ -n "$macs" ] && [ "$regions" = 1 ] ||
        die "$kernel on $cpu: no measurement (driver: $(cat "$tmp/out"); counter: $(cat "$tmp/count"))."
      awk -v kn="$kernel" -v b="$b" -v cpu="$cpu" -v r="$region" -v reps="$reps" -v macs="$macs" \
        'BEGIN { printf "%-18s %4s  %-12s %16.0f %12.4f\n", kn, b, cpu, r / reps, r / (reps * macs) }'
    done
  done
done
