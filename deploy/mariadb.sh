#!/usr/bin/env bash
# A private MariaDB for local runs and benchmarks, as root and without systemd: everything lives
# in one directory (my.cnf, data/, mysqld.sock, mariadbd.pid, mariadbd.err).
#
#   deploy/mariadb.sh start DIR PORT   initialise DIR on first use, start mariadbd on
#                                      127.0.0.1:PORT, create database `invitations`; exits 0 if
#                                      it is already running
#   deploy/mariadb.sh stop DIR         graceful shutdown; waits until the process has gone
#   deploy/mariadb.sh status DIR       prints the state; exits 0 if running, 3 if not
#
# Clients: mariadb --defaults-file=DIR/my.cnf (root, no password), or the service's URI
# mysql://root@127.0.0.1:PORT/invitations.
# INNODB_BUFFER_POOL_SIZE (e.g. 2G) replaces the template's small test-sized buffer pool; the
# benchmark sets it, so that the figures are not those of a database reading its indexes from disk.
set -euo pipefail

# mariadbd answers a ping ~0.2 s after starting here; the margin is for a loaded machine.
READY_TIMEOUT_S=30
# A clean shutdown takes ~1.5 s when idle; flushing a large buffer pool after a benchmark takes
# longer.
STOP_TIMEOUT_S=120
# Debian puts the server outside a non-root PATH.
MARIADBD=/usr/sbin/mariadbd
# The settings, shared with the tests' servers.
CNF_TEMPLATE=$(dirname "$(realpath "$0")")/mariadb.cnf.in

die() { echo "mariadb.sh: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 start DIR PORT | stop DIR | status DIR" >&2
  exit 2
}

# Prints the pid of the mariadbd serving DIR, or fails if none is running. The pid file alone is
# not proof: after a crash or a reboot it can name a dead or unrelated process.
running_pid() {
  local pid
  [ -r "$DIR/mariadbd.pid" ] || return 1
  pid=$(cat "$DIR/mariadbd.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "mariadbd" ] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmdline" == *"--defaults-file=$DIR/my.cnf"* ]] || return 1
  echo "$pid"
}

configured_port() {
  sed -n 's/^port=//p' "$DIR/my.cnf" 2>/dev/null | head -n1
}

write_config() {
  mkdir -p "$DIR/tmp"
  sed -e "s|\$DIR|$DIR|g" -e "s|\$PORT|$PORT|g" "$CNF_TEMPLATE" >"$DIR/my.cnf"
  if [ -n "${INNODB_BUFFER_POOL_SIZE:-}" ]; then
    sed -i "s|^innodb_buffer_pool_size=.*|innodb_buffer_pool_size=$INNODB_BUFFER_POOL_SIZE|" \
      "$DIR/my.cnf"
  fi
}

cmd_start() {
  local pid
  if pid=$(running_pid); then
    local port note=""
    port=$(configured_port)
    [ "$port" = "$PORT" ] || note=" (not $PORT: stop it first to change the port)"
    echo "mariadb: already running (pid $pid) on 127.0.0.1:$port$note, socket $DIR/mysqld.sock"
    return 0
  fi
  [ -x "$MARIADBD" ] || die "$MARIADBD not found: run deploy/install-deps.sh"
  # sun_path holds 108 bytes; mariadbd fails obscurely on a longer socket path.
  [ $((${#DIR} + 12)) -le 107 ] || die "DIR is too long for a unix socket path: $DIR"
  mkdir -p "$DIR"
  write_config

  if [ ! -d "$DIR/data/mysql" ]; then
    # A half-initialised directory from an interrupted first start would make install-db fail.
    rm -rf "$DIR/data"
    if ! mariadb-install-db --defaults-file="$DIR/my.cnf" --user=root --datadir="$DIR/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$DIR/install.log" 2>&1; then
      cat "$DIR/install.log" >&2
      die "mariadb-install-db failed (log: $DIR/install.log)"
    fi
  fi

  # setsid: its own session, so neither this shell's terminal nor its process group reaches it.
  # All output goes to the error log so that a caller capturing ours ($(...), a CI pipe) is not
  # held open by the server. In a non-interactive shell the job is not a group leader, so
  # setsid execs in place and $! is mariadbd itself.
  local log_start
  log_start=$(($(stat -c %s "$DIR/mariadbd.err" 2>/dev/null || echo 0) + 1))
  setsid "$MARIADBD" --defaults-file="$DIR/my.cnf" </dev/null >>"$DIR/mariadbd.err" 2>&1 &
  pid=$!

  local deadline=$((SECONDS + READY_TIMEOUT_S))
  # Ping over the private socket: over TCP, another server squatting on PORT would answer.
  until mariadb-admin --defaults-file="$DIR/my.cnf" --connect-timeout=2 ping >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -c +"$log_start" "$DIR/mariadbd.err" | tail -n 20 >&2
      die "mariadbd exited during startup (log: $DIR/mariadbd.err)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -c +"$log_start" "$DIR/mariadbd.err" | tail -n 20 >&2
      kill -KILL "$pid" 2>/dev/null || true
      die "mariadbd did not answer within ${READY_TIMEOUT_S}s (log: $DIR/mariadbd.err)"
    fi
    sleep 0.1
  done

  mariadb --defaults-file="$DIR/my.cnf" \
    -e "CREATE DATABASE IF NOT EXISTS invitations CHARACTER SET utf8mb4" \
    || die "could not create database invitations"
  echo "mariadb: running (pid $pid) on 127.0.0.1:$PORT, socket $DIR/mysqld.sock"
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    echo "mariadb: not running ($DIR)"
    return 0
  fi
  # SIGTERM is mariadbd's normal shutdown and, unlike `mariadb-admin shutdown`, works even when
  # every connection slot is taken.
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] \
      || die "mariadbd (pid $pid) still running ${STOP_TIMEOUT_S}s after SIGTERM (log: $DIR/mariadbd.err)"
    sleep 0.1
  done
  echo "mariadb: stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "mariadb: running (pid $pid) on 127.0.0.1:$(configured_port), socket $DIR/mysqld.sock"
    return 0
  fi
  echo "mariadb: not running ($DIR)"
  return 3
}

[ $# -ge 2 ] || usage
ACTION=$1
# Absolute, because my.cnf and the pid check must name the same path whatever the caller's cwd.
DIR=$(realpath -m -- "$2")
case "$ACTION" in
  start)
    [ $# -eq 3 ] || usage
    PORT=$3
    if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
      die "PORT must be a number from 1 to 65535, not '$PORT'"
    fi
    cmd_start
    ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop ;;
  status) [ $# -eq 2 ] || usage; cmd_status ;;
  *) usage ;;
esac
