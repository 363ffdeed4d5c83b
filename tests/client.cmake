# Client (tlog) tests: integration cases driving build/tlog against static
# tlog-tiles logs written by client_mklog (from the specs), the Tessera test
# log, and build/tlogd when it works. See docs/CLIENT.md.
add_executable(client_mklog ${CMAKE_CURRENT_SOURCE_DIR}/client/mklog.c)
target_link_libraries(client_mklog tl_signer tl_merkle tl_common)
set_target_properties(client_mklog PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

find_package(Python3 REQUIRED COMPONENTS Interpreter)
foreach(case verify audit resume_fork tessera monitor add_static add_tlogd)
  add_test(NAME client_${case}
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/client/test_client.py
                   ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${case})
  set_tests_properties(client_${case} PROPERTIES TIMEOUT 120)
endforeach()
