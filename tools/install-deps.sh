#!/usr/bin/env bash
# Installs the Debian 12 packages crumb builds and tests with, only those that are missing.
# Idempotent; needs root (or sudo). Used by tools/quickstart.sh, tools/test.sh and .ci/run.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      libxnnpack-dev libcpuinfo-dev libpthreadpool-dev
      libflatbuffers-dev flatbuffers-compiler
      libonnx-dev libprotobuf-dev protobuf-compiler
      libgtest-dev googletest libbenchmark-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
