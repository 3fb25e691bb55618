#!/usr/bin/env bash
# Runs Sund's benchmarks on this machine and prints the figures recorded in bench/RESULTS.md.
#   bench/run.sh [SHARED_DIR]      (default ../shared; needs `make build` first)
# Steps: import of the Synthea set from uncompressed bundles (with the raw SQLite limit) and from
# the .json.bz2 files, peak memory of import and serve, the authorization server in process
# (token issuance and verification), single-resource reads with wrk against sund with a system
# token, with a patient token and without authorization (--insecure-dev), and against nginx
# serving the same JSON as a static file, and search latency p50/p99 (with a system token).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${1:-$(cd "$here/.." && pwd)/shared}"
bin="$here/build/bin"
work="${BENCH_DIR:-/tmp/sund-bench}"
duration="${WRK_DURATION:-10s}"
mkdir -p "$work"

echo "# sund benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD)"

if [[ ! -d "$work/synthea-json" ]]; then
  echo "## decompressing the Synthea bundles into $work/synthea-json (not timed)"
  mkdir -p "$work/synthea-json.tmp"
  for f in "$shared"/data/synthea/*.json.bz2; do
    bzcat "$f" > "$work/synthea-json.tmp/$(basename "${f%.bz2}")"
  done
  mv "$work/synthea-json.tmp" "$work/synthea-json"
fi

echo "## import, uncompressed bundles (and the raw SQLite limit on the same rows)"
/usr/bin/time -f "import peak RSS: %M KiB, %e s wall, %U s user, %S s sys" \
  "$bin/sund_bench" import "$work/data-json" "$work"/synthea-json/*.json

echo "## import, .json.bz2 bundles (decompressed on reader threads)"
rm -rf "$work/data-bz2"
/usr/bin/time -f "import peak RSS: %M KiB, %e s wall" \
  "$bin/sund" import --no-progress --data "$work/data-bz2" "$shared"/data/synthea/*.json.bz2

echo "## authorization server in process: code exchanges, client_credentials, token verification"
"$bin/sund_bench" auth "$work/auth-bench" "${AUTH_N:-2000}"

echo "## serve: single-resource reads with wrk (2 threads, 32 connections, $duration)"
start_serve() {  # start_serve NAME [FLAGS...]: starts sund serve, sets url and serve_pid
  local name="$1"
  shift
  "$bin/sund" serve --data "$work/data-json" --port 0 "$@" > "$work/$name.out" 2> "$work/$name.err" &
  serve_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^sund listening on //p' "$work/$name.out")"
}
serve_pid=""
nginx_pid=""
cleanup() {
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null || true
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null || true
}
trap cleanup EXIT
start_serve serve
token="$("$bin/sund" token --data "$work/data-json" --system --scope 'system/*.rs' --aud "$url/fhir")"
auth=(-H "Authorization: Bearer $token")
id="$(curl -s "${auth[@]}" "$url/fhir/Observation?code=http://loinc.org%7C8310-5&_count=1" |
      sed -n 's/.*"resourceType":"Observation","id":"\([^"]*\)".*/\1/p' | head -1)"
curl -s "${auth[@]}" "$url/fhir/Observation/$id" > "$work/observation.json"
patient="$(sed -n 's/.*"subject":{"reference":"Patient\/\([^"]*\)".*/\1/p' "$work/observation.json")"
ptoken="$("$bin/sund" token --data "$work/data-json" --patient "$patient" --aud "$url/fhir")"
echo "resource: Observation/$id, $(wc -c < "$work/observation.json") bytes (of Patient/$patient)"
echo "with a system/*.rs token:"
wrk -t2 -c32 -d"$duration" "${auth[@]}" "$url/fhir/Observation/$id" | grep -E "Requests/sec|Latency"
echo "with a patient/*.rs token of that patient (adds the compartment check):"
wrk -t2 -c32 -d"$duration" -H "Authorization: Bearer $ptoken" "$url/fhir/Observation/$id" |
  grep -E "Requests/sec|Latency"
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
start_serve serve-insecure --insecure-dev
echo "without authorization (--insecure-dev), same run:"
wrk -t2 -c32 -d"$duration" "$url/fhir/Observation/$id" | grep -E "Requests/sec|Latency"
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
start_serve serve
token="$("$bin/sund" token --data "$work/data-json" --system --scope 'system/*.rs' --aud "$url/fhir")"

mkdir -p "$work/nginx/www" "$work/nginx/tmp"
cp "$work/observation.json" "$work/nginx/www/observation.json"
port=$((20000 + RANDOM % 20000))
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$port;
    location / { root $work/nginx/www; default_type application/fhir+json; }
  }
}
CONF
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/observation.json" && break; sleep 0.1; done
echo "nginx, same JSON as a static file:"
wrk -t2 -c32 -d"$duration" "http://127.0.0.1:$port/observation.json" | grep -E "Requests/sec|Latency"

echo "## search latency (sequential requests over one keep-alive connection)"
port_sund="${url##*:}"
SUND_TOKEN="$token" "$bin/sund_bench" search 127.0.0.1 "$port_sund" "${SEARCH_N:-200}"

echo "## serve peak RSS"
grep -E "VmHWM" "/proc/$serve_pid/status" || true
