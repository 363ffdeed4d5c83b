# publication tests: tlogd serve --publish to a folder served by nginx (and
# nginx as a caching proxy in front of tlogd), and to an S3-compatible server
# (s3rver, from npm, behind a proxy of the test's own that enforces
# conditional writes), read back with awscli, audited with tlog audit and
# followed by witnesses in pull mode. Real processes on loopback.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME publish_dir
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/publish/test_publish_dir.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(publish_dir PROPERTIES TIMEOUT 180)
  add_test(NAME publish_s3
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/publish/test_publish_s3.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(publish_s3 PROPERTIES TIMEOUT 240)
endif()
