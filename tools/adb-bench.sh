#!/usr/bin/env bash
# Benchmark a .crumb model on an Arm phone or board over adb: print the device's CPUs (names and
# frequencies) first, push crumb-bench (a static arm64 binary, or the arm64 Linux bundle:
# crumb-bench + shared libraries, run with LD_LIBRARY_PATH) and the model to /data/local/tmp,
# run it with the given flags, optionally pinned to a CPU mask with taskset (big / little
# cores), and pull the results back.
#
# usage: tools/adb-bench.sh (--binary FILE | --bundle DIR) [options] MODEL.crumb [-- FLAGS...]
#   -s, --serial SERIAL   the device (default: $ANDROID_SERIAL, else the only one connected)
#   --binary FILE         a crumb-bench for the device (static for Android: android-arm64.cmake)
#   --bundle DIR          an arm64 Linux bundle (tools/arm-bundle.sh): DIR/bin/crumb-bench (or
#                         DIR/crumb-bench), shared libraries in DIR/lib (or DIR); on a device
#                         without glibc (Android) run through the bundle's glibc/ld-linux-*
#   -t, --threads N       --num_threads (default 1)
#   -r, --runs N          --num_runs (default 50)
#   -w, --warmups N       --warmup_runs (default 1)
#   -p, --profile         --enable_op_profiling=true
#   --taskset MASK        run under `taskset MASK`: a hexadecimal CPU mask, e.g. f0 = CPUs 4-7
#                         (the big cores of most 4 + 4 phones; the CPU list printed first says)
#   --input-shape SHAPE   --input_shape=SHAPE (e.g. 1,3,224,224)
#   --isa ISA             --isa=ISA (scalar, neon, neondot, ...)
#   -o, --out DIR         local folder for the results (default adb-bench-out/MODEL-SERIAL-TIME)
#   --remote-dir DIR      device folder (default /data/local/tmp/crumb-bench)
#   --keep                leave the files on the device
#   -- FLAGS...           passed to crumb-bench as they are
# Environment: ADB (default adb).
#
# Results in the --out folder: device.txt (the CPU list), bench.txt (crumb-bench's output) and
# every file crumb-bench wrote in its working folder on the device (CSV / JSON reports: give the
# flag that writes one after --; with --profile, op_profile.csv is asked for when crumb-bench's
# --help lists --profiling_output_csv_file).
set -euo pipefail

prog=$(basename "$0")
die() {
  echo "$prog: $*" >&2
  exit 1
}
usage() {
  sed -n '/^# usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//'
}

serial=${ANDROID_SERIAL:-}
binary="" bundle="" loader="" run_via="" threads=1 runs=50 warmups=1 profile=0 mask="" shape="" isa="" out=""
remote=/data/local/tmp/crumb-bench keep=0 model=""
extra=()
need() { [ $# -ge 2 ] || die "$1 needs a value."; }
while [ $# -gt 0 ]; do
  case $1 in
    -s | --serial) need "$@"; serial=$2; shift 2 ;;
    --binary) need "$@"; binary=$2; shift 2 ;;
    --bundle) need "$@"; bundle=$2; shift 2 ;;
    -t | --threads) need "$@"; threads=$2; shift 2 ;;
    -r | --runs) need "$@"; runs=$2; shift 2 ;;
    -w | --warmups) need "$@"; warmups=$2; shift 2 ;;
    -p | --profile) profile=1; shift ;;
    --taskset) need "$@"; mask=$2; shift 2 ;;
    --input-shape) need "$@"; shape=$2; shift 2 ;;
    --isa) need "$@"; isa=$2; shift 2 ;;
    -o | --out) need "$@"; out=$2; shift 2 ;;
    --remote-dir) need "$@"; remote=${2%/}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)." ;;
    *) [ -z "$model" ] || die "only one model can be given ('$model' and '$1')."; model=$1; shift ;;
  esac
done

