#!/bin/sh
# Runs benchmarks/ort_layers.js: ONNX Runtime (onnxruntime-node) on single-layer int8 QDQ models
# of the ANCHORS.md shapes (and two MobileNetV2 depthwise layers), alternating with crumb's
# bench_dot, bench_lut and bench_dwconv, GOPS and ratios per layer.
#   benchmarks/ort_layers.sh BUILD_DIR [--threads 1,2] [--reps 7] [--filter REGEX] [--json F]
# onnxruntime-node comes from $ORT_DIR, else /opt/ort, else it is installed (npm install
# --ignore-scripts: the CPU libraries ship inside the package) into ~/.cache/crumb-ort, outside
# the repository. Builds bench_dot, bench_lut and bench_dwconv in BUILD_DIR when they are missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: $0 BUILD_DIR [ort_layers.js options]}
shift
dot=$build/benchmarks/bench_dot
lut=$build/benchmarks/bench_lut
dw=$build/benchmarks/bench_dwconv
[ -x "$dot" ] || cmake --build "$build" --target bench_dot -j2
[ -x "$lut" ] || cmake --build "$build" --target bench_lut -j2
[ -x "$dw" ] || cmake --build "$build" --target bench_dwconv -j2
if [ -n "${ORT_DIR:-}" ] && [ -d "$ORT_DIR/node_modules/onnxruntime-node" ]; then
  dir=$ORT_DIR
elif [ -d /opt/ort/node_modules/onnxruntime-node ]; then
  dir=/opt/ort
else
  dir=${XDG_CACHE_HOME:-$HOME/.cache}/crumb-ort
  if [ ! -d "$dir/node_modules/onnxruntime-node" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node)
  fi
fi
exec node "$here/ort_layers.js" --ort-dir "$dir" --bench "$dot" --bench-lut "$lut" --bench "$dw" "$@"
