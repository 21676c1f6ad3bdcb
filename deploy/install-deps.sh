#!/usr/bin/env bash
# Installs the Debian 12 packages the build and local runs need (and, with `test`, the tests).
# Idempotent and quiet when everything is already present.
set -euo pipefail

# What building and running the service needs (deploy/run-local.sh, the image's build stage;
# python3 runs the Keycloak stand-in of local runs; galera-4 and rsync, which mariadb-server
# pulls in anyway, run the cluster of deploy/run-galera.sh).
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libmysqlcppconn-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libcurl4-openssl-dev libidn2-dev nlohmann-json3-dev libssl-dev
  golang-github-gogo-googleapis-dev
  mariadb-server mariadb-client galera-4 rsync
  openssl curl python3
)
# What the test command needs on top (deploy/install-deps.sh test): a second gRPC stack and an
# SMTP sink for the tests, clang for the libFuzzer targets, promtool and a real Prometheus for
# deploy/'s checks, a YAML parser for the manifests, and a headless browser for the page.
TEST_PACKAGES=(
  python3-grpcio python3-aiosmtpd
  clang libclang-rt-14-dev
  prometheus python3-yaml
  chromium chromium-driver python3-selenium
)
# kubectl renders deploy/k8s (tests/deploy/kustomize_test.py): Debian's kubernetes-client, unless
# a kubectl is already installed (an upstream build conflicts with that package and does as well).
if ! command -v kubectl >/dev/null 2>&1; then
  TEST_PACKAGES+=(kubernetes-client)
fi
# node and npm run Keycloak's own admin client against the stand-in (tests/keycloak/admin-client;
# it supports Node 18, Debian 12's): Debian's nodejs and npm, unless an npm is already installed
# (a nodejs from elsewhere ships its own npm, which Debian's npm package conflicts with).
if ! command -v npm >/dev/null 2>&1; then
  TEST_PACKAGES+=(nodejs npm)
fi
case "${1:-}" in
  "") ;;
  test) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
  *) echo "usage: deploy/install-deps.sh [test]" >&2; exit 2 ;;
esac

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
