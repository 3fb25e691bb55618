#!/usr/bin/env bash
# The throughput cost of TLS (issue #11): the same requests over plain HTTP and over HTTPS
# (--tls-cert auto: ECDSA P-256, TLS 1.3 as wrk and openssl negotiate it), on one fresh data
# directory with one Patient:
#   bench/tls.sh              (WRK_DURATION=10s, WRK_CONNECTIONS=32 by default)
# - GET /healthz (a few bytes: per-request transport cost),
# - GET /fhir/Patient/ID with a system token (a point read with its audit record),
# - GET /fhir/metadata (about 360 kB: bulk encryption),
# all on keep-alive connections (wrk -t2), and new TLS handshakes a second (openssl s_time -new).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/bin"
duration="${WRK_DURATION:-10s}"
conns="${WRK_CONNECTIONS:-32}"
work="$(mktemp -d /tmp/sund-bench-tls-XXXXXX)"
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT

echo "# TLS cost, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD)"
start_serve() {  # start_serve NAME [FLAGS...]
  local name="$1"
  shift
  "$bin/sund" serve --data "$work/data" --port 0 "$@" > "$work/$name.out" 2> "$work/$name.err" &
  serve_pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^sund listening on //p' "$work/$name.out")"
}
stop_serve() { kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""; }
rate() { wrk -t2 -c"$conns" -d"$duration" "$@" | sed -n 's/Requests\/sec: *//p'; }

# The certificate first, so both runs serve the same data directory.
start_serve tls --tls-cert auto
stop_serve
ca="$work/data/tls/dev-cert.pem"

declare -A results
for mode in plain tls; do
  if [[ "$mode" == tls ]]; then start_serve tls --tls-cert auto; else start_serve plain; fi
  token="$("$bin/sund" token --data "$work/data" --system --aud "$url/fhir")"
  curl_opts=(-sf --cacert "$ca")
  id="$(curl "${curl_opts[@]}" -X PUT -H "Authorization: Bearer $token" \
        -H "Content-Type: application/fhir+json" "$url/fhir/Patient/bench-tls" \
        -d '{"resourceType":"Patient","id":"bench-tls","name":[{"family":"Benchmark"}]}' |
        sed 's/.*"id":"\([^"]*\)".*/\1/')"
  results[$mode,healthz]="$(rate "$url/healthz")"
  results[$mode,read]="$(rate -H "Authorization: Bearer $token" "$url/fhir/Patient/$id")"
  results[$mode,metadata]="$(rate "$url/fhir/metadata")"
  if [[ "$mode" == tls ]]; then
    port="${url##*:}"
    results[tls,handshakes]="$(timeout 30 openssl s_time -connect "127.0.0.1:$port" -new -time 5 \
      -CAfile "$ca" 2>/dev/null | sed -n 's/.*connections in [0-9.]*s; \([0-9.]*\) connections\/user sec.*/\1/p' | head -1)"
  fi
  stop_serve
done

printf '%-34s %14s %14s %8s\n' "requests/s (wrk -t2 -c$conns, $duration)" plain tls "tls/plain"
for w in healthz read metadata; do
  p="${results[plain,$w]}"
  t="${results[tls,$w]}"
  printf '%-34s %14s %14s %8s\n' "$w" "$p" "$t" "$(awk -v p="$p" -v t="$t" 'BEGIN{printf "%.2f", t/p}')"
done
echo "new TLS handshakes a second (openssl s_time -new, one client): ${results[tls,handshakes]:-n/a}"
