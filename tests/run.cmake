# The README's first command (scripts/run.sh) with the programs of this
# build: both kinds, every command its banner prints.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME run_script
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/run/test_run.py
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(run_script PROPERTIES TIMEOUT 180)
