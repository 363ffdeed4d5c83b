#!/bin/sh
# puppeteer_install.sh DIR - installs puppeteer-core (the DevTools protocol
# client the console's browser tests drive Debian's chromium with; it
# downloads no browser) with npm into DIR, unless it is there. Run by
# scripts/deps.sh test and, when DIR lacks it, by the tests themselves.
# Without the npm registry this fails, and so do the tests.
set -eu
dir=${1:?usage: puppeteer_install.sh DIR}
version=22.15.0
if grep -q "\"version\": \"$version\"" "$dir/node_modules/puppeteer-core/package.json" 2>/dev/null; then
    exit 0
fi
command -v npm >/dev/null || { echo "puppeteer_install.sh: npm is missing (scripts/deps.sh test)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "tlogd-test-puppeteer", "private": true}' >package.json
npm install --no-audit --no-fund --loglevel=error --fetch-timeout=60000 --fetch-retries=2 \
    "puppeteer-core@$version" >&2
[ -f node_modules/puppeteer-core/package.json ]
