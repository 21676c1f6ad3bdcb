#!/bin/sh
# Installs the `client` component of BUILD_DIR into a temporary prefix, builds the example
# consumer against it with find_package(SecureLinkInvitations), and runs it against the fake
# server. Usage: package_consumer_test.sh BUILD_DIR CONSUMER_SRC FAKE_SERVER CMAKE GENERATOR
set -eu
build_dir=$1 consumer_src=$2 fake_server=$3 cmake=$4 generator=$5

work=$(mktemp -d "${TMPDIR:-/tmp}/invitations-consumer.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== install into $work/prefix"
"$cmake" --install "$build_dir" --component client --prefix "$work/prefix"
test -f "$work/prefix/include/securelink/invitations/client.h"
test -f "$work/prefix/include/securelink/invitations/v1/invitation_service.pb.h"
test -x "$work/prefix/bin/invitectl"

echo "== configure and build the consumer"
# Only the installed prefix is on the search path: nothing from the build tree may leak in.
"$cmake" -S "$consumer_src" -B "$work/build" -G "$generator" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$work/prefix"
"$cmake" --build "$work/build" -j2

echo "== run it against the fake server"
"$fake_server" "$work/port" &
server_pid=$!
i=0
while [ ! -s "$work/port" ]; do
  i=$((i + 1))
  if [ $i -gt 100 ]; then echo "fake server did not start"; exit 1; fi
  sleep 0.1
done
port=$(cat "$work/port")
out=$(INVITATIONS_ADDRESS="127.0.0.1:$port" "$work/build/consumer" pkg@example.com acme)
echo "$out"
echo "$out" | grep -q '^created inv-1 for pkg@example.com$'
echo "$out" | grep -q '^registration_url: https://register.example/?token=tok-inv-1$'

# The installed invitectl works too.
INVITATIONS_ADDRESS="127.0.0.1:$port" "$work/prefix/bin/invitectl" get inv-1 |
  grep -q '^email: *pkg@example.com$'
echo "== ok"
