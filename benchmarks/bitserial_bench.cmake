# bench_bitserial: the bitserial family's layers at the ResNet-18 shapes beside XNNPACK qs8 / f32
# (benchmarks/bitserial_bench.cc). Included from benchmarks/CMakeLists.txt.
add_executable(bench_bitserial bitserial_bench.cc $<TARGET_OBJECTS:crumb_kernels_bitserial>)
target_include_directories(bench_bitserial PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_bitserial PRIVATE crumb_kernels_common benchmark::benchmark
  crumb_dep_pthreadpool)
if(CRUMB_USE_XNNPACK)
  target_compile_definitions(bench_bitserial PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(bench_bitserial PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(bench_bitserial PRIVATE ${XNNPACK_LIBRARY})
endif()
