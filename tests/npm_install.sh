#!/bin/sh
# npm_install.sh DIR PACKAGE VERSION - installs PACKAGE@VERSION, a test tool
# from the npm registry, with npm into DIR, unless that version is there.
# Called by the tools' own scripts (tests/publish/s3rver_install.sh,
# tests/console/puppeteer_install.sh), which pin the versions. Without the
# npm registry this fails, and so do the tests that need the tool.
set -eu
dir=${1:?usage: npm_install.sh DIR PACKAGE VERSION}
pkg=${2:?}
version=${3:?}
if grep -q "\"version\": \"$version\"" "$dir/node_modules/$pkg/package.json" 2>/dev/null; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm_install.sh: npm is missing (scripts/deps.sh test)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo "{\"name\": \"tlogd-test-$pkg\", \"private\": true}" >package.json
npm install --no-audit --no-fund --loglevel=error --fetch-timeout=60000 --fetch-retries=2 \
    "$pkg@$version" >&2
grep -q "\"version\": \"$version\"" "node_modules/$pkg/package.json"
