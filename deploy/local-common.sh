# Shared pieces of the local run scripts (deploy/run-local.sh, deploy/run-replicas.sh,
# deploy/run-galera.sh): build, the private MariaDB, the token sealing key, a local JWT signing
# key with a SuperAdmin token, the Keycloak stand-in, and starting, announcing and stopping
# several replicas. Sourced, not run: call from the repository root with
# `set -euo pipefail` in effect. Every function honours the INVITATIONS_* variable it would set,
# so a caller's own settings win.
#
# Variables read: BUILD_DIR (build), LOCAL_DIR (.local), LOCAL_DB_PORT (3407),
# LOCAL_KEYCLOAK_PORT (8180).

BUILD_DIR=${BUILD_DIR:-build}
LOCAL_DIR=${LOCAL_DIR:-$(pwd)/.local}
LOCAL_DB_PORT=${LOCAL_DB_PORT:-3407}

# Installs what is missing and builds the server and the CLI into $BUILD_DIR.
local_build() {
  deploy/install-deps.sh
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target invitation_server invitectl
}

# Builds unless $1 is 1 (the caller's *_SKIP_BUILD setting), then sets SERVER and INVITECTL;
# exits if either binary is missing, as a half-built tree would otherwise fail later and less
# clearly.
local_binaries() {
  [ "$1" = 1 ] || local_build
  SERVER="$BUILD_DIR/server/invitation_server"
  INVITECTL="$BUILD_DIR/client/invitectl"
  if ! [ -x "$SERVER" ] || ! [ -x "$INVITECTL" ]; then
    echo "$(basename "$0" .sh): no binaries in $BUILD_DIR" >&2
    exit 1
  fi
}

# Starts the private MariaDB under $LOCAL_DIR/mariadb on $LOCAL_DB_PORT (unless
# INVITATIONS_MYSQL_URI names another database) and exports INVITATIONS_MYSQL_URI.
local_database() {
  mkdir -p "$LOCAL_DIR"
  if [ -z "${INVITATIONS_MYSQL_URI:-}" ]; then
    deploy/mariadb.sh start "$LOCAL_DIR/mariadb" "$LOCAL_DB_PORT"
    export INVITATIONS_MYSQL_URI="mysql://root@127.0.0.1:$LOCAL_DB_PORT/invitations"
  fi
}

# One sealing key for every local instance, so request_id replays and the email outbox work
# across them. Exports INVITATIONS_TOKEN_SEALING_KEY_FILE.
local_sealing_key() {
  mkdir -p "$LOCAL_DIR"
  local key_file="$LOCAL_DIR/token-sealing.key"
  if [ ! -s "$key_file" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"$key_file")
  fi
  export INVITATIONS_TOKEN_SEALING_KEY_FILE=${INVITATIONS_TOKEN_SEALING_KEY_FILE:-$key_file}
}

