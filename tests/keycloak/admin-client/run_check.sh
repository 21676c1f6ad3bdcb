#!/usr/bin/env bash
# Runs admin_client_check.mjs with Keycloak's admin client installed by `npm ci` from the pinned
# package-lock.json into WORK_DIR (the build directory), once: a later run reuses it until the
# lock file changes.
#
#   run_check.sh WORK_DIR STANDIN_PY REALM_FILE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1 standin=$2 realm_file=$3

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is not installed: deploy/install-deps.sh test installs nodejs and npm" >&2
    exit 1
  fi
done
mkdir -p "$work"
# Two ctest runs on one build directory must not npm ci over each other.
exec 9>"$work/.lock"
flock 9
cp "$here/package.json" "$here/package-lock.json" "$here/admin_client_check.mjs" "$work/"
stamp=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$work/node_modules" ] || [ "$(cat "$work/.npm-ci-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "npm ci (once per build directory and lock file)" >&2
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$work/.npm-ci-stamp"
fi
flock -u 9
exec node "$work/admin_client_check.mjs" --standin "$standin" --realm-file "$realm_file"
