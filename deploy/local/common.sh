# Shared settings for deploy/local/{up,down,status}. Sourced, not run.
# Everything the local services keep lives under $TRACKGW_STATE_DIR (default: .local/ in the
# project, ignored by git). The machine's own PostgreSQL (5432) and Mosquitto (1883) are never
# touched: the project's cluster and broker have their own ports and their own data.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${TRACKGW_STATE_DIR:-$ROOT/.local}
PG_PORT=${TRACKGW_PG_PORT:-55432}
MQTT_PORT=${TRACKGW_MQTT_PORT:-51883}
PG_DATA=$STATE/pg/data
PG_RUN=$STATE/pg/run
PG_LOG=$STATE/pg/server.log
MQ_DIR=$STATE/mosquitto
PG_DB=trackgw

say() { printf 'trackgw-local: %s\n' "$*"; }
die() { printf 'trackgw-local: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root for: $* (install it, or run as root)"; fi
}

pg_major() {
  local pgc
  pgc=$(command -v pg_config || true)
  [ -n "$pgc" ] || { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; return; }
  "$pgc" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'
}

pg_bin() { echo "/usr/lib/postgresql/$(pg_major)/bin"; }

# The PostgreSQL server refuses to run as root: when we are root it runs as 'postgres'.
pg_user() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() { as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

# Another checkout of the project on this machine may already run its cluster on our port
# (CI clones the repository next to a developer's work tree). Then we use that cluster rather
# than fail to bind: its data directory is asked from the server and remembered in $STATE.
PG_ADOPTED=$STATE/pg/adopted-datadir
serving_pg_datadir() {
  psql -X -Atq -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'show data_directory' \
    2>/dev/null || true
}
adopt_serving_cluster() {
  if [ -f "$PG_ADOPTED" ] && [ ! -f "$PG_DATA/PG_VERSION" ]; then
    local d; d=$(cat "$PG_ADOPTED")
    [ -f "$d/PG_VERSION" ] && PG_DATA=$d
  fi
  if ! pg_running; then
    local d; d=$(serving_pg_datadir)
    if [ -n "$d" ] && [ "$d" != "$PG_DATA" ]; then
      mkdir -p "$STATE/pg"; echo "$d" >"$PG_ADOPTED"; PG_DATA=$d
      say "port $PG_PORT is served by the project cluster in $d: using it"
    fi
  fi
  PG_LOG=$PG_DATA/../server.log
}
# The same for the broker: a Mosquitto already listening on our port is used as it is.
mq_serving_pid() {
  ss -ltnpH "sport = :$MQTT_PORT" 2>/dev/null | sed -nE 's/.*"mosquitto",pid=([0-9]+).*/\1/p' | head -1
}
mq_pid() {
  if [ -f "$MQ_DIR/mosquitto.pid" ] && kill -0 "$(cat "$MQ_DIR/mosquitto.pid")" 2>/dev/null; then
    cat "$MQ_DIR/mosquitto.pid"
  else
    mq_serving_pid
  fi
}
mq_running() {
  local pid; pid=$(mq_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q mosquitto "/proc/$pid/comm" 2>/dev/null
}

# --- the broker's dynamic security plugin -----------------------------------------------------
DYNSEC_FILE=$MQ_DIR/dynamic-security.json
DYNSEC_APPLIED=$MQ_DIR/dynsec.applied
# Debian puts the plugin in the multiarch library folder; other builds elsewhere.
dynsec_plugin() {
  local p
  for p in /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so \
           /usr/local/lib/mosquitto_dynamic_security.so; do
    [ -f "$p" ] && { echo "$p"; return; }
  done
  p=$(dpkg -L mosquitto 2>/dev/null | grep '/mosquitto_dynamic_security\.so$' | head -1 || true)
  [ -n "$p" ] && echo "$p"
}
# "user password roles..." lines of deploy/mosquitto/users, without comments.
mq_users() { grep -Ev '^[[:space:]]*(#|$)' "$ROOT/deploy/mosquitto/users"; }
mq_admin() { mq_users | awk '{for(i=3;i<=NF;i++) if($i=="admin"){print $1, $2; exit}}'; }
# mosquitto_ctrl as the plugin's admin, on our port.
dynsec() {
  local admin pass
  read -r admin pass < <(mq_admin)
  local out rc=0
  # (loopback only: its warning about an unencrypted connection is dropped)
  out=$(mosquitto_ctrl -h 127.0.0.1 -p "$MQTT_PORT" -u "$admin" -P "$pass" dynsec "$@" 2>&1) || rc=$?
  out=$(printf '%s\n' "$out" | grep -v -e 'without encryption' -e 'visible on the network' -e '^$' || true)
  if [ "$rc" -eq 0 ]; then [ -z "$out" ] || printf '%s\n' "$out"; else printf '%s\n' "$out" >&2; fi
  return "$rc"
}
# One raw request to the plugin's control topic (mosquitto_rr); prints the JSON response.
# (mosquitto_ctrl 2.0.11's setDefaultACLAccess sends nothing the plugin applies.)
dynsec_json() {
  local admin pass
  read -r admin pass < <(mq_admin)
  timeout 10 mosquitto_rr -h 127.0.0.1 -p "$MQTT_PORT" -u "$admin" -P "$pass" \
    -t '$CONTROL/dynamic-security/v1' -e '$CONTROL/dynamic-security/v1/response' -m "$1"
}
