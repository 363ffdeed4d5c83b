# Reliability long runs are scripts driving the built programs, so
# nothing is compiled here; commands and figures: docs/RELIABILITY.md.
#   python3 bench/soak.py BUILD --duration 1800 --kill-every 180   (30-min soak)
#   python3 tests/reliability/kill9.py BUILD --kills 1000           (long kill -9)
#   python3 tests/reliability/kill9.py BUILD --witness --kills 1000
#   python3 tests/reliability/iofault.py BUILD --long
#   python3 tests/reliability/h2abuse_run.py BUILD --long [--witness]
#   scripts/fuzz.sh 600                                              (fuzzing)
