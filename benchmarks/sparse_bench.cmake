# bench_sparse: the sparse family at MobileNetV2's 1x1 layers beside crumb's dense dot GEMM and
# XNNPACK qs8 / f32 (benchmarks/sparse_bench.cc). Included from benchmarks/CMakeLists.txt.
add_executable(bench_sparse sparse_bench.cc $<TARGET_OBJECTS:crumb_kernels_sparse>
  $<TARGET_OBJECTS:crumb_kernels_dot>)
target_include_directories(bench_sparse PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_sparse PRIVATE crumb_kernels_common benchmark::benchmark
  crumb_dep_pthreadpool)
if(CRUMB_USE_XNNPACK)
  target_compile_definitions(bench_sparse PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(bench_sparse PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(bench_sparse PRIVATE ${XNNPACK_LIBRARY})
endif()
