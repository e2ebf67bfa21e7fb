# Android arm64-v8a: a thin wrapper over the NDK's own toolchain file.
#
#   cmake -S . -B build-android -DCMAKE_TOOLCHAIN_FILE=toolchains/android-arm64.cmake \
#         -DANDROID_NDK=/path/to/android-ndk [-DANDROID_PLATFORM=android-24]
#   cmake --build build-android -j --target crumb-bench
#   tools/adb-bench.sh --binary build-android/tools/crumb-bench model.crumb
#
# Debian's XNNPACK, cpuinfo and pthreadpool are glibc shared libraries, useless on Android:
# toolchains/android-deps.cmake builds them (and takes FlatBuffers' headers) from source folders
# you give (-DCRUMB_CPUINFO_SOURCE_DIR=... and so on) or fetches them at Debian 12's revisions.
# The executables are linked statically (CRUMB_ANDROID_STATIC, libc++ included), so crumb-bench
# is one file to push. The converter, tests and Google Benchmark programs are off by default.
#
# Untested here: this machine has no NDK (and no network to fetch one). Needs NDK r23 or newer.

if(NOT ANDROID_NDK)
  foreach(var ANDROID_NDK ANDROID_NDK_HOME ANDROID_NDK_ROOT)
    if(DEFINED ENV{${var}} AND EXISTS "$ENV{${var}}/build/cmake/android.toolchain.cmake")
      set(ANDROID_NDK "$ENV{${var}}")
      break()
    endif()
  endforeach()
endif()
if(NOT ANDROID_NDK OR NOT EXISTS "${ANDROID_NDK}/build/cmake/android.toolchain.cmake")
  message(FATAL_ERROR "No Android NDK: give -DANDROID_NDK=/path/to/ndk or set the ANDROID_NDK "
    "environment variable (the folder holding build/cmake/android.toolchain.cmake).")
endif()
# try_compile projects read this file again without the cache.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ANDROID_NDK)

if(ANDROID_ABI AND NOT ANDROID_ABI STREQUAL "arm64-v8a")
  message(FATAL_ERROR "toolchains/android-arm64.cmake is for ANDROID_ABI=arm64-v8a, not ${ANDROID_ABI}.")
endif()
set(ANDROID_ABI arm64-v8a)
if(NOT ANDROID_PLATFORM)
  set(ANDROID_PLATFORM android-24)
endif()
string(REGEX REPLACE "^android-" "" crumb_android_api "${ANDROID_PLATFORM}")
if(crumb_android_api MATCHES "^[0-9]+$" AND crumb_android_api LESS 24)
  message(FATAL_ERROR "ANDROID_PLATFORM=${ANDROID_PLATFORM}: crumb needs Android 7.0 (API 24) or newer.")
endif()
if(NOT ANDROID_STL)
  set(ANDROID_STL c++_static)
endif()

include("${ANDROID_NDK}/build/cmake/android.toolchain.cmake")

# Defaults for an Android build; -D on the command line still wins (these do not FORCE).
set(CRUMB_BUILD_CONVERTER OFF CACHE BOOL "Build the ONNX converter (host only)")
set(CRUMB_BUILD_TESTS OFF CACHE BOOL "Build the tests")
set(CRUMB_BUILD_BENCHMARKS OFF CACHE BOOL "Build the Google Benchmark programs")
option(CRUMB_ANDROID_STATIC "Link crumb's executables statically (one file to push)" ON)
# (CMake reads a toolchain file more than once: append the flag once.)
if(CRUMB_ANDROID_STATIC AND NOT " ${CMAKE_EXE_LINKER_FLAGS_INIT} " MATCHES " -static ")
  string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " -static")
endif()
