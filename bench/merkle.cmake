# merkle: bench_merkle (SHA-256 rate, tree building, proofs at 10^7).
add_executable(bench_merkle ${CMAKE_CURRENT_SOURCE_DIR}/bench_merkle.c)
target_link_libraries(bench_merkle PRIVATE tl_merkle PkgConfig::CRYPTO)
