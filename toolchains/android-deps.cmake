# Builds crumb's dependencies from source, for targets without Debian's shared libraries:
# Android above all (bionic, not glibc: toolchains/android-arm64.cmake), where the result is a
# crumb-bench linked statically against cpuinfo, pthreadpool and XNNPACK. Included by the
# top-level CMakeLists.txt before it looks for the dependencies; does nothing unless
# CRUMB_DEPS_FROM_SOURCE is ON (the default on Android).
#
# Each dependency comes from a source folder you give, or else is fetched with FetchContent at
# the revision of Debian 12's package (so every platform runs the same XNNPACK and cpuinfo):
#   -DCRUMB_CPUINFO_SOURCE_DIR=...      cpuinfo      082deff  (also provides clog)
#   -DCRUMB_PTHREADPOOL_SOURCE_DIR=...  pthreadpool  1787867
#   -DCRUMB_XNNPACK_SOURCE_DIR=...      XNNPACK      ae108ef  (with CRUMB_USE_XNNPACK)
#   -DCRUMB_FLATBUFFERS_SOURCE_DIR=...  FlatBuffers  v2.0.8   (headers only)
#   -DCRUMB_FP16_SOURCE_DIR=... -DCRUMB_FXDIV_SOURCE_DIR=... -DCRUMB_PSIMD_SOURCE_DIR=...
#                                       the header-only libraries XNNPACK and pthreadpool include
#                                       (4dfe081, b408327, 072586a)
# -DCRUMB_FETCH_DEPS=OFF forbids downloading: a missing folder is then an error naming it.
# flatc stays the host's (find_program); it must be 2.0.8 like the headers, as Debian 12's is,
# because generated code checks the FlatBuffers version (-DFLATC=/path/to/flatc otherwise).
#
# Untested here: this machine has neither the Android NDK nor network access to the sources.

if(ANDROID)
  set(CRUMB_DEPS_FROM_SOURCE_DEFAULT ON)
else()
  set(CRUMB_DEPS_FROM_SOURCE_DEFAULT OFF)
endif()
option(CRUMB_DEPS_FROM_SOURCE
  "Build cpuinfo, pthreadpool, XNNPACK (static) and FlatBuffers from source instead of using the system's"
  ${CRUMB_DEPS_FROM_SOURCE_DEFAULT})
if(NOT CRUMB_DEPS_FROM_SOURCE)
  return()
endif()
option(CRUMB_FETCH_DEPS "Download the dependency sources not given as CRUMB_<DEP>_SOURCE_DIR" ON)

include(FetchContent)

