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

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# Authentication stays on: a local signing key stands in for Keycloak's, and we mint a
# SuperAdmin token with it (RS256, 30 days) for grpcurl and invitectl.
TOKEN_NOTE=""
if [ "${INVITATIONS_AUTH:-jwt}" = jwt ] && [ -z "${INVITATIONS_JWT_PUBLIC_KEY_FILE:-}${INVITATIONS_JWT_JWKS_URL:-}" ]; then
  KEY="$LOCAL_DIR/jwt-signing.pem"
  [ -s "$KEY" ] || (umask 077 && openssl genrsa -out "$KEY" 2048 2>/dev/null)
  openssl rsa -in "$KEY" -pubout -out "$LOCAL_DIR/jwt-public.pem" 2>/dev/null
  export INVITATIONS_JWT_PUBLIC_KEY_FILE="$LOCAL_DIR/jwt-public.pem"
  export INVITATIONS_JWT_ISSUER=${INVITATIONS_JWT_ISSUER:-http://127.0.0.1/realms/securelink-local}
  export INVITATIONS_JWT_AUDIENCE=${INVITATIONS_JWT_AUDIENCE:-securelink-invitations}
  now=$(date +%s)
  header=$(printf '{"alg":"RS256","typ":"JWT","kid":"local"}' | b64url)
  payload=$(printf '{"iss":"%s","aud":"%s","sub":"local-admin","preferred_username":"local-admin","typ":"Bearer","iat":%d,"exp":%d,"realm_access":{"roles":["securelink-super-admin"]}}' \
    "$INVITATIONS_JWT_ISSUER" "$INVITATIONS_JWT_AUDIENCE" "$now" "$((now + 30 * 86400))" | b64url)
  signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$KEY" | b64url)
  SUPER_ADMIN_TOKEN="$header.$payload.$signature"
  TOKEN_NOTE="export INVITATIONS_TOKEN=$SUPER_ADMIN_TOKEN"
fi

# Keycloak cannot be installed here: unless INVITATIONS_KEYCLOAK_URL names a real one, the
# project's stand-in of its Admin REST API (the one the tests use) creates the accounts.
KEYCLOAK_NOTE="Keycloak: ${INVITATIONS_KEYCLOAK_URL:-}"
if [ -z "${INVITATIONS_KEYCLOAK_URL:-}" ]; then
  LOCAL_KEYCLOAK_PORT=${LOCAL_KEYCLOAK_PORT:-8180}
  if ! curl -s -o /dev/null "http://127.0.0.1:$LOCAL_KEYCLOAK_PORT/_standin/stats"; then
    setsid /usr/bin/python3 tests/keycloak/keycloak_standin.py --port "$LOCAL_KEYCLOAK_PORT" \
      --state-file "$LOCAL_DIR/keycloak-standin.json" >"$LOCAL_DIR/keycloak-standin.log" 2>&1 &
    for _ in $(seq 100); do
      grep -q LISTENING "$LOCAL_DIR/keycloak-standin.log" 2>/dev/null && break
      sleep 0.1
    done
  fi
  export INVITATIONS_KEYCLOAK_URL="http://127.0.0.1:$LOCAL_KEYCLOAK_PORT"
  export INVITATIONS_KEYCLOAK_CLIENT_SECRET=standin-secret
  KEYCLOAK_NOTE="Keycloak: the local STAND-IN of its Admin API on $INVITATIONS_KEYCLOAK_URL (not a real
  Keycloak; users it creates live in $LOCAL_DIR/keycloak-standin.json). For a real one set
  INVITATIONS_KEYCLOAK_URL / _REALM / _CLIENT_ID / _CLIENT_SECRET (deploy/keycloak/README.md)."
fi

cat <<MSG

SecureLink Invitation Service on $ADDR (database: ${INVITATIONS_MYSQL_URI%%@*}@…, data in $LOCAL_DIR)

  $KEYCLOAK_NOTE
  Invitation emails are written as .eml files to $INVITATIONS_MAIL_DIR (set INVITATIONS_SMTP_URL
  to send them through a relay).

  Call it with the CLI (a SuperAdmin bearer token, valid 30 days):
    export INVITATIONS_ADDRESS=$ADDR
    $TOKEN_NOTE
    $BUILD_DIR/client/invitectl services
    $BUILD_DIR/client/invitectl create --email alice@example.com --role vpn-user --tenant acme
    $BUILD_DIR/client/invitectl list

  or with grpcurl (server reflection is on):
    grpcurl -plaintext $ADDR list
    grpcurl -plaintext -H "authorization: Bearer \$INVITATIONS_TOKEN" \\
      -d '{"email":"bob@example.com","role":"ROLE_VPN_USER","tenant_id":"acme"}' \\
      $ADDR securelink.invitations.v1.InvitationService/CreateInvitation

  Stop with Ctrl-C; the database (and the Keycloak stand-in) keep running:
  deploy/mariadb.sh stop $LOCAL_DIR/mariadb

MSG
exec "$BUILD_DIR/server/invitation_server" "$@"
