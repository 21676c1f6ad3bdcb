#!/usr/bin/env bash
# The whole test suite from nothing: installs what is missing, builds, and runs ctest. Tests start
# their own private MariaDB servers (tests/support) on free ports in temp dirs, so nothing needs to
# be running beforehand and two runs never collide.
#
#   deploy/test.sh                 build into build/ and run everything
#   BUILD_DIR=out deploy/test.sh   another build directory
#   deploy/test.sh -R lifecycle    extra arguments go to ctest (and to the sanitizer runs)
#   SANITIZERS=0 FUZZ=0 deploy/test.sh   the plain suite only (~4 min after the build)
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh test
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
# Two at a time: each integration binary runs its own MariaDB on the same 2 cores.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2 "$@"

# --- fuzzing, sanitizers ---
# The libFuzzer targets (tests/fuzz) in their own clang build of the domain and auth libraries:
# each replays its committed corpus and regression inputs, then fuzzes FUZZ_SECONDS (12 s) more.
# FUZZ=0 skips this (~60 s, plus ~2 min to build the first time).
if [ "${FUZZ:-1}" != 0 ]; then
  FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
  cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DINVITATIONS_FUZZ=ON -DFUZZ_SECONDS="${FUZZ_SECONDS:-12}" >/dev/null
  cmake --build "$FUZZ_BUILD_DIR" -j "$(nproc)" --target fuzz_targets
  ctest --test-dir "$FUZZ_BUILD_DIR" --output-on-failure -j 2 -L fuzz
fi
# The whole suite again under ASan+UBSan and then under TSan (deploy/test-sanitizers.sh: builds
# build-asan and build-tsan; see BUILD_NOTES.md "Sanitizers" for what each costs here). On by
# default, so CI runs them; SANITIZERS=0 skips them for a quick local run, SANITIZERS=address or
# =thread runs one.
case "${SANITIZERS:-both}" in
  0) ;;
  1|both) deploy/test-sanitizers.sh both "$@" ;;
  address|thread) deploy/test-sanitizers.sh "$SANITIZERS" "$@" ;;
  *) echo "SANITIZERS must be 0, both, address or thread" >&2; exit 2 ;;
esac