# A function, so that its variables stay out of the including scope; what the top level needs
# comes back as targets and cache entries.
function(crumb_deps_from_source)
  # name, repository, revision (Debian 12's snapshot of each).
  set(crumb_dep_cpuinfo https://github.com/pytorch/cpuinfo.git 082deffc80ce517f81dc2f3aebe6ba671fcd09c9)
  set(crumb_dep_pthreadpool https://github.com/Maratyszcza/pthreadpool.git 1787867f6183f056420e532eec640cba25efafea)
  set(crumb_dep_xnnpack https://github.com/google/XNNPACK.git ae108ef49aa5623b896fc93d4298c49d1750d9ba)
  set(crumb_dep_flatbuffers https://github.com/google/flatbuffers.git v2.0.8)
  set(crumb_dep_fp16 https://github.com/Maratyszcza/FP16.git 4dfe081cf6bcd15db339cf2680b9281b8451eeb3)
  set(crumb_dep_fxdiv https://github.com/Maratyszcza/FXdiv.git b408327ac2a15ec3e43352421954f5b1967701d1)
  set(crumb_dep_psimd https://github.com/Maratyszcza/psimd.git 072586a71b55b7f8c584153d223e95687148a900)

  # XNNPACK is added as a CMake project and adds cpuinfo, clog, pthreadpool, FP16 and FXdiv itself
  # from the *_SOURCE_DIR variables set below; without XNNPACK, cpuinfo and pthreadpool are the
  # projects. The rest are sources only: a SOURCE_SUBDIR without a CMakeLists.txt keeps
  # FetchContent_MakeAvailable from adding them.
  if(CRUMB_USE_XNNPACK)
    set(crumb_projects xnnpack)
    set(crumb_sources cpuinfo pthreadpool flatbuffers fxdiv fp16 psimd)
  else()
    set(crumb_projects cpuinfo pthreadpool)
    set(crumb_sources flatbuffers fxdiv)
  endif()
  set(crumb_missing "")
  foreach(dep IN LISTS crumb_sources crumb_projects)
    string(TOUPPER ${dep} DEP)
    set(CRUMB_${DEP}_SOURCE_DIR "" CACHE PATH "Source folder of ${dep} (empty: fetch it)")
    set(extra "")
    if(dep IN_LIST crumb_sources)
      list(APPEND extra SOURCE_SUBDIR crumb-sources-only)
    endif()
    if(dep STREQUAL "flatbuffers")
      list(APPEND extra OVERRIDE_FIND_PACKAGE)  # satisfies the top level's find_package(FlatBuffers)
    endif()
    if(CRUMB_${DEP}_SOURCE_DIR)
      if(NOT EXISTS "${CRUMB_${DEP}_SOURCE_DIR}/")
        message(FATAL_ERROR "CRUMB_${DEP}_SOURCE_DIR=${CRUMB_${DEP}_SOURCE_DIR} does not exist.")
      endif()
      FetchContent_Declare(${dep} SOURCE_DIR "${CRUMB_${DEP}_SOURCE_DIR}" ${extra})
    elseif(CRUMB_FETCH_DEPS)
      list(GET crumb_dep_${dep} 0 repository)
      list(GET crumb_dep_${dep} 1 revision)
      FetchContent_Declare(${dep} GIT_REPOSITORY ${repository} GIT_TAG ${revision} ${extra})
    else()
      list(APPEND crumb_missing "CRUMB_${DEP}_SOURCE_DIR")
    endif()
  endforeach()
  if(crumb_missing)
    list(JOIN crumb_missing ", " crumb_missing)
    message(FATAL_ERROR "CRUMB_FETCH_DEPS is OFF and these source folders are not given: "
      "${crumb_missing}. Give each as -D<NAME>=/path, or allow downloading with "
      "-DCRUMB_FETCH_DEPS=ON.")
  endif()

  # Static libraries, no tests, benchmarks or tools of theirs. Cache entries because their
  # option() calls would otherwise reset plain variables (their CMake predates policy CMP0077).
  foreach(var CPUINFO_BUILD_TOOLS CPUINFO_BUILD_UNIT_TESTS CPUINFO_BUILD_MOCK_TESTS
              CPUINFO_BUILD_BENCHMARKS PTHREADPOOL_BUILD_TESTS PTHREADPOOL_BUILD_BENCHMARKS
              FP16_BUILD_TESTS FP16_BUILD_BENCHMARKS FXDIV_BUILD_TESTS FXDIV_BUILD_BENCHMARKS
              XNNPACK_BUILD_TESTS XNNPACK_BUILD_BENCHMARKS)
    set(${var} OFF CACHE BOOL "Set by crumb's toolchains/android-deps.cmake" FORCE)
  endforeach()
  foreach(var CPUINFO_LIBRARY_TYPE PTHREADPOOL_LIBRARY_TYPE XNNPACK_LIBRARY_TYPE)
    set(${var} static CACHE STRING "Set by crumb's toolchains/android-deps.cmake" FORCE)
  endforeach()

  FetchContent_MakeAvailable(${crumb_sources})
  # Where XNNPACK and pthreadpool take their dependencies from instead of downloading them.
  foreach(dep cpuinfo pthreadpool fxdiv fp16 psimd)
    string(TOUPPER ${dep} DEP)
    if(${dep}_SOURCE_DIR)
      set(${DEP}_SOURCE_DIR ${${dep}_SOURCE_DIR})
    endif()
  endforeach()
  set(CLOG_SOURCE_DIR ${CPUINFO_SOURCE_DIR})  # clog lives in cpuinfo's deps/clog
  FetchContent_MakeAvailable(${crumb_projects})

  # What the top level's find_* calls would find: cache entries they keep (a find_* call whose
  # result variable is already set does not search), naming the targets built here.
  if(TARGET cpuinfo AND NOT TARGET cpuinfo::cpuinfo)
    add_library(cpuinfo::cpuinfo ALIAS cpuinfo)
  endif()
  set(PTHREADPOOL_INCLUDE_DIR ${pthreadpool_SOURCE_DIR}/include CACHE PATH "pthreadpool.h" FORCE)
  set(PTHREADPOOL_LIBRARY pthreadpool CACHE STRING "pthreadpool (target built from source)" FORCE)
  set(FLATBUFFERS_INCLUDE_DIR ${flatbuffers_SOURCE_DIR}/include CACHE PATH "FlatBuffers headers" FORCE)
  if(CRUMB_USE_XNNPACK)
    set(XNNPACK_INCLUDE_DIR ${xnnpack_SOURCE_DIR}/include CACHE PATH "xnnpack.h" FORCE)
    set(XNNPACK_LIBRARY XNNPACK CACHE STRING "XNNPACK (target built from source)" FORCE)
  endif()
endfunction()
crumb_deps_from_source()
