# The Kubernetes audit webhook: k8s_bench_map (the CPU cost of mapping one
# 400-item EventList, audit/k8s.h); bench/k8s_bench.py drives tlogd itself.
# Figures in docs/PERFORMANCE.md ("Kubernetes webhook").
add_executable(k8s_bench_map ${CMAKE_CURRENT_SOURCE_DIR}/k8s_bench_map.c)
target_link_libraries(k8s_bench_map PRIVATE tl_audit)
set_target_properties(k8s_bench_map PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
