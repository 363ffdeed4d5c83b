# client: the audit rate of `tlog audit` against tlogd on loopback.
# bench_client_fill makes the log; bench/client_audit.sh runs the benchmark
# (see docs/PERFORMANCE.md, section "client").
add_executable(bench_client_fill ${CMAKE_CURRENT_SOURCE_DIR}/bench_client_fill.c)
target_link_libraries(bench_client_fill PRIVATE tl_log tl_audit)
set_target_properties(bench_client_fill PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
# bench_audit_check: the auditor's per-event cost on an audit log (one core).
add_executable(bench_audit_check ${CMAKE_CURRENT_SOURCE_DIR}/bench_audit_check.c)
target_link_libraries(bench_audit_check PRIVATE tl_client tl_audit)
set_target_properties(bench_audit_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
