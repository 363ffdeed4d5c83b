#!/bin/sh
# s3rver_install.sh DIR - installs s3rver (an S3-compatible server in
# Node.js, the publication tests' bucket) with npm into DIR, unless it is
# there. Run by scripts/deps.sh test and, when DIR lacks it, by the tests
# themselves. Without the npm registry this fails, and so do the tests.
set -eu
dir=${1:?usage: s3rver_install.sh DIR}
version=3.7.1
if [ -x "$dir/node_modules/.bin/s3rver" ] &&
    grep -q "\"version\": \"$version\"" "$dir/node_modules/s3rver/package.json" 2>/dev/null; then
    exit 0
fi
command -v npm >/dev/null || { echo "s3rver_install.sh: npm is missing (scripts/deps.sh test)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "tlogd-test-s3rver", "private": true}' >package.json
npm install --no-audit --no-fund --loglevel=error --fetch-timeout=60000 --fetch-retries=2 \
    "s3rver@$version" >&2
[ -x node_modules/.bin/s3rver ]
