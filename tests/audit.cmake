# audit/: canonical JSON, event validation, records and receipts.
add_executable(test_audit ${CMAKE_CURRENT_SOURCE_DIR}/test_audit.c)
target_link_libraries(test_audit PRIVATE tl_audit PkgConfig::CUNIT)
set_target_properties(test_audit PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME audit_unit COMMAND ${CMAKE_BINARY_DIR}/test_audit)
set_tests_properties(audit_unit PROPERTIES TIMEOUT 60)
# audit/k8s.h: the Kubernetes audit webhook's EventList mapped into events.
add_executable(test_k8s ${CMAKE_CURRENT_SOURCE_DIR}/test_k8s.c)
target_link_libraries(test_k8s PRIVATE tl_audit PkgConfig::CUNIT)
set_target_properties(test_k8s PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME audit_k8s_unit COMMAND ${CMAKE_BINARY_DIR}/test_k8s)
set_tests_properties(audit_k8s_unit PROPERTIES TIMEOUT 60)
