# sources/: the RFC 6587 framer and syslog messages mapped into audit events.
add_executable(test_sources ${CMAKE_CURRENT_SOURCE_DIR}/test_sources.c)
target_link_libraries(test_sources PRIVATE tl_sources PkgConfig::CUNIT)
set_target_properties(test_sources PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME sources_unit COMMAND ${CMAKE_BINARY_DIR}/test_sources)
set_tests_properties(sources_unit PROPERTIES TIMEOUT 60)
# Syslog into an audit log end to end, with logger and rsyslog (TCP and TLS).
find_program(TL_PYTHON3 python3)
if(TL_PYTHON3)
  add_test(NAME sources_syslog
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/sources/test_syslog.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(sources_syslog PROPERTIES TIMEOUT 180)
endif()