local_b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# Authentication stays on: a local signing key stands in for Keycloak's, and we mint a
# SuperAdmin token with it (RS256, 30 days) for grpcurl and invitectl. Sets SUPER_ADMIN_TOKEN
# and TOKEN_NOTE (an `export INVITATIONS_TOKEN=...` line, or "" when auth is configured
# otherwise).
local_auth() {
  TOKEN_NOTE=""
  SUPER_ADMIN_TOKEN=""
  if [ "${INVITATIONS_AUTH:-jwt}" = jwt ] && [ -z "${INVITATIONS_JWT_PUBLIC_KEY_FILE:-}${INVITATIONS_JWT_JWKS_URL:-}" ]; then
    local key="$LOCAL_DIR/jwt-signing.pem" now header payload signature
    [ -s "$key" ] || (umask 077 && openssl genrsa -out "$key" 2048 2>/dev/null)
    openssl rsa -in "$key" -pubout -out "$LOCAL_DIR/jwt-public.pem" 2>/dev/null
    export INVITATIONS_JWT_PUBLIC_KEY_FILE="$LOCAL_DIR/jwt-public.pem"
    export INVITATIONS_JWT_ISSUER=${INVITATIONS_JWT_ISSUER:-http://127.0.0.1/realms/securelink-local}
    export INVITATIONS_JWT_AUDIENCE=${INVITATIONS_JWT_AUDIENCE:-securelink-invitations}
    now=$(date +%s)
    header=$(printf '{"alg":"RS256","typ":"JWT","kid":"local"}' | local_b64url)
    payload=$(printf '{"iss":"%s","aud":"%s","sub":"local-admin","preferred_username":"local-admin","typ":"Bearer","iat":%d,"exp":%d,"realm_access":{"roles":["securelink-super-admin"]}}' \
      "$INVITATIONS_JWT_ISSUER" "$INVITATIONS_JWT_AUDIENCE" "$now" "$((now + 30 * 86400))" | local_b64url)
    signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key" | local_b64url)
    SUPER_ADMIN_TOKEN="$header.$payload.$signature"
    TOKEN_NOTE="export INVITATIONS_TOKEN=$SUPER_ADMIN_TOKEN"
  fi
}

# Keycloak cannot be installed here: unless INVITATIONS_KEYCLOAK_URL names a real one, the
# project's stand-in of its Admin REST API (the one the tests use) creates the accounts. It keeps
# running after the caller exits (one per $LOCAL_KEYCLOAK_PORT, reused). Sets KEYCLOAK_NOTE.
local_keycloak() {
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
}

# Several replicas (deploy/run-replicas.sh, deploy/run-galera.sh). The caller defines
# log_of I (replica I's log file), sets N, GRPC_BASE, METRICS_BASE, WEB_BASE (replica I listens
# on base + I - 1), SERVER, INVITECTL and PIDS=(), and may define replica_uri I (replica I's
# --mysql_uri; without it INVITATIONS_MYSQL_URI applies to all).

# Launches replica $1 in the background; its pid goes to PIDS.
launch_replica() {
  local i=$1 log uri=${INVITATIONS_MYSQL_URI:-}
  log=$(log_of "$i")
  local web=$((WEB_BASE + i - 1))
  declare -F replica_uri >/dev/null && uri=$(replica_uri "$i")
  : >"$log"
  INVITATIONS_MYSQL_URI=$uri \
  INVITATIONS_GRPC_ADDRESS=127.0.0.1:$((GRPC_BASE + i - 1)) \
  INVITATIONS_METRICS_ADDRESS=127.0.0.1:$((METRICS_BASE + i - 1)) \
  INVITATIONS_WEB_ADDRESS=127.0.0.1:$web \
  INVITATIONS_REGISTRATION_BASE_URL=${INVITATIONS_REGISTRATION_BASE_URL:-http://127.0.0.1:$web/register} \
    "$SERVER" </dev/null >>"$log" 2>&1 &
  PIDS+=("$!")
}

# Waits for replica $1's "serving" log line; exits (stopping everything) if it dies or stalls.
await_replica() {
  local i=$1 pid=${PIDS[$(($1 - 1))]} log me
  log=$(log_of "$i")
  me=$(basename "$0" .sh)
  local deadline=$((SECONDS + 90))
  until grep -q '"msg":"serving"' "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2
      echo "$me: replica $i exited during start-up (log: $log)" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$log" >&2
      echo "$me: replica $i did not serve within 90s (log: $log)" >&2
      exit 1
    fi
    sleep 0.1
  done
}

# Starts all N replicas at once, waits for each to serve, tells the operator how to reach them
# (print_replicas_banner's arguments), then stays until Ctrl-C (watch_replicas).
serve_replicas() {
  local i
  for i in $(seq "$N"); do launch_replica "$i"; done
  for i in $(seq "$N"); do await_replica "$i"; done
  print_replicas_banner "$@"
  watch_replicas
}

# Stops every replica in PIDS (0 marks one that already exited), each draining its calls first.
stop_replicas() {
  local me pid
  me=$(basename "$0" .sh)
  echo
  echo "$me: stopping ${#PIDS[@]} replica(s) (each drains its calls first)" >&2
  for pid in "${PIDS[@]}"; do [ "$pid" = 0 ] || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do [ "$pid" = 0 ] || wait "$pid" 2>/dev/null || true; done
}

# Tells the operator how to reach the N replicas once every one serves; the tests wait for its
# "Ctrl-C stops" line. $1 is the title, $2 what Ctrl-C stops after the replicas (e.g.
# " and the database"), each further argument a line printed after the create and list examples.
# The table has a database column when replica_uri is defined. Reads N and INVITECTL, and the
# notes of local_keycloak and local_auth.
print_replicas_banner() {
  local title=$1 stops=$2 with_db="" format i line
  local -a row
  shift 2
  declare -F replica_uri >/dev/null && with_db=1
  format="  %-8s %-17s %-37s %-34s ${with_db:+%-46s }%s\n"
  echo
  echo "$title"
  echo
  echo "  $KEYCLOAK_NOTE"
  echo "  Invitation emails go to $INVITATIONS_MAIL_DIR (.eml files; set INVITATIONS_SMTP_URL for a relay)."
  echo
  [ -z "$TOKEN_NOTE" ] || echo "  $TOKEN_NOTE"
  echo
  row=(replica gRPC "metrics" "registration page")
  [ -z "$with_db" ] || row+=("database")
  # shellcheck disable=SC2059 # the format is built above, not data
  printf "$format" "${row[@]}" log
  for i in $(seq "$N"); do
    row=("$i" "127.0.0.1:$((GRPC_BASE + i - 1))"
      "http://127.0.0.1:$((METRICS_BASE + i - 1))/metrics"
      "http://127.0.0.1:$((WEB_BASE + i - 1))/register")
    [ -z "$with_db" ] || row+=("$(replica_uri "$i")")
    # shellcheck disable=SC2059
    printf "$format" "${row[@]}" "$(log_of "$i")"
  done
  echo
  echo "  Call any replica; they share every invitation:"
  echo "    $INVITECTL --address 127.0.0.1:$GRPC_BASE create --email alice@example.com --role vpn-user --tenant acme"
  echo "    $INVITECTL --address 127.0.0.1:$((GRPC_BASE + N - 1)) list --tenant acme"
  for line in "$@"; do echo "$line"; done
  echo
  echo "  Ctrl-C stops every replica (each drains first)$stops."
  echo
}

# Until Ctrl-C (or every replica has exited on its own): says which replica exits and marks it 0
# in PIDS; exits 1 once none is left.
watch_replicas() {
  local me pid i
  local -a live
  me=$(basename "$0" .sh)
  while true; do
    live=()
    for pid in "${PIDS[@]}"; do [ "$pid" = 0 ] || live+=("$pid"); done
    [ ${#live[@]} -gt 0 ] || { echo "$me: every replica has exited" >&2; exit 1; }
    # `wait -n` returns when a replica exits, or at once when a trapped signal arrives.
    wait -n "${live[@]}" 2>/dev/null || true
    for i in $(seq "$N"); do
      pid=${PIDS[$((i - 1))]}
      if [ "$pid" != 0 ] && ! kill -0 "$pid" 2>/dev/null; then
        echo "$me: replica $i exited on its own (log: $(log_of "$i"))" >&2
        PIDS[i - 1]=0
      fi
    done
  done
}
