#!/usr/bin/env bash
# The test suite under sanitizers: ASan+UBSan (build-asan) and TSan (build-tsan), the presets
# "asan" and "tsan" of CMakePresets.json. Every target of the project is instrumented; the Debian
# libraries (gRPC, Abseil, Connector/C++) are not. Child processes the tests start (the server
# binary, invitectl) are instrumented too and inherit the options below.
#
#   deploy/test-sanitizers.sh                  ASan+UBSan, the whole suite
#   deploy/test-sanitizers.sh thread           TSan instead (see below)
#   deploy/test-sanitizers.sh both             one after the other
#   deploy/test-sanitizers.sh address -R bulk  extra arguments go to ctest
# TSan: Debian's Abseil and gRPC are not instrumented, so the TSan build links a shim ahead of them
# (tests/sanitizers/tsan_{absl,grpc}_annotations.cc) that tells TSan about absl::Mutex/CondVar and
# about completion-queue tags moving between gRPC's threads; tests/sanitizers/tsan.supp names only
# those libraries. With both, the whole suite below runs clean (BUILD_NOTES.md "Sanitizers").
# Takes ~2-3x the time of deploy/test.sh per sanitizer on 2 cores (BUILD_NOTES.md "Sanitizers").
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh test

kinds=(address)
case "${1:-}" in
  address|thread) kinds=("$1"); shift ;;
  both) kinds=(address thread); shift ;;
esac
SUPP="$PWD/tests/sanitizers"
# A report fails the test: halt on the first error, exit non-zero, full stacks.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp:print_suppressions=0"

status=0
for kind in "${kinds[@]}"; do
  dir=build-asan
  [ "$kind" = thread ] && dir=build-tsan
  dir=${SANITIZER_BUILD_PREFIX:+$SANITIZER_BUILD_PREFIX-}$dir
  start=$(date +%s)
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINVITATIONS_SANITIZE="$kind" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
  built=$(date +%s)
  # Lint and the package-install check exercise no instrumented code; timeouts are raised because
  # instrumented binaries run 2-15x slower.
  # deploy_image_runtime_libraries checks the binaries against the release image's packages, which
  # hold no sanitizer runtime and no TSan shim: it cannot pass on an instrumented build.
  # The Galera suites check the database cluster's semantics through code paths the single-server
  # suites already run instrumented; a cluster per binary would cost minutes per sanitizer.
  exclude='^(client_package_consumer|deploy_image_runtime_libraries|galera_.*)$'
  ctest --test-dir "$dir" --output-on-failure -j 2 -LE 'lint|fuzz' -E "$exclude" \
    --timeout 1800 "$@" || status=1
  echo "test-sanitizers: $kind: build $((built - start)) s, tests $(($(date +%s) - built)) s" >&2
done
exit $status
