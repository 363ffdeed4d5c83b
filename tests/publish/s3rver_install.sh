#!/bin/sh
# s3rver_install.sh DIR - installs s3rver (an S3-compatible server in
# Node.js, the publication tests' bucket) with npm into DIR, unless it is
# there. Run by scripts/deps.sh test and, when DIR lacks it, by the tests
# themselves.
set -eu
dir=${1:?usage: s3rver_install.sh DIR}
sh "$(dirname "$0")/../npm_install.sh" "$dir" s3rver 3.7.1
[ -x "$dir/node_modules/.bin/s3rver" ]
