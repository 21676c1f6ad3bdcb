#!/usr/bin/env bash
# Runs three replicas of the service on a three-node MariaDB Galera cluster (SPEC §8), for trying
# the service on a cluster on one machine: replica i talks to node i, every node takes writes, and
# an invitation created through one replica is there for every other.
#
#   deploy/run-galera.sh          (Ctrl-C stops the replicas, then the cluster)
#
# The cluster (deploy/galera.sh) lives in .local/galera/cluster; node i serves MariaDB on
# GALERA_DB_PORT + i - 1 (default 3410, 3411, 3412) and its Galera ports from GALERA_DB_PORT + 100
# on. Replica i listens on:
#   gRPC     GALERA_GRPC_PORT + i - 1      (default 50101, 50102, 50103)
#   metrics  GALERA_METRICS_PORT + i - 1   (default 9501, 9502, 9503)
#   web      GALERA_WEB_PORT + i - 1       (default 8121, 8122, 8123)
# The defaults stay clear of deploy/run-local.sh's and deploy/run-replicas.sh's (even with its 20
# replicas), so all three can run at once. Logs: .local/galera/replica-<i>.log. Other INVITATIONS_*
# settings apply to every replica (INVITATIONS_MYSQL_URI is set per replica). BUILD_DIR (default
# build) holds the binaries; GALERA_SKIP_BUILD=1 uses them as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 0 ] || { echo "usage: $0   (no arguments; see the comment at its top)" >&2; exit 2; }
N=3

DB_BASE=${GALERA_DB_PORT:-3410}
GRPC_BASE=${GALERA_GRPC_PORT:-50101}
METRICS_BASE=${GALERA_METRICS_PORT:-9501}
WEB_BASE=${GALERA_WEB_PORT:-8121}
for base in "$DB_BASE" "$GRPC_BASE" "$METRICS_BASE" "$WEB_BASE"; do
  if ! [[ "$base" =~ ^[0-9]+$ ]] || [ "$base" -lt 1024 ] || [ $((base + N - 1)) -gt 65535 ]; then
    echo "run-galera: port base $base (+$N) is outside 1024..65535" >&2
    exit 2
  fi
done

# Which nodes replica i names in its --mysql_uri:
#   all  every node, its own first (SPEC §8's multi-host URI), so it moves to a live node when
#        its own goes down: mysql://root@127.0.0.1:<node i>,127.0.0.1:<node i+1>,.../invitations
#   own  only its own node: mysql://root@127.0.0.1:<node i>/invitations (it stops serving
#        while its node is down)
GALERA_URI_HOSTS=${GALERA_URI_HOSTS:-all}
case "$GALERA_URI_HOSTS" in
  own|all) ;;
  *) echo "run-galera: GALERA_URI_HOSTS must be 'own' or 'all', not '$GALERA_URI_HOSTS'" >&2; exit 2 ;;
esac

. deploy/local-common.sh
GALERA_DIR="$LOCAL_DIR/galera"
CLUSTER_DIR="$GALERA_DIR/cluster"
mkdir -p "$GALERA_DIR"
local_binaries "${GALERA_SKIP_BUILD:-0}"

# The URI replica $1 (1..N) connects with.
replica_uri() {
  local i=$1 hosts="" k node
  for k in $(seq 0 $((N - 1))); do
    node=$(((i - 1 + k) % N + 1))
    hosts+="${hosts:+,}127.0.0.1:$((DB_BASE + node - 1))"
    [ "$GALERA_URI_HOSTS" = all ] || break
  done
  echo "mysql://root@$hosts/invitations"
}

PIDS=()
stop_all() {
  trap - INT TERM EXIT
  stop_replicas
  deploy/galera.sh stop "$CLUSTER_DIR" >&2
  echo "run-galera: stopped" >&2
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

deploy/galera.sh start "$CLUSTER_DIR" "$DB_BASE" "$N"
# DDL replicates: created on node 1, the database is on every node.
mariadb --defaults-file="$CLUSTER_DIR/node1/my.cnf" \
  -e "CREATE DATABASE IF NOT EXISTS invitations CHARACTER SET utf8mb4" \
  || { echo "run-galera: could not create database invitations" >&2; exit 1; }

local_sealing_key
export INVITATIONS_MAIL_DIR=${INVITATIONS_MAIL_DIR:-$GALERA_DIR/mail}
local_auth
local_keycloak
export INVITATIONS_LOGIN_URL=${INVITATIONS_LOGIN_URL:-$INVITATIONS_KEYCLOAK_URL/realms/${INVITATIONS_KEYCLOAK_REALM:-securelink}/account/}

log_of() { echo "$GALERA_DIR/replica-$1.log"; }

# All replicas start at once, each against its own node: they race to migrate the schema through
# different nodes, as replicas of a real deployment would.
serve_replicas \
  "$N replicas of the SecureLink Invitation Service on a $N-node Galera cluster ($CLUSTER_DIR)" \
  ", then the cluster" \
  "    grpcurl -plaintext 127.0.0.1:$GRPC_BASE list" \
  "  The cluster:" \
  "    deploy/galera.sh status $CLUSTER_DIR" \
  "    mariadb --defaults-file=$CLUSTER_DIR/node1/my.cnf invitations"
