# Signer tests: signed notes, checkpoints, cosignatures, RFC 6962 STH (checked
# with the openssl CLI), tlog-policy and tlog-proof.
add_executable(test_signer ${CMAKE_CURRENT_SOURCE_DIR}/test_signer.c)
target_link_libraries(test_signer PRIVATE tl_signer PkgConfig::CUNIT PkgConfig::CRYPTO)
set_target_properties(test_signer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME signer_unit COMMAND ${CMAKE_BINARY_DIR}/test_signer)
set_tests_properties(signer_unit PROPERTIES TIMEOUT 120)
