# bench_dot: the dot family's layers at the ANCHORS.md shapes beside XNNPACK qs8 / f32
# (benchmarks/dot_bench.cc). Included from benchmarks/CMakeLists.txt.
add_executable(bench_dot dot_bench.cc $<TARGET_OBJECTS:crumb_kernels_dot>)
target_include_directories(bench_dot PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_dot PRIVATE crumb_kernels_common benchmark::benchmark
  crumb_dep_pthreadpool)
if(CRUMB_USE_XNNPACK)
  target_compile_definitions(bench_dot PRIVATE CRUMB_HAVE_XNNPACK)
  target_include_directories(bench_dot PRIVATE ${XNNPACK_INCLUDE_DIR})
  target_link_libraries(bench_dot PRIVATE ${XNNPACK_LIBRARY})
endif()
