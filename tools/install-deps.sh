#!/usr/bin/env bash
# Installs the Debian 12 packages crumb builds and tests with, only those that are missing.
# Idempotent; needs root (or sudo). Used by tools/quickstart.sh, tools/test.sh and .ci/run.
# usage: tools/install-deps.sh [--arm] [--sanitize]
#   --arm  also the Arm cross compilers (arm64, armhf) and qemu-user, for the cross builds and
#          their tests (the Arm libraries themselves come from tools/arm-sysroot.sh)
#   --sanitize  also clang with its sanitizer and libFuzzer runtimes (the fuzz build; the ASan and
#          TSan builds use gcc's libasan / libubsan / libtsan, which build-essential brings)
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      libxnnpack-dev libcpuinfo-dev libpthreadpool-dev
      libflatbuffers-dev flatbuffers-compiler
      libonnx-dev libprotobuf-dev protobuf-compiler
      libgtest-dev googletest libbenchmark-dev)
for a in "$@"; do
  case $a in
    --arm) pkgs+=(crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user) ;;
    --sanitize) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: $0 [--arm] [--sanitize]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt user instead of failing; an index that fails to refresh (a mirror
# mid-sync, often a foreign architecture's) must not stop the install when the rest is there.
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq ||
  echo "install-deps: apt-get update reported errors; installing from the indexes it has"
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
