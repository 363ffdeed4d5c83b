# witness: tlog-witness state machine (CUnit), the test tool, and the
# integration tests with real processes on loopback (python3, stdlib only).
add_library(tl_wt_tree STATIC ${CMAKE_CURRENT_SOURCE_DIR}/witness/wt_tree.c)
target_link_libraries(tl_wt_tree PUBLIC tl_signer tl_merkle tl_common)

add_executable(test_witness ${CMAKE_CURRENT_SOURCE_DIR}/witness/test_witness.c)
target_link_libraries(test_witness tl_witness tl_wt_tree tl_store PkgConfig::CUNIT
                      Threads::Threads)
add_test(NAME witness_unit COMMAND test_witness)
set_tests_properties(witness_unit PROPERTIES TIMEOUT 60)

# tlw-tool: makes log keys, signed checkpoints (also forged forks) and
# add-checkpoint bodies for the integration tests.
add_executable(tlw-tool ${CMAKE_CURRENT_SOURCE_DIR}/witness/tlw_tool.c)
target_link_libraries(tlw-tool tl_wt_tree tl_signer tl_merkle tl_common)

find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME witness_http
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/witness/test_witness_http.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(witness_http PROPERTIES TIMEOUT 90)
  add_test(NAME witness_quorum
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/witness/test_quorum.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(witness_quorum PROPERTIES TIMEOUT 120)
  # private TLS trust: tlogd --witness-ca (push), tlog-witness --log-ca (pull)
  add_test(NAME witness_tls
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/witness/test_witness_tls.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(witness_tls PROPERTIES TIMEOUT 60)
endif()
