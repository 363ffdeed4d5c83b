# high availability through etcd (docs/HA.md): a 3-member etcd cluster started
# by the test (unprivileged, data in a temp dir, loopback ports) and three tlogd
# nodes of one log; kill -9, SIGSTOP, the etcd Raft leader killed, a node cut
# off etcd. A missing etcd or etcdctl fails the test.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME ha_failover
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ha/test_ha.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(ha_failover PROPERTIES TIMEOUT 240)
endif()

add_executable(test_ha ${CMAKE_CURRENT_SOURCE_DIR}/test_ha.c)
target_link_libraries(test_ha PRIVATE tl_log PkgConfig::CUNIT Threads::Threads)
set_target_properties(test_ha PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME ha_unit COMMAND ${CMAKE_BINARY_DIR}/test_ha)

# a node rebuilt from the key files and the journal, and a witness across the
# failover; an audit log's erasure reaching the journal and the standbys
if(Python3_FOUND)
  add_test(NAME ha_rebuild
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ha/test_rebuild.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(ha_rebuild PROPERTIES TIMEOUT 120)
  add_test(NAME ha_erasure
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ha/test_erasure.py
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(ha_erasure PROPERTIES TIMEOUT 120)
endif()
