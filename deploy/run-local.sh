#!/usr/bin/env bash
# Runs the service locally from nothing: installs what is missing, builds, starts a private MariaDB
# with its data under .local/ (git-ignored), migrates, and serves gRPC on loopback.
#
# Every INVITATIONS_* variable of the README is honoured, so a second instance can run beside the
# first, e.g. INVITATIONS_GRPC_ADDRESS=127.0.0.1:50052 deploy/run-local.sh (it shares the database).
# LOCAL_DB_PORT picks the private MariaDB's port (default 3407); LOCAL_DIR its home (.local).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target invitation_server invitectl

LOCAL_DIR=${LOCAL_DIR:-$ROOT/.local}
LOCAL_DB_PORT=${LOCAL_DB_PORT:-3407}
mkdir -p "$LOCAL_DIR"
if [ -z "${INVITATIONS_MYSQL_URI:-}" ]; then
  deploy/mariadb.sh start "$LOCAL_DIR/mariadb" "$LOCAL_DB_PORT"
  export INVITATIONS_MYSQL_URI="mysql://root@127.0.0.1:$LOCAL_DB_PORT/invitations"
fi

# One sealing key for every local instance, so request_id replays work across them.
KEY_FILE="$LOCAL_DIR/token-sealing.key"
if [ ! -s "$KEY_FILE" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 >"$KEY_FILE")
fi
export INVITATIONS_TOKEN_SEALING_KEY_FILE=${INVITATIONS_TOKEN_SEALING_KEY_FILE:-$KEY_FILE}
export INVITATIONS_GRPC_ADDRESS=${INVITATIONS_GRPC_ADDRESS:-127.0.0.1:50051}
export INVITATIONS_MAIL_DIR=${INVITATIONS_MAIL_DIR:-$LOCAL_DIR/mail}
ADDR=$INVITATIONS_GRPC_ADDRESS

cat <<MSG

SecureLink Invitation Service on $ADDR (database: ${INVITATIONS_MYSQL_URI%%@*}@…, data in $LOCAL_DIR)

  Call it with the CLI:
    export INVITATIONS_ADDRESS=$ADDR
    $BUILD_DIR/client/invitectl services
    $BUILD_DIR/client/invitectl create --email alice@example.com --role vpn-user --tenant acme
    $BUILD_DIR/client/invitectl list

  or with grpcurl (server reflection is on):
    grpcurl -plaintext $ADDR list
    grpcurl -plaintext -d '{"email":"bob@example.com","role":"ROLE_VPN_USER","tenant_id":"acme"}' \\
      $ADDR securelink.invitations.v1.InvitationService/CreateInvitation

  Stop with Ctrl-C; the database keeps running (deploy/mariadb.sh stop $LOCAL_DIR/mariadb).

MSG
exec "$BUILD_DIR/server/invitation_server" "$@"
