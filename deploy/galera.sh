#!/usr/bin/env bash
# A private MariaDB Galera cluster on loopback for local runs and tests of the service against a
# cluster (SPEC §8), without systemd: N mariadbd nodes, each in DIR/node<i> (my.cnf, data/,
# mysqld.sock, mariadbd.pid, mariadbd.err), replicating synchronously through Debian's galera-4.
#
#   deploy/galera.sh start DIR BASE_PORT [N]  initialise DIR on first use and start N nodes
#                                           (default 3, at most 9); node i serves MariaDB on
#                                           127.0.0.1:BASE_PORT+i-1. Returns once every node is
#                                           Synced in one cluster of N. Starts only the nodes
#                                           that are not running; exits 0 if all are.
#   deploy/galera.sh stop DIR                 graceful shutdown, last node first; waits until
#                                           every process has gone
#   deploy/galera.sh status DIR               prints each node's state; exits 0 if every node is
#                                           running and Synced, 3 otherwise
#
# Galera's own listeners take three ports per node from a second range, WSREP_BASE (default
# BASE_PORT+100, or GALERA_WSREP_PORT_BASE): node i uses WSREP_BASE+3(i-1) for group
# communication (gcomm), +1 for incremental state transfer (IST), +2 for full state transfer
# (rsync SST). `start` prints them.
#
# Clients: mariadb --defaults-file=DIR/node<i>/my.cnf (root over the socket, no password), or
# the service's URI mysql://root@127.0.0.1:PORT/invitations (install-db's root@127.0.0.1, no
# password, as deploy/mariadb.sh). The cluster holds only what install-db creates: callers create
# their databases (on any node: DDL replicates).
#
# Run as root, the nodes run as the `mysql` user (a root node's rsync SST fails), so every
# directory above DIR must be traversable by it (mode 0755).
set -euo pipefail

# A node answers ~1 s after starting; a joiner needs a few seconds more for its rsync SST. The
# margin is for a loaded machine.
READY_TIMEOUT_S=120
# A clean shutdown takes ~2 s when idle.
STOP_TIMEOUT_S=120
MARIADBD=/usr/sbin/mariadbd
GALERA_PROVIDER=/usr/lib/galera/libgalera_smm.so
# The settings, shared with the tests' GaleraCluster.
CNF_TEMPLATE=$(dirname "$(realpath "$0")")/galera.cnf.in
MAX_NODES=9

die() { echo "galera.sh: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 start DIR BASE_PORT [N] | stop DIR | status DIR" >&2
  exit 2
}

node_dir() { echo "$DIR/node$1"; }
node_cnf() { echo "$DIR/node$1/my.cnf"; }
node_log() { echo "$DIR/node$1/mariadbd.err"; }
mysql_port() { echo $((BASE_PORT + $1 - 1)); }
gcomm_port() { echo $((WSREP_BASE + 3 * ($1 - 1))); }
ist_port() { echo $((WSREP_BASE + 3 * ($1 - 1) + 1)); }
sst_port() { echo $((WSREP_BASE + 3 * ($1 - 1) + 2)); }

