#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and local runs need.
# Idempotent and quiet when everything is already present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libmysqlcppconn-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libcurl4-openssl-dev nlohmann-json3-dev libssl-dev
  golang-github-gogo-googleapis-dev
  mariadb-server mariadb-client
  python3-grpcio python3-aiosmtpd openssl curl
  # issue 10: libFuzzer targets and their runtime (deploy/test.sh builds them with clang)
  clang libclang-rt-14-dev
  # deploy/ checks: promtool (config, rules, rule unit tests), a real Prometheus scraping the
  # service, and a YAML parser for the Kubernetes/compose manifests.
  prometheus python3-yaml
  # The registration page (issue 9): civetweb serves it; the browser tests drive Debian's
  # chromium headless through chromium-driver with python3-selenium.
  libcivetweb-dev chromium chromium-driver python3-selenium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
