# The console: GET /console/v1/status against a running tlogd (python3 + curl).
find_program(TL_PYTHON3 python3)
if(TL_PYTHON3)
  add_test(NAME console_status
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/console/test_status.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(console_status PROPERTIES TIMEOUT 120)
endif()
# The web console in a real browser: headless chromium driven by
# puppeteer-core (from npm, tests/console/puppeteer_install.sh) against tlogd
# with an audit log, a witness and a tampering proxy.
if(TL_PYTHON3)
  add_test(NAME console_browser
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/console/test_browser.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(console_browser PROPERTIES TIMEOUT 180)
endif()
