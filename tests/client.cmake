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

# tlog audit and monitor on audit logs (a real tlogd --kind audit, a proxy
# that alters event bodies, blob logs of hand-made records audited with
# --kind audit). See docs/CLIENT.md.
foreach(case tokens tokens_h2c records tamper monitor)
  add_test(NAME client_audit_${case}
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/client/test_audit_kind.py
                   ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${case})
  set_tests_properties(client_audit_${case} PROPERTIES TIMEOUT 120)
endforeach()

# The auditor's record, log-time and event-body checks, one by one.
add_executable(test_client_audit ${CMAKE_CURRENT_SOURCE_DIR}/test_client_audit.c)
target_link_libraries(test_client_audit PRIVATE tl_client PkgConfig::CUNIT)
set_target_properties(test_client_audit PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME client_audit_unit COMMAND ${CMAKE_BINARY_DIR}/test_client_audit)
set_tests_properties(client_audit_unit PROPERTIES TIMEOUT 60)

# tlog event add, verify and search against a real tlogd --kind audit.
add_test(NAME client_event
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/client/test_event.py
                 ${CMAKE_BINARY_DIR})
set_tests_properties(client_event PROPERTIES TIMEOUT 180)

# tlog audit through its HTTP/2 fetcher (client/h2.c): a real tlogd over h2c
# and TLS, a misbehaving python3-h2 server (statuses, closed connections,
# short bodies, GOAWAY, tampered tiles), and the fall-back to HTTP/1.1.
# Debian's python3-h2 belongs to Debian's python3, which another python3 first
# on PATH (pyenv, a virtualenv) may hide: the first of the two that has it.
set(TL_H2_PYTHON "")
find_program(TL_DEBIAN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
foreach(py ${Python3_EXECUTABLE} ${TL_DEBIAN_PYTHON3})
  if(NOT TL_H2_PYTHON)
    execute_process(COMMAND ${py} -c "import h2, hyperframe" RESULT_VARIABLE tl_h2py
                    OUTPUT_QUIET ERROR_QUIET)
    if(tl_h2py EQUAL 0)
      set(TL_H2_PYTHON ${py})
    endif()
  endif()
endforeach()
if(NOT TL_H2_PYTHON AND TL_STRICT)
  message(FATAL_ERROR "the tests need python3-h2 (scripts/deps.sh test installs it)")
endif()
if(TL_H2_PYTHON)
  foreach(case tlogd faults fallback)
    add_test(NAME client_h2_${case}
             COMMAND ${TL_H2_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/client/test_h2.py
                     ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${case})
    set_tests_properties(client_h2_${case} PROPERTIES TIMEOUT 120)
  endforeach()
endif()
