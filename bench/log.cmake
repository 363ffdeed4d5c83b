# log: bench_log (sequencer throughput, RSS, bytes written per entry and
# start-up time of a LevelDB log; see docs/PERFORMANCE.md).
add_executable(bench_log ${CMAKE_CURRENT_SOURCE_DIR}/bench_log.c)
target_link_libraries(bench_log PRIVATE tl_log Threads::Threads)
set_target_properties(bench_log PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
