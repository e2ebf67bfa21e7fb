# Cross build for 32-bit Armv7-A Linux with NEON and hard float (Raspberry Pi OS 32-bit class;
# Debian's arm-linux-gnueabihf toolchain: crossbuild-essential-armhf).
#
#   tools/arm-sysroot.sh                      # once: Debian's armhf -dev packages -> build-sysroot/armhf
#   cmake -S . -B build-a32 -DCMAKE_TOOLCHAIN_FILE=toolchains/arm-linux-gnueabihf.cmake
#   cmake --build build-a32 -j2
#   QEMU_CPU=cortex-a7 ctest --test-dir build-a32    # every test runs under qemu-arm
#
# The sysroot is CRUMB_ARM_SYSROOT (a -D option or the environment variable of that name), by
# default build-sysroot/armhf in the source tree. glibc, libstdc++ and libgcc are the cross
# toolchain's own (/usr/arm-linux-gnueabihf).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7-a)
set(CRUMB_TARGET_TRIPLE arm-linux-gnueabihf)
set(CRUMB_QEMU qemu-arm)
set(CRUMB_ARM_SYSROOT_NAME armhf)
# Debian's armhf baseline is Armv7-A with VFPv3-D16 and no NEON; crumb's 32-bit target is the
# Armv7-A core with NEON (every Cortex-A7/A9/A15/A53 running a 32-bit OS).
set(CRUMB_ARM_FLAGS "-march=armv7-a -mfpu=neon -mfloat-abi=hard")
include(${CMAKE_CURRENT_LIST_DIR}/arm-linux-common.cmake)
