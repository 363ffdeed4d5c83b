# The console: GET /console/v1/status against a running tlogd (python3 + curl).
find_program(TL_PYTHON3 python3)
if(TL_PYTHON3)
  add_test(NAME console_status
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/console/test_status.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(console_status PROPERTIES TIMEOUT 120)
endif()
