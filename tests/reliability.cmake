# Reliability suites (faults, HTTP/2 abuse); docs/RELIABILITY.md.
# Short runs here (budget: 120 s of test time in the normal build, less with
# TL_SANITIZED=1); the long runs are the commands in docs/RELIABILITY.md.
# The fuzz targets' short run is registered by fuzz/CMakeLists.txt, only in
# the -DTL_FUZZ=ON build.
set(TL_REL ${CMAKE_CURRENT_SOURCE_DIR}/reliability)
find_program(TL_PYTHON3 python3)

# Test tools: flips a stored value's byte (valid LevelDB checksums), steps
# the wall clock (LD_PRELOAD), and the HTTP/2 abuse client.
add_executable(rel_corrupt ${TL_REL}/rel_corrupt.c)
target_link_libraries(rel_corrupt tl_log tl_store tl_common)
add_library(tl_clockshim SHARED ${TL_REL}/clockshim.c)
target_link_libraries(tl_clockshim ${CMAKE_DL_LIBS})
set_target_properties(tl_clockshim PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_executable(h2abuse ${TL_REL}/h2abuse.c)
target_link_libraries(h2abuse tl_common PkgConfig::NGHTTP2 Threads::Threads)

# The fuzz targets, built with a plain main() (fuzz_replay.c): every build
# replays the seed corpora and the saved crashers of fuzz/regressions/.
set(TL_FUZZ_SRC ${CMAKE_SOURCE_DIR}/fuzz)
set(TL_REPLAY_LIBS_tile_path tl_merkle tl_common)
set(TL_REPLAY_LIBS_proof tl_merkle tl_common)
set(TL_REPLAY_LIBS_note tl_signer tl_merkle tl_common)
set(TL_REPLAY_LIBS_checkpoint tl_signer tl_merkle tl_common)
set(TL_REPLAY_LIBS_tlogproof tl_signer tl_merkle tl_common)
set(TL_REPLAY_LIBS_policy tl_signer tl_merkle tl_common)
set(TL_REPLAY_LIBS_witness_add tl_witness tl_store tl_signer tl_merkle tl_common)
set(TL_REPLAY_LIBS_ct_query tl_frontend tl_http tl_log tl_store tl_signer tl_merkle tl_common
    PkgConfig::JANSSON PkgConfig::EVENT)
set(TL_REPLAY_LIBS_audit_event tl_audit tl_merkle tl_common PkgConfig::JANSSON)
set(TL_REPLAY_LIBS_k8s ${TL_REPLAY_LIBS_audit_event})
set(TL_REPLAY_LIBS_audit_query ${TL_REPLAY_LIBS_ct_query})
set(TL_REPLAY_LIBS_syslog tl_sources ${TL_REPLAY_LIBS_audit_event})
foreach(t tile_path proof note checkpoint tlogproof policy witness_add ct_query audit_event
          audit_query k8s syslog)
  add_executable(replay_${t} ${TL_FUZZ_SRC}/fuzz_${t}.c ${TL_REL}/fuzz_replay.c)
  target_link_libraries(replay_${t} ${TL_REPLAY_LIBS_${t}})
endforeach()
add_test(NAME reliability_fuzz_replay
         COMMAND sh ${TL_REL}/fuzz_replay.sh ${CMAKE_BINARY_DIR} ${TL_FUZZ_SRC})
set_tests_properties(reliability_fuzz_replay PROPERTIES TIMEOUT 120)

if(TL_PYTHON3)
  add_test(NAME reliability_kill9_log
           COMMAND ${TL_PYTHON3} ${TL_REL}/kill9.py ${CMAKE_BINARY_DIR})
  add_test(NAME reliability_kill9_witness
           COMMAND ${TL_PYTHON3} ${TL_REL}/kill9.py ${CMAKE_BINARY_DIR} --witness)
  add_test(NAME reliability_iofault
           COMMAND ${TL_PYTHON3} ${TL_REL}/iofault.py ${CMAKE_BINARY_DIR})
  add_test(NAME reliability_faults
           COMMAND ${TL_PYTHON3} ${TL_REL}/faults.py ${CMAKE_BINARY_DIR} second readonly clock)
  add_test(NAME reliability_corrupt
           COMMAND ${TL_PYTHON3} ${TL_REL}/faults.py ${CMAKE_BINARY_DIR} corrupt)
  add_test(NAME reliability_h2abuse
           COMMAND ${TL_PYTHON3} ${TL_REL}/h2abuse_run.py ${CMAKE_BINARY_DIR})
  set_tests_properties(reliability_kill9_log reliability_kill9_witness reliability_iofault
                       reliability_faults reliability_corrupt reliability_h2abuse
                       PROPERTIES TIMEOUT 300)
endif()
