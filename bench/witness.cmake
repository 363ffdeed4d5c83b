# witness: bench_witness (add-checkpoint rate in process and over HTTP, and
# the add-to-proof latency a 2-of-3 quorum adds); bench/witness_bench.sh runs
# it against real processes (see docs/PERFORMANCE.md, section "witness").
add_executable(bench_witness ${CMAKE_CURRENT_SOURCE_DIR}/bench_witness.c
                             ${CMAKE_SOURCE_DIR}/tests/witness/wt_tree.c)
target_link_libraries(bench_witness PRIVATE tl_witness tl_store tl_signer tl_merkle tl_curl
                      tl_common Threads::Threads)
set_target_properties(bench_witness PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
