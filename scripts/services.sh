# shellcheck shell=bash
# Starts the databases the test suites need, and exports where they are. Source it (it sets variables in the
# caller's shell):
#
#     . scripts/services.sh
#
# * MariaDB: started if it is not answering (as root: start-stop-daemon), then a fresh database `e2ee_ci`
#   (or $E2EE_CI_DATABASE) → exports MYSQL_URL=mysql://root@127.0.0.1:3306/e2ee_ci
# * The MongoDB test server (tests/support/mongo_server.py: mockupdb + mongomock, an emulator — CI cannot install
#   mongod) in the virtualenv .venv, on a free port; a server this script started earlier is reused
#   → exports MONGODB_URI=mongodb://127.0.0.1:<port>/
# * .venv (created or reused, with tests/support/requirements.txt) is put first on PATH, as `activate` would.
#
# Idempotent, and safe under the caller's `set -euo pipefail`: every step checks its own result, and a failure
# returns non-zero from the `source` with a message, without changing the caller's shell options.

_e2ee_log() { echo "services: $*" >&2; }

_e2ee_start_mariadb() {
  local ping=(mysqladmin --protocol=tcp --host=127.0.0.1 --port=3306 --user=root --connect-timeout=2 ping)
  if ! "${ping[@]}" >/dev/null 2>&1; then
    _e2ee_log "starting MariaDB"
    # The socket directory is on tmpfs on a fresh machine.
    mkdir -p /run/mysqld && { chown mysql:mysql /run/mysqld 2>/dev/null || true; }
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || {
      _e2ee_log "could not start /usr/sbin/mariadbd"
      return 1
    }
  fi
  local attempt
  for attempt in $(seq 1 60); do
    if "${ping[@]}" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  _e2ee_log "MariaDB did not answer within 30 s"
  return 1
}

_e2ee_fresh_database() {
  local database="${E2EE_CI_DATABASE:-e2ee_ci}"
  mysql --protocol=tcp --host=127.0.0.1 --port=3306 --user=root \
    -e "DROP DATABASE IF EXISTS \`$database\`; CREATE DATABASE \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" || {
    _e2ee_log "could not create database $database"
    return 1
  }
  export MYSQL_URL="mysql://root@127.0.0.1:3306/$database"
}

_e2ee_virtualenv() {
  local venv="$1/.venv" requirements="$1/tests/support/requirements.txt"
  if [ ! -x "$venv/bin/python" ]; then
    _e2ee_log "creating $venv"
    python3 -m venv "$venv" || return 1
  fi
  # Reinstall only when the requirements changed since the last successful install.
  local wanted installed
  wanted="$(sha256sum "$requirements" | cut -d' ' -f1)" || return 1
  installed="$(cat "$venv/.requirements.sha256" 2>/dev/null || true)"
  if [ "$wanted" != "$installed" ]; then
    _e2ee_log "installing $requirements"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || return 1
    echo "$wanted" >"$venv/.requirements.sha256"
  fi
  export VIRTUAL_ENV="$venv"
  case ":$PATH:" in
    *":$venv/bin:"*) ;;
    *) export PATH="$venv/bin:$PATH" ;;
  esac
}

_e2ee_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_e2ee_start_mongo_server() {
  local root="$1" state="$1/.data"
  local pid_file="$state/mongo_server.pid" port_file="$state/mongo_server.port"
  mkdir -p "$state" || return 1

  # Reuse a server started by an earlier run if it is still ours and still answering.
  local pid port
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  port="$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$port_file" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -n "$port" ] && kill -0 "$pid" 2>/dev/null \
    && grep -q mongo_server.py "/proc/$pid/cmdline" 2>/dev/null && _e2ee_port_open "$port"; then
    export MONGODB_URI="mongodb://127.0.0.1:$port/"
    return 0
  fi

  _e2ee_log "starting the MongoDB test server"
  # Own files for every stream: the server must not hold the caller's stdout open after the caller exits.
  "$root/.venv/bin/python" "$root/tests/support/mongo_server.py" \
    </dev/null >"$port_file" 2>"$state/mongo_server.log" &
  pid=$!
  echo "$pid" >"$pid_file"
  local attempt
  for attempt in $(seq 1 100); do
    port="$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$port_file" 2>/dev/null || true)"
    if [ -n "$port" ]; then
      export MONGODB_URI="mongodb://127.0.0.1:$port/"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      _e2ee_log "the MongoDB test server exited; its log:"
      cat "$state/mongo_server.log" >&2
      return 1
    fi
    sleep 0.2
  done
  _e2ee_log "the MongoDB test server did not report a port within 20 s"
  return 1
}

_e2ee_services() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  _e2ee_start_mariadb || return 1
  _e2ee_fresh_database || return 1
  _e2ee_virtualenv "$root" || return 1
  _e2ee_start_mongo_server "$root" || return 1
  _e2ee_log "MYSQL_URL=$MYSQL_URL MONGODB_URI=$MONGODB_URI"
}

# Called as an `if` condition so that a failing step neither aborts a `set -e` caller halfway nor goes
# unnoticed: the status is returned from the `source` itself.
if _e2ee_services; then
  _e2ee_status=0
else
  _e2ee_status=1
fi
unset -f _e2ee_log _e2ee_start_mariadb _e2ee_fresh_database _e2ee_virtualenv _e2ee_port_open \
  _e2ee_start_mongo_server _e2ee_services
# `return` ends a sourced script; the `exit` only runs if this file was executed instead of sourced.
if [ "$_e2ee_status" -eq 0 ]; then
  unset _e2ee_status
  return 0 2>/dev/null || exit 0
else
  unset _e2ee_status
  return 1 2>/dev/null || exit 1
fi
