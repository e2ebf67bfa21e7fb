#!/usr/bin/env bash
# Installs the build into a scratch prefix, builds a C program against the installed package
# three ways (CMake shared, CMake static, pkg-config) and runs the bundled digits model with each.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d /tmp/crumb-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in include/crumb/crumb.h include/crumb/crumb.hpp bin/crumb-convert bin/crumb-run bin/crumb-bench bin/crumb-inspect; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
ls "$prefix"/lib*/libcrumb.a "$prefix"/lib*/libcrumb.so* "$prefix"/lib*/cmake/crumb/crumbConfig.cmake "$prefix"/lib*/pkgconfig/crumb.pc > /dev/null
data=$src/tests/data
"$prefix/bin/crumb-convert" "$data/digits_w2a4/qcdq.onnx" -o "$work/digits.crumb"
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log"
cmake --build "$work/consumer" > "$work/build.log"
export LD_LIBRARY_PATH=$(dirname "$(ls "$prefix"/lib*/libcrumb.so | head -1)")
libdir=$LD_LIBRARY_PATH
args=("$work/digits.crumb" "$data/digits_common/test.input.bin" 360 "$data/digits_common/labels.u8")
"$work/consumer/consumer_shared" "${args[@]}"
"$work/consumer/consumer_static" "${args[@]}"
PKG_CONFIG_PATH=$libdir/pkgconfig cc "$src/tests/install/consumer.c" -o "$work/consumer_pc" \
  $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs crumb)
"$work/consumer_pc" "${args[@]}"
echo "install test passed"
