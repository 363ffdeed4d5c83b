# sources/: the RFC 6587 framer and syslog messages mapped into audit events.
add_executable(test_sources ${CMAKE_CURRENT_SOURCE_DIR}/test_sources.c)
target_link_libraries(test_sources PRIVATE tl_sources PkgConfig::CUNIT)
set_target_properties(test_sources PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME sources_unit COMMAND ${CMAKE_BINARY_DIR}/test_sources)
set_tests_properties(sources_unit PROPERTIES TIMEOUT 60)
