#!/usr/bin/env bash
# All tests: installs missing Debian packages, builds everything, runs ctest.
# With CRUMB_EXTRA_MODELS=DIR set, also runs the end-to-end checks over every model under DIR.
# usage: tools/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
