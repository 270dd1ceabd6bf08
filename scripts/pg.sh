#!/usr/bin/env bash
# Starts (or stops) the throwaway PostgreSQL server the test suite uses, in .test-pg/ on port 54329
# (ASSAY_TEST_PG_PORT picks another). PostgreSQL refuses to run as root, so as root the server runs as the
# 'postgres' user; when that user cannot reach the checkout (cloned as root under /root, or into a private
# 'mktemp -d' folder), the cluster lives in /tmp/assay-test-pg-<hash of the checkout's path> instead.
# 'url' only prints the server's URL: it needs no PostgreSQL, so 'make run' never installs one. 'dir' prints
# where the cluster lives (for 'make clean').
set -euo pipefail
PORT="${ASSAY_TEST_PG_PORT:-54329}"
if [ "${1:-start}" = url ]; then
  echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
  exit 0
fi
cd "$(dirname "$0")/.."
PGDIR="$PWD/.test-pg"
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
  PGDIR="/tmp/assay-test-pg-$(printf '%s' "$PWD" | sha256sum | cut -c1-16)"
fi
if [ "${1:-start}" = dir ]; then
  echo "$PGDIR"
  exit 0
fi

BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
if [ -z "$BIN" ]; then
  if [ "${1:-start}" = stop ]; then exit 0; fi
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's postgresql for the storage tests..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
    BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  else
    echo "PostgreSQL is not installed (hint: sudo apt-get install postgresql)" >&2; exit 1
  fi
fi
# From /: the postgres user may not be allowed into the checkout (its tools warn on every call).
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

case "${1:-start}" in
  start)
    if [ -f "$PGDIR/data/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
      exit 0
    fi
    if [ "$PGDIR" != "$PWD/.test-pg" ]; then
      # A fixed name in a shared folder: make it ours, or refuse one someone else made.
      mkdir -m 700 "$PGDIR" 2>/dev/null || true
      if [ "$(stat -c %U "$PGDIR")" != root ] && [ "$(stat -c %U "$PGDIR")" != postgres ] || [ -L "$PGDIR" ]; then
        echo "$PGDIR exists and belongs to someone else (hint: remove it, then run again)" >&2; exit 1
      fi
    fi
    mkdir -p "$PGDIR"
    if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; chmod 700 "$PGDIR"; fi
    if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
      -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null; then
      tail -n 3 "$PGDIR/server.log" >&2 || true
      echo "PostgreSQL did not start on port $PORT (hint: if another server holds the port, set ASSAY_TEST_PG_PORT to a free one)" >&2
      exit 1
    fi
    ;;
  stop)
    [ -d "$PGDIR/data" ] && as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null || true
    ;;
  *)
    echo "usage: scripts/pg.sh [start|stop|url]" >&2; exit 2
    ;;
esac
