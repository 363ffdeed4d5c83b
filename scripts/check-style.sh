#!/bin/sh
# check-style.sh - the conventions of docs/CONVENTIONS.md that a machine can
# check, over every tracked file (in the manner of curl's checksrc):
#   1. every C file is formatted by the checked-in .clang-format;
#   2. folders include only the folders below them (the dependency picture of
#      docs/ARCHITECTURE.md), and only store/store_leveldb.c includes LevelDB;
#   3. comments and docs name no work items, and no file names a path of one
#      machine (the source tree and ../shared are found relative to the repo);
#   4. no test can skip itself.
# Exits 1 with one line per finding.
set -u
cd "$(dirname "$0")/.."
bad=0
say() {
    echo "check-style: $*" >&2
    bad=1
}

# 1. formatting
for f in $(git ls-files '*.c' '*.h'); do
    clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1 ||
        say "$f: not clang-formatted (run: clang-format -i $f)"
done

# 2. include direction: folder -> folders it may include
allowed() {
    case $1 in
    common) echo "common" ;;
    merkle) echo "merkle common" ;;
    signer) echo "signer merkle common" ;;
    audit) echo "audit merkle common" ;;
    sources) echo "sources audit merkle common" ;;
    store) echo "store common" ;;
    http) echo "http common" ;;
    log) echo "log signer store audit merkle common" ;;
    frontend) echo "frontend log http signer store sources audit merkle common" ;;
    witness) echo "witness signer store merkle common" ;;
    client) echo "client signer audit merkle common" ;;
    *) echo "*" ;;
    esac
}
for f in $(git ls-files '*.c' '*.h'); do
    dir=${f%%/*}
    ok=$(allowed "$dir")
    [ "$ok" = "*" ] && continue
    for inc in $(sed -n 's/^#include "\([a-z0-9_]*\)\/.*/\1/p' "$f" | sort -u); do
        case " $ok " in
        *" $inc "*) ;;
        *) say "$f: $dir/ must not include $inc/ (see docs/ARCHITECTURE.md)" ;;
        esac
    done
done
git grep -l '#include <leveldb/' -- '*.c' '*.h' | grep -vx 'store/store_leveldb.c' |
    while read -r f; do echo "check-style: $f: only store/store_leveldb.c includes LevelDB" >&2; done |
    grep -q . && bad=1

# 3. work items and machine paths
if git grep -nEi '\b(issue|task|ticket)s? #?[0-9]+' -- . ':!scripts/check-style.sh' |
    grep -viE '(curl|nghttp2|libevent|leveldb|openssl|jansson|golang|go|kubernetes|rsyslog) issue'; then
    say "the lines above name work items: say what the code does instead"
fi
if git grep -nE '(^|[] "'"'"'=(:`])/(work|home|root)/|[^.]/[A-Za-z0-9_.-]+/shared/' -- . \
    ':!scripts/check-style.sh'; then
    say "the lines above name a path of one machine: find the tree and ../shared relatively"
fi

# 4. tests that could skip themselves
if git grep -nE 'exit\(77\)|SKIP_RETURN_CODE|pytest\.skip|unittest\.skip|return 77' -- tests \
    '*.cmake' '*CMakeLists.txt'; then
    say "the lines above let a test skip itself: a missing tool must fail the test"
fi

[ "$bad" -eq 0 ] && echo "check-style: ok"
exit "$bad"
