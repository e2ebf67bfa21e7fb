# Shared by aarch64-linux-gnu.cmake and arm-linux-gnueabihf.cmake (which set CRUMB_TARGET_TRIPLE,
# CRUMB_QEMU, CRUMB_ARM_SYSROOT_NAME and CRUMB_ARM_FLAGS first). Not a toolchain file by itself.

# try_compile projects re-read the toolchain file without the cache: pass the sysroot along.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CRUMB_ARM_SYSROOT)
if(NOT CRUMB_ARM_SYSROOT)
  if(DEFINED ENV{CRUMB_ARM_SYSROOT} AND NOT "$ENV{CRUMB_ARM_SYSROOT}" STREQUAL "")
    set(CRUMB_ARM_SYSROOT "$ENV{CRUMB_ARM_SYSROOT}")
  else()
    get_filename_component(CRUMB_ARM_SYSROOT
      "${CMAKE_CURRENT_LIST_DIR}/../build-sysroot/${CRUMB_ARM_SYSROOT_NAME}" ABSOLUTE)
  endif()
endif()
set(CRUMB_ARM_SYSROOT "${CRUMB_ARM_SYSROOT}" CACHE PATH
  "Folder holding Debian's ${CRUMB_ARM_SYSROOT_NAME} packages unpacked (tools/arm-sysroot.sh)")
if(NOT EXISTS "${CRUMB_ARM_SYSROOT}/usr/lib/${CRUMB_TARGET_TRIPLE}")
  message(FATAL_ERROR "No ${CRUMB_ARM_SYSROOT_NAME} sysroot at ${CRUMB_ARM_SYSROOT}: run "
    "tools/arm-sysroot.sh first, or point CRUMB_ARM_SYSROOT at one.")
endif()
# For tools/arm-bundle.sh, which reads the build's cache.
set(CRUMB_TARGET_TRIPLE "${CRUMB_TARGET_TRIPLE}" CACHE INTERNAL "Target triple of the Arm cross build")
# The toolchain's own runtime (glibc, libstdc++, ld.so), where qemu finds the dynamic loader.
set(CRUMB_ARM_LIBC_ROOT /usr/${CRUMB_TARGET_TRIPLE})
set(CRUMB_ARM_SYSROOT_LIBDIR "${CRUMB_ARM_SYSROOT}/usr/lib/${CRUMB_TARGET_TRIPLE}")

set(CMAKE_C_COMPILER ${CRUMB_TARGET_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CRUMB_TARGET_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${CRUMB_TARGET_TRIPLE})
set(CMAKE_C_FLAGS_INIT "${CRUMB_ARM_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${CRUMB_ARM_FLAGS}")
# The dependencies' shared libraries need each other at link time (XNNPACK -> cpuinfo).
foreach(kind EXE SHARED MODULE)
  set(CMAKE_${kind}_LINKER_FLAGS_INIT "-Wl,-rpath-link,${CRUMB_ARM_SYSROOT_LIBDIR}")
endforeach()

# Libraries, headers and CMake packages from the sysroot (Debian's multiarch layout:
# usr/lib/<triple>, usr/include); programs (flatc, the host's code generators) from the host.
set(CMAKE_FIND_ROOT_PATH "${CRUMB_ARM_SYSROOT}" "${CRUMB_ARM_LIBC_ROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Every test (ctest, gtest discovery) runs under qemu-user: -L points it at the toolchain's
# glibc and ld.so, and the sysroot's libraries are found through the guest's LD_LIBRARY_PATH.
# The CPU is the QEMU_CPU environment variable (qemu's default when unset: max).
find_program(CRUMB_QEMU_PROGRAM ${CRUMB_QEMU})
if(CRUMB_QEMU_PROGRAM)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${CRUMB_QEMU_PROGRAM};-L;${CRUMB_ARM_LIBC_ROOT};-E;LD_LIBRARY_PATH=${CRUMB_ARM_SYSROOT_LIBDIR}")
endif()
