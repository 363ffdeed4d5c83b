# frontend tests: the route table and the query parser (test_frontend),
# tl_httpd alone through a small test server, and tlogd serve end to end
# (python3 stdlib + curl + nghttp + openssl CLI).
add_executable(test_frontend ${CMAKE_CURRENT_SOURCE_DIR}/test_frontend.c)
target_link_libraries(test_frontend PRIVATE tl_frontend PkgConfig::CUNIT)
set_target_properties(test_frontend PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME frontend_unit COMMAND ${CMAKE_BINARY_DIR}/test_frontend)
set_tests_properties(frontend_unit PROPERTIES TIMEOUT 60)
add_executable(frontend_httpd_testsrv ${CMAKE_CURRENT_SOURCE_DIR}/frontend/httpd_testsrv.c)
target_link_libraries(frontend_httpd_testsrv tl_http)

find_program(TL_PYTHON3 python3)
if(TL_PYTHON3)
  add_test(NAME frontend_httpd
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_httpd.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_httpd PROPERTIES TIMEOUT 120)
  add_test(NAME frontend_tlogd
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_tlogd.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_tlogd PROPERTIES TIMEOUT 180)
  # Go's net/http and x/net/http2 against tlogd
  add_test(NAME frontend_go
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_go.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_go PROPERTIES TIMEOUT 300)
  # several logs in one process, each under its origin's URL prefix
  add_test(NAME frontend_multilog
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_multilog.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_multilog PROPERTIES TIMEOUT 180)
  # temporal shards: a closing time, tlogd close, 410 after it
  add_test(NAME frontend_shard
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_shard.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_shard PROPERTIES TIMEOUT 120)
endif()
# the tokens of an audit log (frontend/tokens.h), and tlogd token add|list|revoke
add_executable(test_tokens ${CMAKE_CURRENT_SOURCE_DIR}/test_tokens.c)
target_link_libraries(test_tokens PRIVATE tl_frontend PkgConfig::CUNIT)
set_target_properties(test_tokens PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME frontend_tokens COMMAND ${CMAKE_BINARY_DIR}/test_tokens)
set_tests_properties(frontend_tokens PROPERTIES TIMEOUT 60)
if(TL_PYTHON3)
  add_test(NAME frontend_token_cmd
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_tokens.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_token_cmd PROPERTIES TIMEOUT 120)
  # Audit logs end to end: every endpoint, bad input, tokens, erasure, the
  # trail of access, kill -9 during ingestion and erasure.
  add_test(NAME frontend_audit
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_audit.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(frontend_audit PROPERTIES TIMEOUT 300)
  # The Kubernetes audit webhook: curl posts recorded and built EventLists.
  add_test(NAME frontend_k8s
           COMMAND ${TL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/frontend/test_k8s.py
                   ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
  set_tests_properties(frontend_k8s PROPERTIES TIMEOUT 120)
endif()
# The mapping workers of audit sources (frontend/pool.c): limits, threads, parts.
add_executable(test_pool ${CMAKE_CURRENT_SOURCE_DIR}/test_pool.c)
target_link_libraries(test_pool PRIVATE tl_frontend PkgConfig::CUNIT)
set_target_properties(test_pool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME frontend_pool COMMAND ${CMAKE_BINARY_DIR}/test_pool)
set_tests_properties(frontend_pool PROPERTIES TIMEOUT 60)
