#!/usr/bin/env bash
# The PostgreSQL backend against the embedded SQLite store on this machine, in one run (issue
# #9's figures for bench/RESULTS.md):
#   bench/postgres.sh [SHARED_DIR]      (default ../shared; needs `make build` first)
# Steps, each printed with its figures:
#   1. a throw-away PostgreSQL with production durability (fsync on; scripts/pg-test-server.sh
#      start --durable), on loopback;
#   2. import of the uncompressed Synthea bundles into SQLite and into PostgreSQL (sund import);
#   3. PostgreSQL's own COPY of the same rows: every table of the imported database dumped to
#      files, then loaded with COPY into a fresh database with the same schema and indexes, in
#      one transaction (the limit the import's COPY-based writes can approach);
#   4. sund serve on each backend: single-resource reads and Observation writes with wrk at 8
#      and 32 connections, and the search latency table of sund_bench (p50/p99, sequential);
#   5. bench/bulk-export.sh on each backend: $export throughput, and the NDJSON import of the
#      system export's files against the bundle import.
# Work files go to $BENCH_DIR (default /tmp/sund-bench-pg).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${1:-$(cd "$here/.." && pwd)/shared}"
bin="$here/build/bin"
work="${BENCH_DIR:-/tmp/sund-bench-pg}"
duration="${WRK_DURATION:-10s}"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"

echo "# PostgreSQL vs SQLite, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD)"

json="${SYNTHEA_JSON:-/tmp/sund-bench/synthea-json}"
if [[ ! -d "$json" ]]; then
  echo "## decompressing the Synthea bundles into $json (not timed)"
  mkdir -p "$json.tmp"
  for f in "$shared"/data/synthea/*.json.bz2; do bzcat "$f" > "$json.tmp/$(basename "${f%.bz2}")"; done
  mv "$json.tmp" "$json"
fi

pg_dir=""
serve_pid=""
cleanup() {
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null || true
  [[ -n "$pg_dir" ]] && "$here/scripts/pg-test-server.sh" stop "$pg_dir"
}
trap cleanup EXIT
pg_out="$("$here/scripts/pg-test-server.sh" start --durable)"
pg_dir="$(echo "$pg_out" | head -1)"
pg_url="$(echo "$pg_out" | tail -1)"
pg_base="${pg_url%/*}"
psql -qX "$pg_url" -c "CREATE DATABASE imported" -c "CREATE DATABASE raw" >/dev/null
echo "PostgreSQL $(psql -qAtX "$pg_url" -c 'SHOW server_version'), fsync $(psql -qAtX "$pg_url" -c 'SHOW fsync'), synchronous_commit $(psql -qAtX "$pg_url" -c 'SHOW synchronous_commit'), shared_buffers $(psql -qAtX "$pg_url" -c 'SHOW shared_buffers')"

echo "## import, uncompressed bundles"
echo "SQLite:"
"$bin/sund" import --no-progress --data "$work/sqlite" "$json"/*.json | tail -1
echo "PostgreSQL:"
"$bin/sund" import --no-progress --data "$work/postgres" --db "$pg_base/imported" "$json"/*.json | tail -1

echo "## PostgreSQL's own COPY of the same rows (fresh database, same schema and indexes)"
pg_dump -s "$pg_base/imported" | psql -qX "$pg_base/raw" >/dev/null
tables="resource version idx_string idx_token idx_token_text idx_reference idx_date idx_number idx_quantity idx_uri idx_composite"
mkdir -p "$work/rows"
rows=0
for t in $tables; do
  psql -qX "$pg_base/imported" -c "\\copy $t TO '$work/rows/$t.tsv'"
  rows=$((rows + $(wc -l < "$work/rows/$t.tsv")))
done
resources="$(wc -l < "$work/rows/resource.tsv")"
psql -qX "$pg_base/raw" -c "TRUNCATE search_param, compartment_sp" >/dev/null
copy_args=(-c "BEGIN")
for t in $tables; do copy_args+=(-c "\\copy $t FROM '$work/rows/$t.tsv'"); done
copy_args+=(-c "COMMIT")
start=$(date +%s.%N)
psql -qX -v ON_ERROR_STOP=1 "$pg_base/raw" "${copy_args[@]}" >/dev/null
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v r="$resources" -v n="$rows" \
  'BEGIN { printf "raw COPY: %d rows (%d resources) in %.2f s = %.0f resources/s\n", n, r, e - s, r / (e - s) }'
echo "database size: $(psql -qAtX "$pg_base/imported" -c "SELECT pg_size_pretty(pg_database_size('imported'))"); SQLite file: $(du -h "$work/sqlite/sund.db" | cut -f1)"

start_serve() {  # start_serve NAME [FLAGS...]: starts sund serve, sets url and serve_pid
  local name="$1"
  shift
  "$bin/sund" serve --port 0 "$@" > "$work/$name.out" 2> "$work/$name.err" &
  serve_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^sund listening on //p' "$work/$name.out")"
}

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.body = '{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/PATIENT"},"effectiveDateTime":"2026-11-29T10:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}'
LUA

for backend in sqlite postgres; do
  echo "## serve on $backend"
  if [[ "$backend" == sqlite ]]; then
    start_serve "serve-$backend" --data "$work/sqlite"
    data="$work/sqlite"
  else
    start_serve "serve-$backend" --data "$work/postgres" --db "$pg_base/imported"
    data="$work/postgres"
  fi
  token="$("$bin/sund" token --data "$data" --system --scope 'system/*.*' --aud "$url/fhir")"
  auth=(-H "Authorization: Bearer $token")
  id="$(curl -s "${auth[@]}" "$url/fhir/Observation?code=http://loinc.org%7C8310-5&_count=1" |
        sed -n 's/.*"resourceType":"Observation","id":"\([^"]*\)".*/\1/p' | head -1)"
  patient="$(curl -s "${auth[@]}" "$url/fhir/Observation/$id" |
             sed -n 's/.*"subject":{"reference":"Patient\/\([^"]*\)".*/\1/p')"
  sed -i "s/PATIENT[^\"]*\"/PATIENT\"/; s/Patient\/[^\"]*\"/Patient\/$patient\"/" "$work/post.lua"
  for c in 8 32; do
    echo "reads, $c connections:"
    wrk -t2 -c"$c" -d"$duration" "${auth[@]}" "$url/fhir/Observation/$id" | grep -E "Requests/sec|Latency"
  done
  for c in 8 32; do
    echo "writes (POST Observation), $c connections:"
    wrk -t2 -c"$c" -d"$duration" "${auth[@]}" -s "$work/post.lua" "$url/fhir/Observation" |
      grep -E "Requests/sec|Latency|Non-2xx"
  done
  echo "search latency (sequential requests over one keep-alive connection):"
  SUND_TOKEN="$token" "$bin/sund_bench" search 127.0.0.1 "${url##*:}" "${SEARCH_N:-200}"
  grep -E "VmHWM" "/proc/$serve_pid/status" || true
  kill "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=""
done

echo "## bulk export and NDJSON import, SQLite"
SYNTHEA_JSON="$json" "$here/bench/bulk-export.sh"
echo "## bulk export and NDJSON import, PostgreSQL"
psql -qX "$pg_url" -c "CREATE DATABASE exportbench" -c "CREATE DATABASE exportbench_ndjson" >/dev/null
SYNTHEA_JSON="$json" SUND_DB="$pg_base/exportbench" "$here/bench/bulk-export.sh"
