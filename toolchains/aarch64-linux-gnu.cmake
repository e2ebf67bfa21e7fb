# Cross build for 64-bit Arm Linux (Debian's aarch64-linux-gnu toolchain: crossbuild-essential-arm64).
#
#   tools/arm-sysroot.sh                      # once: Debian's arm64 -dev packages -> build-sysroot/arm64
#   cmake -S . -B build-a64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake \
#         -DCRUMB_HOST_TOOLS_DIR=<x86 build>/tools   # optional: end-to-end tests with the host converter
#   cmake --build build-a64 -j2
#   QEMU_CPU=max ctest --test-dir build-a64          # every test runs under qemu-aarch64
#   QEMU_CPU=cortex-a53 ctest --test-dir build-a64
#
# The sysroot is CRUMB_ARM_SYSROOT (a -D option or the environment variable of that name), by
# default build-sysroot/arm64 in the source tree. glibc, libstdc++ and libgcc are the cross
# toolchain's own (/usr/aarch64-linux-gnu); the sysroot holds only the dependencies' packages.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CRUMB_TARGET_TRIPLE aarch64-linux-gnu)
set(CRUMB_QEMU qemu-aarch64)
set(CRUMB_ARM_SYSROOT_NAME arm64)
set(CRUMB_ARM_FLAGS "")
include(${CMAKE_CURRENT_LIST_DIR}/arm-linux-common.cmake)
