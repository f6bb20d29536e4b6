#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the store's tests and benchmarks.
#
#   scripts/postgres.sh up [DIR]     start it; prints BODYCAM_PG_DSN=... (also written to DIR/env)
#   scripts/postgres.sh down [DIR]   stop it and remove DIR
#
# initdb refuses to run as root, so as root the cluster belongs to an unprivileged system user
# (BODYCAM_PG_USER, default bodycam-pg, made if missing). Port: BODYCAM_PG_PORT (default: a free
# one, chosen at start).
set -euo pipefail

cmd=${1:-}
dir=${2:-${BODYCAM_PG_DIR:-/tmp/bodycam-pg}}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=${BODYCAM_PG_PORT:-$(free_port)}
owner=${BODYCAM_PG_USER:-bodycam-pg}

die() { echo "postgres: $*" >&2; exit 1; }

find_tool() {
  command -v "$1" 2>/dev/null && return
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

down() {
  local pg_ctl
  pg_ctl=$(find_tool pg_ctl)
  if [ -n "$pg_ctl" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

up() {
  local initdb pg_ctl
  initdb=$(find_tool initdb)
  pg_ctl=$(find_tool pg_ctl)
  [ -n "$initdb" ] && [ -n "$pg_ctl" ] || die "initdb/pg_ctl not found (apt-get install postgresql)"
  down
  if [ "$(id -u)" = 0 ] && ! id "$owner" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
  fi
  mkdir -p "$dir/data" "$dir/sock"
  [ "$(id -u)" = 0 ] && chown -R "$owner" "$dir"
  as_owner "$initdb" -D "$dir/data" -U bodycam -A trust -E UTF8 --no-instructions \
    >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -1 "$dir/initdb.log")"
  as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=300" start \
    >/dev/null || die "the server did not start: $(tail -3 "$dir/server.log" 2>/dev/null)"
  echo "BODYCAM_PG_DSN=postgresql://bodycam@127.0.0.1:$port/postgres" | tee "$dir/env"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
