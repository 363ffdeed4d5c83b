# frontend benchmarks: the POST /add load generator (HTTP/2,
# distinct entries). The driver script bench/frontend_bench.sh runs it with
# h2load, nginx and the idle-connection probe; figures in docs/PERFORMANCE.md.
add_executable(bench_frontend_add ${CMAKE_CURRENT_SOURCE_DIR}/bench_frontend_add.c)
target_link_libraries(bench_frontend_add PRIVATE tl_common PkgConfig::NGHTTP2 PkgConfig::EVENT)
set_target_properties(bench_frontend_add PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
