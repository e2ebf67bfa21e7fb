#!/usr/bin/env bash
# Packs an Arm Linux bundle from a cross build (toolchains/aarch64-linux-gnu.cmake or
# arm-linux-gnueabihf.cmake): crumb-bench, crumb-run, crumb-inspect and every shared library they
# need that a board may lack — Debian's cpuinfo / pthreadpool (/ XNNPACK) from the sysroot, and the
# toolchain's libstdc++ / libgcc_s. glibc itself goes in a separate folder, used only on devices
# without it (Android): a bundled libc next to a system loader would break, so LD_LIBRARY_PATH=lib
# never sees it.
#
# usage: tools/arm-bundle.sh BUILD_DIR OUT_DIR
#
#   OUT_DIR/bin/crumb-bench, crumb-run, crumb-inspect
#   OUT_DIR/lib/      libcpuinfo.so.0 libpthreadpool.so.0 libXNNPACK.so.0 libstdc++.so.6 ...
#   OUT_DIR/glibc/    the loader (ld-linux-aarch64.so.1 / ld-linux-armhf.so.3), libc.so.6, libm.so.6
#   OUT_DIR/run.sh    run.sh TOOL [ARGS...]: the system loader with LD_LIBRARY_PATH=lib when the
#                     device has glibc, else glibc/<loader> --library-path lib:glibc
#   OUT_DIR/BUNDLE.txt what is inside, the architecture, and how to run it
#
# On an arm64 Linux board:  LD_LIBRARY_PATH=OUT_DIR/lib OUT_DIR/bin/crumb-bench --graph=m.crumb
# Here, under qemu:         qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=OUT_DIR/lib \
#                             OUT_DIR/bin/crumb-bench --graph=m.crumb
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR OUT_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
out=$2
cache=$build/CMakeCache.txt
[ -f "$cache" ] || { echo "arm-bundle: $build is not a CMake build folder (no CMakeCache.txt)." >&2; exit 1; }
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$cache" | head -1; }
sysroot=$(cache_var CRUMB_ARM_SYSROOT)
triple=$(cache_var CRUMB_TARGET_TRIPLE)
[ -n "$sysroot" ] || { echo "arm-bundle: $build is not an Arm cross build (no CRUMB_ARM_SYSROOT in its cache)." >&2; exit 1; }
case $triple in
  aarch64-linux-gnu) loader=ld-linux-aarch64.so.1 ;;
  arm-linux-gnueabihf) loader=ld-linux-armhf.so.3 ;;
  *) echo "arm-bundle: unexpected target '$triple' (want aarch64-linux-gnu or arm-linux-gnueabihf)." >&2; exit 1 ;;
esac
tools=()
for t in crumb-bench crumb-run crumb-inspect; do
  [ -x "$build/tools/$t" ] && tools+=("$build/tools/$t")
done
[ -x "$build/tools/crumb-bench" ] || { echo "arm-bundle: $build/tools/crumb-bench is not built: cmake --build $build --target crumb-bench" >&2; exit 1; }

# Where the target's libraries are: the sysroot's packages, then the toolchain's runtime.
search=("$sysroot/usr/lib/$triple" "$sysroot/lib/$triple" "/usr/$triple/lib")
is_glibc() {
  case $1 in
    ld-linux*|libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|libutil.so.*) return 0 ;;
  esac
  return 1
}
find_lib() {
  for d in "${search[@]}"; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  return 1
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# Every library the tools need, transitively.
declare -A seen=()
queue=("${tools[@]}")
libs=()
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}
  queue=("${queue[@]:1}")
  for n in $(needed "$f"); do
    [ -n "${seen[$n]:-}" ] && continue
    seen[$n]=1
    p=$(find_lib "$n") || { echo "arm-bundle: $n (needed by $(basename "$f")) is in neither the sysroot nor /usr/$triple/lib." >&2; exit 1; }
    libs+=("$n")
    queue+=("$p")
  done
done
# The loader and libc for devices without glibc (libc.so.6 names the loader itself).
for n in "$loader" libc.so.6; do
  [ -n "${seen[$n]:-}" ] || { seen[$n]=1; libs+=("$n"); }
done

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/glibc"
for t in "${tools[@]}"; do
  cp "$t" "$out/bin/"
done
for n in "${libs[@]}"; do
  if is_glibc "$n"; then dest=glibc; else dest=lib; fi
  cp -L "$(find_lib "$n")" "$out/$dest/$n"
done

cat > "$out/run.sh" <<EOF
#!/bin/sh
# run.sh TOOL [ARGS...]: runs bin/TOOL with this bundle's libraries. Devices with glibc (Arm Linux
# boards) use their own loader and libc; others (Android) the bundle's, from glibc/.
d=\$(cd "\$(dirname "\$0")" && pwd)
tool=\$1
shift
if [ -e /lib/$loader ]; then
  LD_LIBRARY_PATH="\$d/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$d/bin/\$tool" "\$@"
fi
exec "\$d/glibc/$loader" --library-path "\$d/lib:\$d/glibc" "\$d/bin/\$tool" "\$@"
EOF
chmod +x "$out/run.sh"

{
  echo "crumb Arm Linux bundle: $triple, built from $build"
  echo
  echo "bin/:   $(cd "$out/bin" && ls | tr '\n' ' ')"
  echo "lib/:   $(cd "$out/lib" && ls | tr '\n' ' ')"
  echo "glibc/: $(cd "$out/glibc" && ls | tr '\n' ' ')(only for devices without glibc)"
  echo
  echo "Run:  ./run.sh crumb-bench --graph=model.crumb --num_threads=1 --num_runs=50"
  echo "  or: LD_LIBRARY_PATH=\$PWD/lib bin/crumb-bench ...   (a device with glibc >= $(
    strings "/usr/$triple/lib/libc.so.6" | sed -n 's/^GNU C Library.*release version \([0-9]*\.[0-9]*\).*/\1/p' | head -1))"
  echo
  echo "Built against these Debian packages (the sysroot):"
  sed -n 's/^deb: /  /p' "$sysroot/packages.txt" 2>/dev/null
} > "$out/BUNDLE.txt"
echo "arm-bundle: $out ($(du -sh "$out" | cut -f1)): $(cd "$out" && find bin lib glibc -type f | tr '\n' ' ')"
