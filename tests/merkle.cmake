# merkle: the Merkle core's CUnit suite (tests/test_merkle.c).
add_executable(test_merkle ${CMAKE_CURRENT_SOURCE_DIR}/test_merkle.c)
target_link_libraries(test_merkle PRIVATE tl_merkle PkgConfig::CUNIT)
add_test(NAME merkle_core COMMAND test_merkle)
set_tests_properties(merkle_core PROPERTIES TIMEOUT 150)
