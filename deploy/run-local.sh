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

# Build, database, sealing key, auth and Keycloak stand-in: shared with run-replicas.sh.
. deploy/local-common.sh
local_build
local_database
local_sealing_key
export INVITATIONS_GRPC_ADDRESS=${INVITATIONS_GRPC_ADDRESS:-127.0.0.1:50051}
export INVITATIONS_MAIL_DIR=${INVITATIONS_MAIL_DIR:-$LOCAL_DIR/mail}
ADDR=$INVITATIONS_GRPC_ADDRESS
local_auth
local_keycloak

# The registration page, served by the service itself: the links in the emails lead
# here. After registering, users are sent to the Keycloak account console unless
# INVITATIONS_LOGIN_URL says otherwise.
export INVITATIONS_WEB_ADDRESS=${INVITATIONS_WEB_ADDRESS:-127.0.0.1:8080}
export INVITATIONS_REGISTRATION_BASE_URL=${INVITATIONS_REGISTRATION_BASE_URL:-http://$INVITATIONS_WEB_ADDRESS/register}
export INVITATIONS_LOGIN_URL=${INVITATIONS_LOGIN_URL:-$INVITATIONS_KEYCLOAK_URL/realms/${INVITATIONS_KEYCLOAK_REALM:-securelink}/account/}
WEB_NOTE="Registration page: $INVITATIONS_REGISTRATION_BASE_URL?token=… — open the link in the newest
  .eml file under $INVITATIONS_MAIL_DIR in a browser; deploy/invitation-link.sh [ADDRESS] prints it."
# Prometheus metrics; a second instance needs its own port (or 0 for a free one).
export INVITATIONS_METRICS_ADDRESS=${INVITATIONS_METRICS_ADDRESS:-127.0.0.1:9464}
WEB_NOTE="$WEB_NOTE
  Metrics: curl -s http://$INVITATIONS_METRICS_ADDRESS/metrics"

cat <<MSG

SecureLink Invitation Service on $ADDR (database: ${INVITATIONS_MYSQL_URI%%@*}@…, data in $LOCAL_DIR)

  $KEYCLOAK_NOTE
  Invitation emails are written as .eml files to $INVITATIONS_MAIL_DIR (set INVITATIONS_SMTP_URL
  to send them through a relay).
  $WEB_NOTE

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
