#!/usr/bin/env bash
# The whole test suite from nothing: installs what is missing, builds, and runs ctest. Tests start
# their own private MariaDB servers (tests/support) on free ports in temp dirs, so nothing needs to
# be running beforehand and two runs never collide.
#
#   deploy/test.sh                 build into build/ and run everything
#   BUILD_DIR=out deploy/test.sh   another build directory
#   deploy/test.sh -R lifecycle    extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
# Two at a time: each integration binary runs its own MariaDB on the same 2 cores.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2 "$@"
