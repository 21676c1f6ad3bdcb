#!/usr/bin/env bash
# Runs N replicas of the service against one private MariaDB, for trying scale-out on one
# machine: every replica migrates under the same lock, claims outbox mail and expiries with
# SKIP LOCKED, and answers for every invitation, whichever replica created it.
#
#   deploy/run-replicas.sh N          (N from 1 to 20; Ctrl-C stops the replicas and the database)
#
# Replica i (1..N) listens on consecutive ports:
#   gRPC     REPLICAS_GRPC_PORT + i - 1      (default 50061, 50062, ...)
#   metrics  REPLICAS_METRICS_PORT + i - 1   (default 9471, 9472, ...)
#   web      REPLICAS_WEB_PORT + i - 1       (default 8091, 8092, ...)
# The defaults stay clear of deploy/run-local.sh's 50051 / 9464 / 8080, so both can run at once.
# The database is its own (.local/replicas/mariadb on REPLICAS_DB_PORT, default 3408) unless
# INVITATIONS_MYSQL_URI names one. Logs: .local/replicas/replica-<i>.log. Other INVITATIONS_*
# settings apply to every replica. BUILD_DIR (default build) holds the binaries;
# REPLICAS_SKIP_BUILD=1 uses them as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 N   (1 <= N <= 20)" >&2
  exit 2
}
[ $# -eq 1 ] || usage
N=$1
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 20 ] || usage

GRPC_BASE=${REPLICAS_GRPC_PORT:-50061}
METRICS_BASE=${REPLICAS_METRICS_PORT:-9471}
WEB_BASE=${REPLICAS_WEB_PORT:-8091}
for base in "$GRPC_BASE" "$METRICS_BASE" "$WEB_BASE"; do
  if ! [[ "$base" =~ ^[0-9]+$ ]] || [ "$base" -lt 1024 ] || [ $((base + N - 1)) -gt 65535 ]; then
    echo "run-replicas: port base $base (+$N) is outside 1024..65535" >&2
    exit 2
  fi
done
# The three ranges must not overlap, or two listeners of different replicas would collide.
overlap() { [ "$1" -lt $(($2 + N)) ] && [ "$2" -lt $(($1 + N)) ]; }
if overlap "$GRPC_BASE" "$METRICS_BASE" || overlap "$GRPC_BASE" "$WEB_BASE" \
    || overlap "$METRICS_BASE" "$WEB_BASE"; then
  echo "run-replicas: the gRPC, metrics and web port ranges overlap for N=$N" >&2
  exit 2
fi

. deploy/local-common.sh
REPLICAS_DIR="$LOCAL_DIR/replicas"
mkdir -p "$REPLICAS_DIR"
local_binaries "${REPLICAS_SKIP_BUILD:-0}"

STARTED_DB=""
if [ -z "${INVITATIONS_MYSQL_URI:-}" ]; then
  DB_DIR="$REPLICAS_DIR/mariadb"
  DB_PORT=${REPLICAS_DB_PORT:-3408}
  deploy/mariadb.sh start "$DB_DIR" "$DB_PORT"
  STARTED_DB=$DB_DIR
  export INVITATIONS_MYSQL_URI="mysql://root@127.0.0.1:$DB_PORT/invitations"
fi
local_sealing_key
export INVITATIONS_MAIL_DIR=${INVITATIONS_MAIL_DIR:-$REPLICAS_DIR/mail}
local_auth
local_keycloak
export INVITATIONS_LOGIN_URL=${INVITATIONS_LOGIN_URL:-$INVITATIONS_KEYCLOAK_URL/realms/${INVITATIONS_KEYCLOAK_REALM:-securelink}/account/}

PIDS=()
stop_all() {
  trap - INT TERM EXIT
  stop_replicas
  if [ -n "$STARTED_DB" ]; then deploy/mariadb.sh stop "$STARTED_DB" >&2; fi
  echo "run-replicas: stopped" >&2
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

log_of() { echo "$REPLICAS_DIR/replica-$1.log"; }

# All replicas start at once: they race for the migration lock, as they would in a cluster.
serve_replicas \
  "$N replica(s) of the SecureLink Invitation Service (database: ${INVITATIONS_MYSQL_URI%%@*}@…)" \
  " and the database" \
  "    $INVITECTL --address 127.0.0.1:$((GRPC_BASE + N - 1)) health" \
  "    grpcurl -plaintext 127.0.0.1:$GRPC_BASE list"
