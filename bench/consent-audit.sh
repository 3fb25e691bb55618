#!/usr/bin/env bash
# Consent and audit cost on the loaded Synthea set (issue #4), in one run:
#   bench/consent-audit.sh       (after bench/run.sh has imported $BENCH_DIR/data-json)
# 1. sund serve with authorization, the Danish consent policy and the audit log: wrk reads of one
#    Observation and a selective search (one patient's Observations of one code), as a
#    practitioner (Practitioner/bench-doc), with 20 patients' Consents in force (10 block another
#    practitioner, 10 deny laboratory results to everyone: the per-resource path);
# 2. the same requests against --insecure-dev (no authorization, consent or audit);
# 3. audit records appended and bytes per record, and `sund audit verify`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/bin"
work="${BENCH_DIR:-/tmp/sund-bench}"
data="$work/data-json"
duration="${WRK_DURATION:-10s}"
[[ -d "$data" ]] || { echo "run bench/run.sh first (imports $data)" >&2; exit 1; }

echo "# consent and audit, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD)"
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null || true' EXIT
start_serve() {  # start_serve NAME [FLAGS...]
  local name="$1"
  shift
  rm -f "$work/$name.out"
  "$bin/sund" serve --data "$data" --port 0 "$@" > "$work/$name.out" 2> "$work/$name.err" &
  serve_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  url="$(sed -n 's/^sund listening on //p' "$work/$name.out")"
}
stop_serve() { kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""; }
rate() { wrk -t2 -c"${conns:-32}" -d"$duration" "$@" | sed -n 's/Requests\/sec: *//p'; }

start_serve consent
system="$("$bin/sund" token --data "$data" --system --aud "$url/fhir")"
doc="$("$bin/sund" token --data "$data" --user Practitioner/bench-doc --aud "$url/fhir")"
# Patients and the probe resources.
mapfile -t patients < <(curl -sf -H "Authorization: Bearer $system" "$url/fhir/Patient?_count=20&_elements=id" |
  grep -o '"resourceType":"Patient","id":"[^"]*"' | sed 's/.*"id":"//; s/"$//')
for i in "${!patients[@]}"; do
  p="${patients[$i]}"
  if ((i < 10)); then
    provision='{"type":"deny","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PRCP"}]},"reference":{"reference":"Practitioner/bench-blocked"}}]}'
  else
    provision='{"type":"deny","class":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}'
  fi
  curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $system" -H "Content-Type: application/fhir+json" \
    "$url/fhir/Consent/bench-$i" -d "{\"resourceType\":\"Consent\",\"id\":\"bench-$i\",\"status\":\"active\",\"scope\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/consentscope\",\"code\":\"patient-privacy\"}]},\"category\":[{\"text\":\"bench\"}],\"patient\":{\"reference\":\"Patient/$p\"},\"provision\":$provision}"
done
# A patient with a laboratory deny (the per-resource path) and one of their Observations.
probe_patient="${patients[12]}"
obs="$(curl -sf -H "Authorization: Bearer $system" "$url/fhir/Observation?subject=Patient/$probe_patient&category=vital-signs&_count=1" |
  grep -o '"resourceType":"Observation","id":"[^"]*"' | head -1 | sed 's/.*"id":"//; s/"$//')"
code="$(curl -sf -H "Authorization: Bearer $system" "$url/fhir/Observation/$obs" |
  grep -o '"code":{"coding":\[{"system":"http://loinc.org","code":"[^"]*"' | head -1 | sed 's/.*"code":"//; s/"$//')"
search="fhir/Observation?subject=Patient/$probe_patient&code=http://loinc.org%7C$code"
hits="$(curl -sf -H "Authorization: Bearer $doc" "$url/$search&_summary=count" | sed 's/.*"total":\([0-9]*\).*/\1/')"
echo "probe: Observation/$obs of Patient/$probe_patient; search by subject and LOINC $code ($hits matches)"
records_before="$("$bin/sund" audit verify --data "$data" | sed -n 's/.* intact: \([0-9]*\) records.*/\1/p')"
bytes_before="$(du -cb "$data"/audit.db* | tail -1 | cut -f1)"
read_on="$(rate -H "Authorization: Bearer $doc" "$url/fhir/Observation/$obs")"
# Each audit batch costs one fdatasync, so more concurrent requests (bigger batches) cost less
# each: the same read with 128 connections.
read_on_128="$(conns=128 rate -H "Authorization: Bearer $doc" "$url/fhir/Observation/$obs")"
search_on="$(rate -H "Authorization: Bearer $doc" "$url/$search")"
stop_serve
records_after="$("$bin/sund" audit verify --data "$data" | sed -n 's/.* intact: \([0-9]*\) records.*/\1/p')"
bytes_after="$(du -cb "$data"/audit.db* | tail -1 | cut -f1)"
start_serve insecure --insecure-dev
read_off="$(rate "$url/fhir/Observation/$obs")"
read_off_128="$(conns=128 rate "$url/fhir/Observation/$obs")"
search_off="$(rate "$url/$search")"
stop_serve
echo "read   (consent + audit): $read_on req/s; --insecure-dev: $read_off req/s; ratio $(echo "scale=2; $read_on / $read_off" | bc)"
echo "read, 128 connections:     $read_on_128 req/s; --insecure-dev: $read_off_128 req/s; ratio $(echo "scale=2; $read_on_128 / $read_off_128" | bc)"
echo "search (consent + audit): $search_on req/s; --insecure-dev: $search_off req/s; ratio $(echo "scale=2; $search_on / $search_off" | bc)"
appended=$((records_after - records_before))
echo "audit: $appended records appended during the three wrk runs ($(echo "scale=0; $appended / (3 * ${duration%s})" | bc)/s), $(( (bytes_after - bytes_before) / (appended > 0 ? appended : 1) )) bytes per record on disk (audit.db + WAL)"
"$bin/sund" audit verify --data "$data"