# ---------------------------------------------------------------- local checks
[ -n "$model" ] || die "no model given: tools/adb-bench.sh --bundle DIR MODEL.crumb (see --help)."
[ -f "$model" ] || die "the model '$model' does not exist."
for v in threads runs warmups; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "--$v must be a whole number, not '${!v}'."
done
[ "$threads" -ge 1 ] && [ "$runs" -ge 1 ] || die "--threads and --runs must be at least 1."
[ -z "$mask" ] || [[ $mask =~ ^(0x)?[0-9a-fA-F]+$ ]] ||
  die "--taskset takes a hexadecimal CPU mask such as f0, not '$mask'."
[[ $remote == /* ]] || die "--remote-dir must be an absolute device path, not '$remote'."

if [ -n "$binary" ] && [ -n "$bundle" ]; then
  die "give --binary or --bundle, not both."
elif [ -n "$binary" ]; then
  [ -f "$binary" ] || die "the crumb-bench binary '$binary' does not exist."
elif [ -n "$bundle" ]; then
  [ -d "$bundle" ] || die "the bundle folder '$bundle' does not exist."
  if [ -f "$bundle/bin/crumb-bench" ]; then
    bench_rel=bin/crumb-bench
  elif [ -f "$bundle/crumb-bench" ]; then
    bench_rel=crumb-bench
  else
    die "the bundle '$bundle' has no crumb-bench (looked for bin/crumb-bench and crumb-bench)."
  fi
  lib_rel=.
  [ -d "$bundle/lib" ] && lib_rel=lib
  # tools/arm-bundle.sh also packs glibc's loader and libc (glibc/), for devices without glibc.
  loader=$(cd "$bundle" && ls glibc/ld-linux-*.so.* 2>/dev/null | head -n 1 || true)
else
  die "no crumb-bench given: use --binary FILE (static, for Android) or --bundle DIR (arm64 Linux)."
fi

adb=${ADB:-adb}
command -v "$adb" >/dev/null 2>&1 ||
  die "'$adb' was not found on PATH: install Android platform-tools (Debian: apt-get install adb) or set ADB=/path/to/adb."

# ---------------------------------------------------------------- the device
devices=$("$adb" devices) || die "'$adb devices' failed."
ready=$(printf '%s\n' "$devices" | awk -F'\t' 'NR > 1 && $2 == "device" { print $1 }')
if [ -z "$serial" ]; then
  n=$(printf '%s' "$ready" | grep -c . || true)
  if [ "$n" -eq 0 ]; then
    others=$(printf '%s\n' "$devices" | awk -F'\t' 'NR > 1 && NF >= 2 { printf " %s (%s)", $1, $2 }')
    if [ -n "$others" ]; then
      die "no usable device: adb lists${others}. Authorize USB debugging on the device."
    fi
    die "no device is connected ('$adb devices' lists none). Connect one with USB debugging enabled."
  fi
  [ "$n" -eq 1 ] ||
    die "several devices are connected ($(echo $ready)): choose one with -s SERIAL."
  serial=$ready
elif ! printf '%s\n' "$ready" | grep -qxF -- "$serial"; then
  die "the device '$serial' is not connected and ready ('$adb devices' lists: $(echo $ready))."
fi
A=("$adb" -s "$serial")

# Quote a word for the device's shell.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

raw=$("${A[@]}" shell 'getprop ro.product.model 2>/dev/null; echo @@; uname -m; echo @@;
  cat /proc/cpuinfo; echo @@;
  for c in /sys/devices/system/cpu/cpu[0-9]*; do
    f=$c/cpufreq
    echo "${c##*cpu} $(cat $f/cpuinfo_min_freq 2>/dev/null || echo -) $(cat $f/cpuinfo_max_freq 2>/dev/null || echo -) $(cat $f/scaling_cur_freq 2>/dev/null || echo -)"
  done') || die "cannot read the CPU information of device '$serial'."
arch=$(printf '%s\n' "$raw" | awk '/^@@/ { s++; next } s == 1 { print; exit }' | tr -d '\r')
case $arch in
  aarch64 | arm64 | armv8*) ;;
  *) die "device '$serial' reports CPU architecture '$arch'; crumb-bench for arm64 needs aarch64." ;;
esac

# Names of the common Arm cores by (implementer, part) from /proc/cpuinfo.
cpu_list=$(printf '%s\n' "$raw" | tr -d '\r' | awk -v serial="$serial" '
  BEGIN {
    split("d03:Cortex-A53 d04:Cortex-A35 d05:Cortex-A55 d07:Cortex-A57 d08:Cortex-A72 " \
          "d09:Cortex-A73 d0a:Cortex-A75 d0b:Cortex-A76 d0c:Neoverse-N1 d0d:Cortex-A77 " \
          "d0e:Cortex-A76AE d40:Neoverse-V1 d41:Cortex-A78 d44:Cortex-X1 d46:Cortex-A510 " \
          "d47:Cortex-A710 d48:Cortex-X2 d49:Neoverse-N2 d4b:Cortex-A78C d4d:Cortex-A715 " \
          "d4e:Cortex-X3 d4f:Neoverse-V2 d80:Cortex-A520 d81:Cortex-A720 d82:Cortex-X4", a, " ")
    for (i in a) { split(a[i], kv, ":"); arm[kv[1]] = kv[2] }
    split("800:Kryo-Gold(A73) 801:Kryo-Silver(A53) 802:Kryo-Gold(A75) 803:Kryo-Silver(A55) " \
          "804:Kryo-Gold(A76) 805:Kryo-Silver(A55)", b, " ")
    for (i in b) { split(b[i], kv, ":"); qcom[kv[1]] = kv[2] }
  }
  /^@@/ { s++; next }
  s == 0 && NF { model = $0 }
  s == 2 {
    split($0, kv, ":"); k = kv[1]; v = substr($0, index($0, ":") + 1)
    gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
    if (k == "processor") cur = v
    else if (k == "CPU implementer") impl[cur] = tolower(v)
    else if (k == "CPU part") part[cur] = tolower(v)
    else if (k == "model name") mname[cur] = v
    else if (k == "Hardware") hw = v
  }
  s == 3 && NF == 4 { n++; id[n] = $1; fmin[$1] = $2; fmax[$1] = $3; fcur[$1] = $4 }
  function mhz(k) { return k == "-" ? "?" : sprintf("%d", k / 1000) }
  END {
    head = "Device " serial
    if (model != "") head = head ": " model
    if (hw != "") head = head " (" hw ")"
    print head
    for (i = 1; i <= n; i++) {
      c = id[i]; p = part[c]; sub(/^0x/, "", p); name = ""
      if (impl[c] == "0x41" && (p in arm)) name = arm[p]
      else if (impl[c] == "0x51" && (p in qcom)) name = qcom[p]
      else if (mname[c] != "") name = mname[c]
      else if (impl[c] != "") name = "implementer " impl[c] " part 0x" p
      else name = "unknown"
      printf "cpu%-3s %-18s %s-%s MHz, now %s MHz\n", c, name, mhz(fmin[c]), mhz(fmax[c]), mhz(fcur[c])
    }
  }')
echo "$cpu_list"

# ---------------------------------------------------------------- push
if [ -z "$out" ]; then
  stem=$(basename "$model")
  out="adb-bench-out/${stem%.crumb}-${serial//[^A-Za-z0-9._-]/_}-$(date +%Y%m%d-%H%M%S)"
fi
mkdir -p "$out"
echo "$cpu_list" >"$out/device.txt"

"${A[@]}" shell "rm -rf $(q "$remote") && mkdir -p $(q "$remote/out")" ||
  die "cannot create $remote on device '$serial'."
push() {
  "${A[@]}" push "$@" >/dev/null || die "adb push of $1 to $serial failed."
}
if [ -n "$binary" ]; then
  bench_rel=crumb-bench
  push "$binary" "$remote/crumb-bench"
  if grep -qa /lib/ld-linux-aarch64.so.1 "$binary" &&
    ! "${A[@]}" shell 'ls /lib/ld-linux-aarch64.so.1 >/dev/null 2>&1'; then
    echo "$prog: warning: '$binary' is linked against glibc, which the device lacks (Android?):" \
      "build a static crumb-bench with toolchains/android-arm64.cmake." >&2
  fi
  run_env=""
else
  # Symbolic links are pushed as the files they name (library version links).
  (cd "$bundle" && find -L . -type f | sed 's|^\./||' | sort) >"$out/.files"
  while IFS= read -r dir; do
    files=()
    while IFS= read -r f; do files+=("$bundle/$f"); done < <(awk -v d="$dir" '{
      p = $0; sub(/\/?[^\/]*$/, "", p); if (p == "") p = "."; if (p == d) print }' "$out/.files")
    "${A[@]}" shell "mkdir -p $(q "$remote/$dir")" >/dev/null
    push "${files[@]}" "$remote/$dir/"
  done < <(awk '{ p = $0; sub(/\/?[^\/]*$/, "", p); if (p == "") p = "."; print p }' "$out/.files" | sort -u)
  rm -f "$out/.files"
  run_env="LD_LIBRARY_PATH=$(q "$remote/$lib_rel")"
  # A device without glibc (Android) runs the bundle through the bundle's own loader.
  if [ -n "$loader" ] &&
    ! "${A[@]}" shell "ls /lib/$(basename "$loader") >/dev/null 2>&1" >/dev/null 2>&1; then
    echo "Device $serial has no glibc (Android?): running crumb-bench through the bundle's $loader."
    "${A[@]}" shell "chmod 755 $(q "$remote/$loader")" >/dev/null
    run_env=""
    run_via="$(q "$remote/$loader") --library-path $(q "$remote/$lib_rel:$remote/glibc")"
  fi
fi
push "$model" "$remote/model.crumb"
"${A[@]}" shell "chmod 755 $(q "$remote/$bench_rel")" >/dev/null

# ---------------------------------------------------------------- run
flags=(--graph="$remote/model.crumb" --num_threads="$threads" --num_runs="$runs"
  --warmup_runs="$warmups")
[ $profile = 1 ] && flags+=(--enable_op_profiling=true)
[ -n "$shape" ] && flags+=(--input_shape="$shape")
[ -n "$isa" ] && flags+=(--isa="$isa")
if [ $profile = 1 ]; then
  help=$("${A[@]}" shell "cd $(q "$remote/out") && $run_env $run_via $(q "$remote/$bench_rel") --help 2>&1" || true)
  case $help in *profiling_output_csv_file*) flags+=(--profiling_output_csv_file=op_profile.csv) ;; esac
fi
flags+=(${extra[@]+"${extra[@]}"})
line="cd $(q "$remote/out") && $run_env"
[ -n "$mask" ] && line+=" taskset ${mask#0x}"
line+=" $run_via $(q "$remote/$bench_rel")"
for f in "${flags[@]}"; do line+=" $(q "$f")"; done
# The exit status is echoed because adb before Android 7 does not return the device's.
line+=' 2>&1; echo "adb-bench-exit=$?"'
echo "Running on $serial${mask:+ (taskset $mask)}: crumb-bench ${flags[*]}"
"${A[@]}" shell "$line" | tr -d '\r' | tee "$out/bench.txt" | grep -v '^adb-bench-exit=' || true
status=$(sed -n 's/^adb-bench-exit=//p' "$out/bench.txt" | tail -n 1)
sed -i '/^adb-bench-exit=/d' "$out/bench.txt"

# ---------------------------------------------------------------- pull
pulled=0
while IFS= read -r f; do
  f=${f%$'\r'}
  [ -n "$f" ] || continue
  "${A[@]}" pull "$remote/out/$f" "$out/$f" >/dev/null || die "adb pull of $remote/out/$f failed."
  pulled=$((pulled + 1))
done < <("${A[@]}" shell "cd $(q "$remote/out") && ls -1")
[ $keep = 1 ] || "${A[@]}" shell "rm -rf $(q "$remote")" >/dev/null || true

if [ "$status" != 0 ]; then
  die "crumb-bench failed on device '$serial' (exit status ${status:-unknown}); its output is in $out/bench.txt."
fi
if [ $pulled = 0 ]; then
  echo "Results in $out: device.txt and bench.txt (crumb-bench's text output; it wrote no CSV/JSON file)."
else
  echo "Results in $out: device.txt, bench.txt and $pulled file(s) crumb-bench wrote."
fi
