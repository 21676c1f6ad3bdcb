#!/usr/bin/env bash
# Benchmarks (not tests): builds them and runs each against its own private MariaDB.
# Run on a quiet machine; the service shares the cores with the database.
#   deploy/bench.sh              bulk: 10,000 new addresses, service vs. raw statements
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target bulk_bench
"$BUILD_DIR/tests/bench/bulk_bench" --addresses "${BULK_ADDRESSES:-10000}" --rounds "${ROUNDS:-3}"
