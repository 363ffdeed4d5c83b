# log tests: stores, sequencer, recovery, faults (test_log) and the SIGKILL
# crash test (crash_log).
add_executable(test_log ${CMAKE_CURRENT_SOURCE_DIR}/test_log.c)
target_link_libraries(test_log PRIVATE tl_log PkgConfig::CUNIT)
set_target_properties(test_log PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME log_unit COMMAND ${CMAKE_BINARY_DIR}/test_log)
set_tests_properties(log_unit PROPERTIES TIMEOUT 150)

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/crash_log.c)
  add_executable(crash_log ${CMAKE_CURRENT_SOURCE_DIR}/crash_log.c)
  target_link_libraries(crash_log PRIVATE tl_log)
  set_target_properties(crash_log PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
  add_test(NAME log_crash COMMAND ${CMAKE_BINARY_DIR}/crash_log)
  set_tests_properties(log_crash PROPERTIES TIMEOUT 150)
endif()

# The entry-kind seam of the sequencer, with a kind of the test's own.
add_executable(test_kind ${CMAKE_CURRENT_SOURCE_DIR}/test_kind.c)
target_link_libraries(test_kind PRIVATE tl_log PkgConfig::CUNIT Threads::Threads)
set_target_properties(test_kind PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME log_kind COMMAND ${CMAKE_BINARY_DIR}/test_kind)
set_tests_properties(log_kind PROPERTIES TIMEOUT 60)

# Tile stores and the publisher.
add_executable(test_publish ${CMAKE_CURRENT_SOURCE_DIR}/test_publish.c)
target_link_libraries(test_publish PRIVATE tl_log PkgConfig::CUNIT Threads::Threads)
set_target_properties(test_publish PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME log_publish COMMAND ${CMAKE_BINARY_DIR}/test_publish)
set_tests_properties(log_publish PROPERTIES TIMEOUT 120)
