#!/bin/sh
# puppeteer_install.sh DIR - installs puppeteer-core (the DevTools protocol
# client the console's browser tests drive Debian's chromium with; it
# downloads no browser) with npm into DIR, unless it is there. Run by
# scripts/deps.sh test and, when DIR lacks it, by the tests themselves.
set -eu
exec sh "$(dirname "$0")/../npm_install.sh" "${1:?usage: puppeteer_install.sh DIR}" puppeteer-core 22.15.0
