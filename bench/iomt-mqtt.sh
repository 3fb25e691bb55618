#!/usr/bin/env bash
# IoMT ingestion over MQTT (issue #5): Debian's Mosquitto on loopback, configured by
# `sund iomt broker-config`; `sund iomt simulate` publishes a simulated day of 1,000 citizens
# (4 rounds an hour, 6-8 measurements a round: about 96,000 payloads, 580,000 measurements) as
# fast as the broker takes them. Two runs on the same messages:
#   1. the limit: Mosquitto delivering them to a QoS 1 subscriber (mosquitto_sub), no storage;
#   2. sund serve (authorization, consent, audit on) filing them into a fresh embedded store.
# Each prints measurements/s from the first publish to the last message received or stored.
#   3. latency at a sustained rate below capacity: the same 1,000 citizens in real time (a round
#      every 2 s each: about 3,000 measurements/s) for LATENCY_SECONDS (default 30); from each
#      measurement's time (the simulator publishes it then) to its Observation's commit
#      (meta.lastUpdated), read from the database with sqlite3: p50, p99, max.
# Usage: bench/iomt-mqtt.sh   (after make build; PATIENTS, default 1000; HOURS, default 24)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/bin"
work="$(mktemp -d /tmp/sund-mqtt-bench-XXXXXX)"
patients="${PATIENTS:-1000}"
hours="${HOURS:-24}"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$work"' EXIT
echo "# iomt over MQTT, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD), $patients citizens, $hours simulated hours"

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$bin/sund" iomt broker-config --dir "$work/broker" --port "$port" --simulator > "$work/urls" 2>/dev/null
gateway_url="$(sed -n 1p "$work/urls")"
simulator_url="$(sed -n 2p "$work/urls")"
gateway_password="$(echo "$gateway_url" | sed 's|mqtt://[^:]*:\([^@]*\)@.*|\1|')"
start_broker() {
  mosquitto -c "$work/broker/mosquitto.conf" &
  pids+=($!)
  sleep 0.3
}
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
# The simulation runs in simulated time 3,600 times faster than real time: every message is due
# at once and the simulator publishes as fast as the broker acknowledges (1,000 in flight).
simulate() {
  "$bin/sund" iomt simulate --mqtt "$simulator_url" --patients "$patients" --rate 4 \
    --deteriorating 1 --speed 360000 --duration "$(calc "$hours * 3600 / 360000")" "$@" 2>/dev/null
}

start_broker
# The same messages each time (seed 1); a first run with no subscriber counts them.
summary="$(simulate --seed 1 | tail -1)"
payloads="$(echo "$summary" | sed -n 's/simulate: \([0-9]*\) payloads, \([0-9]*\) measurements.*/\1/p')"
measurements="$(echo "$summary" | sed -n 's/simulate: \([0-9]*\) payloads, \([0-9]*\) measurements.*/\2/p')"
echo "messages: $payloads payloads, $measurements measurements ($summary)"

# 1. The limit: the broker alone, delivering to one QoS 1 subscriber.
mosquitto_sub -h 127.0.0.1 -p "$port" -u sund-gateway -P "$gateway_password" -q 1 -i bench-sub \
  -t 'sund/v1/devices/+/measurements' -C "$payloads" > /dev/null &
sub=$!
sleep 0.3
t0="$(now)"
simulate --seed 1 > /dev/null
wait "$sub"
t1="$(now)"
limit="$(calc "$measurements / ($t1 - $t0)")"
printf 'mosquitto to a QoS 1 subscriber: %.0f measurements/s (%.1f s)\n' "$limit" "$(calc "$t1 - $t0")"

# 2. sund serve filing them (authorization, consent and audit on).
SUND_MQTT="$gateway_url" "$bin/sund" serve --data "$work/data" --port 0 > "$work/out" 2> "$work/err" &
pids+=($!)
serve_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^sund listening on //p' "$work/out")"
token="$("$bin/sund" token --data "$work/data" --system --aud "$url/fhir")"
expected=$((measurements - payloads))  # blood pressure: one Observation for two measurements
t0="$(now)"
# With --url the citizens, hubs and assignments are set up first (about a second, counted).
simulate --seed 1 --url "$url" --token "$token" > /dev/null
t_published="$(now)"
stored=0
while ((stored < expected)); do
  sleep 2
  stored="$(curl -sf -H "Authorization: Bearer $token" \
    "$url/fhir/Observation?identifier=urn:sund:iomt%7C&_summary=count" | sed 's/.*"total":\([0-9]*\).*/\1/')"
  if ! kill -0 "$serve_pid" 2>/dev/null; then echo "sund serve died"; exit 1; fi
done
t1="$(now)"
rate="$(calc "$measurements / ($t1 - $t0)")"
rss="$(ps -o rss= -p "$serve_pid")"
printf 'sund over MQTT: %.0f measurements/s (%d Observations in %.1f s; publishing took %.1f s); ratio to the limit %.2f; RSS %d MB\n' \
  "$rate" "$stored" "$(calc "$t1 - $t0")" "$(calc "$t_published - $t0")" \
  "$(calc "$rate / $limit")" "$((rss / 1024))"
"$bin/sund" iomt rejected --data "$work/data" --count 1 | tail -1

# 3. Latency at a sustained rate.
seconds="${LATENCY_SECONDS:-30}"
t_start_ms="$(($(date +%s%3N)))"
"$bin/sund" iomt simulate --mqtt "$simulator_url" --patients "$patients" --rate 1800 --speed 1 \
  --duration "$seconds" --seed 2 2>/dev/null | tail -1
sleep 3
sqlite3 "$work/data/sund.db" "
  WITH l AS (
    SELECT v.last_updated / 1000.0 -
           (julianday(json_extract(v.json, '\$.effectiveDateTime')) - 2440587.5) * 86400000.0 AS ms
    FROM version v JOIN resource r ON r.rid = v.rid
    WHERE r.type = 'Observation' AND v.last_updated >= $t_start_ms * 1000
      AND json_extract(v.json, '\$.identifier[0].system') = 'urn:sund:iomt'),
  n AS (SELECT count(*) AS c FROM l)
  SELECT printf('publish to stored at about 3,000 measurements/s: %d Observations, p50 %.0f ms, p99 %.0f ms, max %.0f ms',
    (SELECT c FROM n),
    (SELECT ms FROM l ORDER BY ms LIMIT 1 OFFSET (SELECT c FROM n) / 2),
    (SELECT ms FROM l ORDER BY ms LIMIT 1 OFFSET (SELECT c FROM n) * 99 / 100),
    (SELECT max(ms) FROM l));"
