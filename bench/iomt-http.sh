#!/usr/bin/env bash
# IoMT ingestion over HTTP (issue #5): a fresh `sund serve` with authorization, consent and the
# audit log; 100 patients, each with a Device; wrk posts payloads of 10 measurements (pulse,
# SpO2, respiration, temperature, blood pressure, at two times), each request a new time, so
# every measurement is stored (no duplicates). Prints measurements/s and the Observations
# stored. Usage: bench/iomt-http.sh   (after make build; WRK_DURATION, default 10s)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/bin"
work="$(mktemp -d /tmp/sund-iomt-bench-XXXXXX)"
duration="${WRK_DURATION:-10s}"
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT
echo "# iomt over HTTP, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD)"
"$bin/sund" serve --data "$work/data" --port 0 > "$work/out" 2> "$work/err" &
serve_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^sund listening on //p' "$work/out")"
token="$("$bin/sund" token --data "$work/data" --system --aud "$url/fhir")"
auth="Authorization: Bearer $token"
for i in $(seq 0 99); do
  pid="$(curl -sf -X POST -H "$auth" -H 'Content-Type: application/fhir+json' "$url/fhir/Patient" \
    -d '{"resourceType":"Patient","name":[{"family":"Benchmåler"}]}' | sed 's/.*"id":"\([^"]*\)".*/\1/')"
  curl -sf -o /dev/null -X POST -H "$auth" -H 'Content-Type: application/fhir+json' "$url/fhir/Device" \
    -d "{\"resourceType\":\"Device\",\"identifier\":[{\"system\":\"urn:sund:device\",\"value\":\"bench-$i\"}],\"patient\":{\"reference\":\"Patient/$pid\"}}"
done
cat > "$work/post.lua" <<'LUA'
-- Each wrk thread takes its own share of the times, so no two requests repeat a measurement.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local n = 0
local base = os.time() - 86400 * 30
request = function()
  n = n + 1
  local slot = n * 2 + id  -- two wrk threads
  local t1 = os.date("!%Y-%m-%dT%H:%M:%SZ", base + slot * 2)
  local t2 = os.date("!%Y-%m-%dT%H:%M:%SZ", base + slot * 2 + 1)
  local m = ""
  for _, t in ipairs({t1, t2}) do
    m = m .. string.format([[{"code":{"system":"mdc","code":"149530"},"value":%d,"unit":"/min","time":"%s"},
{"code":{"system":"mdc","code":"150456"},"value":96,"unit":"%%","time":"%s"},
{"code":{"system":"mdc","code":"151562"},"value":16,"unit":"/min","time":"%s"},
{"code":{"system":"mdc","code":"150364"},"value":37.1,"unit":"Cel","time":"%s"},
{"code":{"system":"mdc","code":"150021"},"value":125,"unit":"mm[Hg]","time":"%s"},
{"code":{"system":"mdc","code":"150022"},"value":80,"unit":"mm[Hg]","time":"%s"},]], 60 + n % 40, t, t, t, t, t, t)
  end
  m = m:sub(1, -2)
  local body = string.format('{"device":"bench-%d","measurements":[%s]}', slot % 100, m)
  return wrk.format("POST", "/iomt/v1/measurements",
                    {["Content-Type"] = "application/json",
                     ["Authorization"] = "Bearer " .. os.getenv("SUND_TOKEN")}, body)
end
LUA
rate="$(SUND_TOKEN="$token" wrk -t2 -c16 -d"$duration" -s "$work/post.lua" "$url" |
  sed -n 's/Requests\/sec: *//p')"
stored="$(curl -sf -H "$auth" "$url/fhir/Observation?_summary=count" | sed 's/.*"total":\([0-9]*\).*/\1/')"
rejected="$("$bin/sund" iomt rejected --data "$work/data" --count 1 | tail -1)"
echo "payloads: $rate/s of 12 measurements (10 Observations: blood pressure is one) = $(echo "$rate * 12" | bc) measurements/s"
echo "Observations stored: $stored; dead letters: $rejected"
