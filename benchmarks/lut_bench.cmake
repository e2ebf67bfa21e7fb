# bench_lut: the lut family's layers at the ResNet-18 shapes beside XNNPACK qs8 / f32 and the
# product-table reference (benchmarks/lut_bench.cc). Included from benchmarks/CMakeLists.txt.
set(CRUMB_LUT_BENCH_SOURCES lut_bench.cc)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86)$")
  list(APPEND CRUMB_LUT_BENCH_SOURCES lut_prodtable-avx512.cc)
  set_source_files_properties(lut_prodtable-avx512.cc PROPERTIES COMPILE_OPTIONS
    "-mavx512f;-mavx512bw;-mavx512vl;-Wno-maybe-uninitialized;-Wno-uninitialized")
endif()
add_executable(bench_lut ${CRUMB_LUT_BENCH_SOURCES} $<TARGET_OBJECTS:crumb_kernels_lut>)
target_include_directories(bench_lut PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_lut PRIVATE crumb_kernels_common benchmark::benchmark
  crumb_dep_pthreadpool)
if(CRUMB_USE_XNNPACK)
  target_compile_definitions(bench_lut PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(bench_lut PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(bench_lut PRIVATE ${XNNPACK_LIBRARY})
endif()

# lut_insn_driver: one lut kernel between two marker functions, for the qemu instruction counter
# (instructions per MAC on Arm; benchmarks/lut_insn_driver.cc).
add_executable(lut_insn_driver lut_insn_driver.cc $<TARGET_OBJECTS:crumb_kernels_lut>)
target_include_directories(lut_insn_driver PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(lut_insn_driver PRIVATE crumb_kernels_common)
