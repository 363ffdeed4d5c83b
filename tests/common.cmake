# common: the shared helpers' CUnit suite (tests/test_common.c): strict
# decimals, hex, small files, and the libcurl setup against HTTP and HTTPS
# servers the test runs on loopback.
add_executable(test_common ${CMAKE_CURRENT_SOURCE_DIR}/test_common.c)
target_link_libraries(test_common PRIVATE tl_curl tl_common PkgConfig::CUNIT PkgConfig::CRYPTO
                      Threads::Threads)
set_target_properties(test_common PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME common_unit COMMAND ${CMAKE_BINARY_DIR}/test_common)
set_tests_properties(common_unit PROPERTIES TIMEOUT 60)
