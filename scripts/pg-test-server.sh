#!/usr/bin/env bash
# A throw-away PostgreSQL (Debian's, from scripts/install-deps.sh) for tests and benchmarks:
# initdb in a temporary directory, run as an unprivileged user, listening on 127.0.0.1 only.
#
#   scripts/pg-test-server.sh start [--durable]   prints two lines: DIR and the libpq URL
#   scripts/pg-test-server.sh stop DIR            stops it and removes DIR
#
# Without --durable the server skips fsync (tests: nothing there outlives the run); benchmarks
# pass --durable to measure PostgreSQL as production runs it.
set -euo pipefail

pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [[ -z "$pgbin" || ! -x "$pgbin/initdb" ]]; then
  echo "pg-test-server: PostgreSQL is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

# initdb refuses to run as root: as root, the server runs as Debian's postgres user.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
  start)
    durable=0
    [[ "${2:-}" == "--durable" ]] && durable=1
    dir="$(mktemp -d /tmp/sund-pg-XXXXXX)"
    chmod 700 "$dir"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
    as_owner "$pgbin/initdb" -D "$dir/data" -U sund --auth=trust -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200"
    if [[ "$durable" == 0 ]]; then
      opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" -w -t 60 start \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U sund sund >/dev/null
    echo "$dir"
    echo "postgresql://sund@127.0.0.1:$port/sund"
    ;;
  stop)
    dir="${2:?usage: pg-test-server.sh stop DIR}"
    [[ -d "$dir/data" ]] && as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg-test-server.sh start [--durable] | stop DIR" >&2
    exit 2
    ;;
esac
