#!/usr/bin/env bash
# The main job on the bundled sample: build crumb, convert the 2-bit-weight / 4-bit-activation
# digits model (trained quantization-aware, tests/data/digits_w2a4), run it on the 360 held-out
# test images, print the accuracy next to PyTorch's, and benchmark one image.
# usage: tools/quickstart.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j"$(nproc)" --target crumb-convert crumb-run crumb-bench crumb-inspect
data=tests/data
model=$data/digits_w2a4
echo
echo "== convert $model/qcdq.onnx"
"$build/tools/crumb-convert" "$model/qcdq.onnx" -o "$build/digits_w2a4.crumb"
echo
echo "== run on the 360 test images (PyTorch fake-quant accuracy: $(python3 -c "import json;print('%.2f %%' % (100*json.load(open('$model/manifest.json'))['qat_acc']))" 2>/dev/null || echo see manifest))"
"$build/tools/crumb-run" "$build/digits_w2a4.crumb" --input "$data/digits_common/test.input.bin" \
  --input_shape 360,1,8,8 --output "$build/digits_w2a4.out.bin" --labels "$data/digits_common/labels.u8"
echo
echo "== latency, one image, one thread"
"$build/tools/crumb-bench" --graph="$build/digits_w2a4.crumb" --input_shape=1,1,8,8 \
  --num_threads=1 --num_runs=200 --warmup_runs=20
