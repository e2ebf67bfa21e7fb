#!/bin/sh
# Spatial-mask benchmark (issue 6, semi-structured activation sparsity): one 3x3 convolution
# (C -> C at HxH, W4A4 by default) reading an unmasked input, a 30 %-masked input of random
# pixels and one of random 2x2 pixel blocks (benchmarks/masked_conv_models.py), converted by
# crumb-convert and timed by crumb-bench's per-op profile, the three alternating for ROUNDS
# rounds; prints each variant's median conv time and the median over rounds of its speedup over
# the unmasked conv of the same round.
#   benchmarks/masked_conv.sh BUILD_DIR [ROUNDS=7] [models.py options, e.g. --shape 64,56]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: $0 BUILD_DIR [ROUNDS] [--shape C,H] [--wbits B] [--abits B] [--fraction F]}
rounds=${2:-7}
[ $# -ge 2 ] && shift 2 || shift 1
py=/usr/bin/python3
[ -x "$py" ] || py=python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$py" "$here/masked_conv_models.py" "$dir" "$@"
for m in dense random blocks; do
  "$build/tools/crumb-convert" "$dir/$m.onnx" -o "$dir/$m.crumb" --quiet
done
for m in random blocks; do
  "$build/tools/crumb-inspect" "$dir/$m.crumb" | grep -o "spatial mask: [0-9]*% of the taps.*" |
    sed "s/^/$m: /"
done
for r in $(seq "$rounds"); do
  for m in dense random blocks; do
    t=$("$build/tools/crumb-bench" --graph="$dir/$m.crumb" --num_runs=200 --warmup_runs=20 \
      --enable_op_profiling 2>&1 | awk '/Run Order/ {on = 1} on && $1 == "CONV_2D" {print $3; exit}')
    echo "$m $t" >> "$dir/times"
  done
done
"$py" - "$dir/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    m, v = line.split()
    t.setdefault(m, []).append(float(v))
# The speedup is the median of each round's own ratio (dense / masked, timed seconds apart): on a
# shared machine the speed drifts between rounds more than between the variants of one round.
print(f"{'input':8} {'median conv ms':>15} {'rounds':>7} {'speedup':>8}")
for m in ("dense", "random", "blocks"):
    med = statistics.median(t[m])
    ratio = statistics.median(d / v for d, v in zip(t["dense"], t[m]))
    print(f"{m:8} {med:15.3f} {len(t[m]):7d} {ratio:7.2f}x")
PY
