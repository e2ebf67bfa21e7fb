# bench_dwconv: the dwconv family on MobileNetV2's depthwise layers beside XNNPACK qs8 / f32
# depthwise convolutions (benchmarks/dwconv_bench.cc). Included from benchmarks/CMakeLists.txt.
add_executable(bench_dwconv dwconv_bench.cc $<TARGET_OBJECTS:crumb_kernels_dwconv>)
target_include_directories(bench_dwconv PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_dwconv PRIVATE crumb_kernels_common benchmark::benchmark
  crumb_dep_pthreadpool)
if(CRUMB_USE_XNNPACK)
  target_compile_definitions(bench_dwconv PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(bench_dwconv PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(bench_dwconv PRIVATE ${XNNPACK_LIBRARY})
endif()

# dwconv_insn_driver: one depthwise layer through a dwconv.inc kernel (or XNNPACK's qs8 depthwise
# convolution) between marker functions, for instruction counts under qemu
# (benchmarks/dwconv_insn_driver.cc, benchmarks/dwconv_results.md).
add_executable(dwconv_insn_driver dwconv_insn_driver.cc $<TARGET_OBJECTS:crumb_kernels_dwconv>)
target_include_directories(dwconv_insn_driver PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(dwconv_insn_driver PRIVATE crumb_kernels_common)
if(CRUMB_USE_XNNPACK)
  target_compile_definitions(dwconv_insn_driver PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(dwconv_insn_driver PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(dwconv_insn_driver PRIVATE ${XNNPACK_LIBRARY} crumb_dep_pthreadpool)
endif()