# Prints the pid of the mariadbd serving node $1, or fails if none is running. Found by its
# command line, not by its pid file: a joiner writes that file only after its state transfer, and
# after a crash or a reboot the file can name a dead or unrelated process.
running_pid() {
  local cnf pid
  cnf=$(node_cnf "$1")
  for pid in $(pgrep -x mariadbd); do
    # --defaults-file is always the first option (mariadbd honours it only there).
    if [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 2p)" = "--defaults-file=$cnf" ]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# The layout of the cluster in DIR (N, BASE_PORT, WSREP_BASE), as the last `start` wrote it.
load_layout() {
  [ -r "$DIR/cluster.env" ] || return 1
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
}

save_layout() {
  printf 'N=%s\nBASE_PORT=%s\nWSREP_BASE=%s\n' "$N" "$BASE_PORT" "$WSREP_BASE" >"$DIR/cluster.env"
}

# One `key<TAB>value` line per wsrep status variable asked for, from node $1 over its socket.
wsrep_status() {
  mariadb --defaults-file="$(node_cnf "$1")" --connect-timeout=2 -N -B -e \
    "SHOW GLOBAL STATUS WHERE Variable_name IN
       ('wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_cluster_status')" \
    2>/dev/null
}

status_value() { awk -v k="$1" '$1 == k { print $2 }'; }

# The user the nodes run as: `mysql` for root (see galera.cnf.in), else whoever runs this.
node_user() {
  if [ "$(id -u)" = 0 ]; then echo mysql; else id -un; fi
}

write_config() {
  local i=$1 dir address="" j
  dir=$(node_dir "$i")
  for j in $(seq "$N"); do address+="${address:+,}127.0.0.1:$(gcomm_port "$j")"; done
  mkdir -p "$dir/tmp" "$dir/data"
  # The node's error log already exists when it opens it (we append its early output there), so
  # it must be the node user's file.
  touch "$dir/mariadbd.err"
  sed -e "s|\$DIR|$dir|g" -e "s|\$PORT|$(mysql_port "$i")|g" -e "s|\$USER|$NODE_USER|g" \
      -e "s|\$CLUSTER_ADDRESS|gcomm://$address|g" -e "s|\$NODE_NAME|node$i|g" \
      -e "s|\$GCOMM_PORT|$(gcomm_port "$i")|g" -e "s|\$IST_PORT|$(ist_port "$i")|g" \
      -e "s|\$SST_PORT|$(sst_port "$i")|g" "$CNF_TEMPLATE" >"$dir/my.cnf"
  if [ -n "${INNODB_BUFFER_POOL_SIZE:-}" ]; then  # as in deploy/mariadb.sh
    sed -i "s|^innodb_buffer_pool_size=.*|innodb_buffer_pool_size=$INNODB_BUFFER_POOL_SIZE|" \
      "$dir/my.cnf"
  fi
  if [ "$NODE_USER" = mysql ]; then chown -R mysql:mysql "$dir"; fi
}

# The node an all-stopped cluster restarts from: the one Galera marked safe_to_bootstrap (the
# last to stop gracefully). After a crash of every node none is marked; then each node's
# position is recovered from InnoDB and the most advanced one is marked, as
# galera_new_cluster's documentation prescribes.
bootstrap_node() {
  local i
  for i in $(seq "$N"); do
    if grep -q '^safe_to_bootstrap: *1' "$(node_dir "$i")/data/grastate.dat" 2>/dev/null; then
      echo "$i"
      return 0
    fi
  done
  local best=0 best_seqno=-2 seqno log_start recovered
  for i in $(seq "$N"); do
    [ -d "$(node_dir "$i")/data/mysql" ] || continue
    log_start=$(($(stat -c %s "$(node_log "$i")" 2>/dev/null || echo 0) + 1))
    "$MARIADBD" --defaults-file="$(node_cnf "$i")" --wsrep-recover </dev/null \
      >>"$(node_log "$i")" 2>&1 || true
    recovered=$(tail -c +"$log_start" "$(node_log "$i")" \
      | sed -n 's/.*WSREP: Recovered position: .*:\(-\{0,1\}[0-9][0-9]*\).*/\1/p' | tail -n1)
    seqno=${recovered:--1}
    echo "galera: node $i recovered position $seqno" >&2
    if [ "$seqno" -gt "$best_seqno" ]; then best=$i; best_seqno=$seqno; fi
  done
  [ "$best" -gt 0 ] || return 1
  sed -i 's/^safe_to_bootstrap: *0/safe_to_bootstrap: 1/' "$(node_dir "$best")/data/grastate.dat"
  echo "$best"
}

# Starts node $1 in the background; $2 is "new" to bootstrap a new cluster from it.
launch_node() {
  local i=$1 dir log extra=()
  dir=$(node_dir "$i")
  log=$(node_log "$i")
  [ "${2:-}" = new ] && extra=(--wsrep-new-cluster)
  LOG_START[$i]=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
  # setsid: its own session and process group, so neither this shell's terminal nor its group
  # reaches it, and the SST script's `kill -- -<mariadbd pid>` on abort hits only its own helpers.
  # All output goes to the error log so that a caller capturing ours is not held open by it.
  setsid "$MARIADBD" --defaults-file="$dir/my.cnf" "${extra[@]}" </dev/null >>"$log" 2>&1 &
  PID[$i]=$!
}

# Waits until node $1 is Synced in a primary component of $2 nodes (0: of any size); fails with
# the tail of the node's error log if it dies or does not get there in time.
await_synced() {
  local i=$1 want=$2 pid log status deadline=$((SECONDS + READY_TIMEOUT_S)) size=$2
  [ "$want" != 0 ] || size="any size"
  pid=${PID[$i]}
  log=$(node_log "$i")
  while true; do
    status=$(wsrep_status "$i" || true)
    if [ "$(status_value wsrep_local_state_comment <<<"$status")" = Synced ] \
        && [ "$(status_value wsrep_cluster_status <<<"$status")" = Primary ] \
        && { [ "$want" = 0 ] || [ "$(status_value wsrep_cluster_size <<<"$status")" = "$want" ]; }; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -c +"${LOG_START[$i]}" "$log" | tail -n 25 >&2
      die "node $i (mariadbd) exited during startup (log: $log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -c +"${LOG_START[$i]}" "$log" | tail -n 25 >&2
      [ -z "$status" ] || echo "node $i status: $(tr '\n\t' '; ' <<<"$status")" >&2
      # Its whole group: a state transfer's helpers too.
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      die "node $i was not Synced in a cluster of $size within ${READY_TIMEOUT_S}s (log: $log)"
    fi
    sleep 0.2
  done
}

print_layout() {
  local i
  printf '  %-5s %-16s %-16s %-16s %-16s %s\n' node mysql gcomm IST SST socket
  for i in $(seq "$N"); do
    printf '  %-5s %-16s %-16s %-16s %-16s %s\n' "$i" "127.0.0.1:$(mysql_port "$i")" \
      "127.0.0.1:$(gcomm_port "$i")" "127.0.0.1:$(ist_port "$i")" "127.0.0.1:$(sst_port "$i")" \
      "$(node_dir "$i")/mysqld.sock"
  done
}

check_port_range() {
  local base=$1 count=$2 what=$3
  if ! [[ "$base" =~ ^[0-9]+$ ]] || [ "$base" -lt 1 ] || [ $((base + count - 1)) -gt 65535 ]; then
    die "$what ports $base..$((base + count - 1)) are outside 1..65535"
  fi
}

# Fills RUNNING and STOPPED with the node numbers of the layout in effect.
scan_nodes() {
  local i
  RUNNING=()
  STOPPED=()
  for i in $(seq "$N"); do
    if running_pid "$i" >/dev/null; then RUNNING+=("$i"); else STOPPED+=("$i"); fi
  done
}

cmd_start() {
  local i want_n=$N want_base=$BASE_PORT want_wsrep=$WSREP_BASE
  # A cluster already (partly) running keeps the layout it was started with.
  if load_layout; then
    scan_nodes
    if [ "$N/$BASE_PORT/$WSREP_BASE" != "$want_n/$want_base/$want_wsrep" ] \
        && [ ${#RUNNING[@]} -gt 0 ]; then
      local note="$N node(s) from port $BASE_PORT, wsrep ports from $WSREP_BASE"
      if [ ${#STOPPED[@]} -eq 0 ]; then
        echo "galera: already running, $note (not as asked: stop it first to change that)"
        print_layout
        return 0
      fi
      die "nodes ${RUNNING[*]} of $DIR are running as $note, not as asked: stop the cluster first"
    fi
  fi
  N=$want_n BASE_PORT=$want_base WSREP_BASE=$want_wsrep
  scan_nodes
  if [ ${#STOPPED[@]} -eq 0 ]; then
    echo "galera: already running, $N node(s)"
    print_layout
    return 0
  fi

  [ -x "$MARIADBD" ] || die "$MARIADBD not found: run deploy/install-deps.sh"
  [ -r "$GALERA_PROVIDER" ] || die "$GALERA_PROVIDER not found: install galera-4"
  command -v rsync >/dev/null || die "rsync not found (Galera's state transfer needs it): install rsync"
  # sun_path holds 108 bytes; mariadbd fails obscurely on a longer socket path.
  [ $((${#DIR} + 18)) -le 107 ] || die "DIR is too long for a unix socket path: $DIR"
  mkdir -p "$DIR"
  NODE_USER=$(node_user)
  if [ "$NODE_USER" = mysql ] && ! runuser -u mysql -- test -x "$DIR"; then
    die "user mysql cannot enter $DIR: every directory above it must be mode 0755 (see: namei -l $DIR)"
  fi
  save_layout
  for i in "${STOPPED[@]}"; do write_config "$i"; done

  local first=""
  if [ ${#RUNNING[@]} -eq 0 ]; then
    if ! compgen -G "$DIR/node*/data/mysql" >/dev/null; then
      # A new cluster: only node 1 is initialised; the others receive its data by SST. A
      # half-initialised directory from an interrupted first start would make install-db fail.
      rm -rf "$(node_dir 1)/data"
      mkdir -p "$(node_dir 1)/data"
      [ "$NODE_USER" != mysql ] || chown mysql:mysql "$(node_dir 1)/data"
      if ! mariadb-install-db --defaults-file="$(node_cnf 1)" --user="$NODE_USER" \
          --datadir="$(node_dir 1)/data" --auth-root-authentication-method=normal \
          --skip-test-db >"$DIR/install.log" 2>&1; then
        cat "$DIR/install.log" >&2
        die "mariadb-install-db failed (log: $DIR/install.log)"
      fi
      first=1
    else
      first=$(bootstrap_node) || die "no node of $DIR holds data to restart the cluster from"
    fi
    echo "galera: node $first bootstraps the cluster" >&2
    launch_node "$first" new
    await_synced "$first" 1
  fi
  # Joiners one at a time: each takes a state transfer from a running node, and a donor serves
  # one transfer at a time anyway.
  for i in "${STOPPED[@]}"; do
    [ "$i" != "$first" ] || continue
    echo "galera: node $i joins" >&2
    launch_node "$i"
    await_synced "$i" 0
  done
  # Every node must see the whole cluster, not only the nodes that were up when it joined.
  for i in $(seq "$N"); do
    PID[$i]=$(running_pid "$i") || die "node $i stopped after joining (log: $(node_log "$i"))"
    LOG_START[$i]=${LOG_START[$i]:-1}
    await_synced "$i" "$N"
  done
  echo "galera: running, $N node(s) Synced"
  print_layout
}

cmd_stop() {
  local i pid any=0
  load_layout || { echo "galera: no cluster in $DIR"; return 0; }
  # Last node first, so node 1 stops last and is the one marked safe to bootstrap from.
  for i in $(seq "$N" -1 1); do
    pid=$(running_pid "$i") || continue
    any=1
    # SIGTERM is mariadbd's normal shutdown and works even when every connection slot is taken.
    kill -TERM "$pid"
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
      [ "$SECONDS" -lt "$deadline" ] \
        || die "node $i (pid $pid) still running ${STOP_TIMEOUT_S}s after SIGTERM (log: $(node_log "$i"))"
      sleep 0.1
    done
    echo "galera: node $i stopped (pid $pid)"
  done
  [ "$any" = 1 ] || echo "galera: not running ($DIR)"
}

cmd_status() {
  local i pid status all=0
  load_layout || { echo "galera: no cluster in $DIR"; return 3; }
  for i in $(seq "$N"); do
    if pid=$(running_pid "$i"); then
      if ! status=$(wsrep_status "$i"); then
        echo "galera: node $i running (pid $pid) on 127.0.0.1:$(mysql_port "$i"): not answering (still joining?)"
        all=3
        continue
      fi
      printf 'galera: node %s running (pid %s) on 127.0.0.1:%s: %s, cluster size %s, %s\n' "$i" \
        "$pid" "$(mysql_port "$i")" \
        "$(status_value wsrep_local_state_comment <<<"$status")" \
        "$(status_value wsrep_cluster_size <<<"$status")" \
        "$(status_value wsrep_cluster_status <<<"$status")"
      [ "$(status_value wsrep_local_state_comment <<<"$status")" = Synced ] || all=3
    else
      echo "galera: node $i not running ($(node_dir "$i"))"
      all=3
    fi
  done
  return "$all"
}

[ $# -ge 2 ] || usage
ACTION=$1
# Absolute, because my.cnf and the pid check must name the same path whatever the caller's cwd.
DIR=$(realpath -m -- "$2")
declare -A PID=() LOG_START=()
case "$ACTION" in
  start)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    BASE_PORT=$3
    N=${4:-3}
    [[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le "$MAX_NODES" ] \
      || die "N must be a number from 1 to $MAX_NODES, not '$N'"
    WSREP_BASE=${GALERA_WSREP_PORT_BASE:-$((BASE_PORT + 100))}
    check_port_range "$BASE_PORT" "$N" mysql
    check_port_range "$WSREP_BASE" $((3 * N)) "wsrep (gcomm/IST/SST)"
    if [ "$WSREP_BASE" -lt $((BASE_PORT + N)) ] && [ "$BASE_PORT" -lt $((WSREP_BASE + 3 * N)) ]; then
      die "the mysql ports ($BASE_PORT+) and the wsrep ports ($WSREP_BASE+) overlap"
    fi
    cmd_start
    ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop ;;
  status) [ $# -eq 2 ] || usage; cmd_status ;;
  *) usage ;;
esac
