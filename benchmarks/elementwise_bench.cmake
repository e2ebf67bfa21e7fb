# bench_elementwise: the elementwise family against the scalar kernels on MobileNetV2 / ResNet-18
# sizes (benchmarks/elementwise_bench.cc). Included from benchmarks/CMakeLists.txt.
add_executable(bench_elementwise elementwise_bench.cc $<TARGET_OBJECTS:crumb_kernels_elementwise>
  $<TARGET_OBJECTS:crumb_kernels_scalar>)
target_include_directories(bench_elementwise PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_elementwise PRIVATE crumb_kernels_common benchmark::benchmark
  crumb_dep_pthreadpool)
if(CRUMB_USE_XNNPACK)
  # layer_bench.h's main() initialises XNNPACK when it is there.
  target_compile_definitions(bench_elementwise PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(bench_elementwise PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(bench_elementwise PRIVATE ${XNNPACK_LIBRARY})
endif()
