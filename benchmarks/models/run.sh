#!/bin/sh
# Whole-network comparison (issue 7): crumb at W4A8 / W2A4 / W2A2 (and ResNet-18 W1A1) against
# ONNX Runtime fp32 / int8 QDQ and XNNPACK f32 / qs8 on ResNet-18 and MobileNetV2 (batch 1, 224x224).
#   benchmarks/models/run.sh BUILD_DIR [--threads 1,2] [--rounds 5] [--models resnet18,mobilenet_v2]
#                            [--runs 30] [--warmup 5] [--cache DIR] [-o results.json]
# Models are made once into --cache (default ~/.cache/crumb-models, never the repository) by
# benchmarks/models/prepare.py. onnxruntime-node comes from $ORT_DIR, else /opt/ort, else it is
# installed (npm install --ignore-scripts) into ~/.cache/crumb-ort. Builds crumb-convert,
# crumb-bench and bench_xnnpack_model in BUILD_DIR when they are missing. Needs Debian's
# python3-torch, python3-torchvision, python3-onnx, python3-numpy (run with /usr/bin/python3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: $0 BUILD_DIR [--threads 1,2] [--rounds 5] [--models ...] [-o out.json]}
shift
for t in tools/crumb-convert tools/crumb-bench benchmarks/bench_xnnpack_model; do
  [ -x "$build/$t" ] || cmake --build "$build" --target "$(basename "$t")" -j2
done
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
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$here/run.py" --build "$build" --ort-dir "$dir" "$@"
