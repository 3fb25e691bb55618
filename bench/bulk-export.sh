#!/usr/bin/env bash
# Bulk Data $export (docs/bulk-data.md) on the Synthea population: `sund import` into a fresh data
# directory, `sund serve` with authorization, consent and the audit log (as in production), then
# each export below kicked off with a system/ token, polled every 20 ms until its manifest, and
# its files downloaded. Prints resources, files, seconds and resources/s per export (wall time
# from the kick-off to the manifest, and the server's own figure from its log).
# Usage: bench/bulk-export.sh   (after make build; SUND_TEST_DATA, default ../shared/data)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/bin"
data="${SUND_TEST_DATA:-$here/../shared/data}/synthea"
work="$(mktemp -d /tmp/sund-export-bench-XXXXXX)"
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT
echo "# bulk export, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$here" rev-parse --short HEAD)"
# SUND_DB=postgresql://.../DB runs it on PostgreSQL (DB and DB_ndjson must exist and be empty).
db=(); db_ndjson=()
if [[ -n "${SUND_DB:-}" ]]; then db=(--db "$SUND_DB"); db_ndjson=(--db "${SUND_DB}_ndjson"); fi
echo "# store: ${SUND_DB:+PostgreSQL}${SUND_DB:-SQLite}" | sed 's|postgresql://.*||'
# SYNTHEA_JSON=DIR: the uncompressed bundles (as bench/run.sh makes them), so that the bundle
# import and the NDJSON import below compare like with like.
if [[ -n "${SYNTHEA_JSON:-}" ]]; then
  mapfile -t files < <(ls "$SYNTHEA_JSON"/*.json | sort)
else
  mapfile -t files < <(ls "$data"/*.json* | sort)
fi
/usr/bin/time -f "# import of the bundles: %e s wall, peak RSS %M KB" \
  "$bin/sund" import --data "$work/data" "${db[@]}" --no-progress "${files[@]}"
"$bin/sund" serve --data "$work/data" "${db[@]}" --port 0 > "$work/out" 2> "$work/err" &
serve_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^sund listening on //p' "$work/out")"
token="$("$bin/sund" token --data "$work/data" --system --aud "$url/fhir")"
mkdir -p "$work/ndjson"
/usr/bin/python3 - "$url/fhir" "$token" "$work/err" "$work/ndjson" <<'PY'
import json, os, re, sys, time, urllib.parse, urllib.request
base, token, errlog, keep = sys.argv[1:5]
auth = {'Authorization': 'Bearer ' + token}
def req(method, url, body=None, headers={}):
    r = urllib.request.Request(url, data=body, method=method, headers={**auth, **headers})
    try:
        with urllib.request.urlopen(r) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
_, _, b = req('GET', base + '/Patient?_count=10&_elements=id')
group = {'resourceType': 'Group', 'id': 'bench-10', 'type': 'person', 'actual': True,
         'member': [{'entity': {'reference': 'Patient/' + e['resource']['id']}}
                    for e in json.loads(b)['entry']]}
assert req('PUT', base + '/Group/bench-10', json.dumps(group).encode(),
           {'Content-Type': 'application/fhir+json'})[0] in (200, 201)
print('| export | resources | files | kick-off to manifest | resources/s | server log | download |')
print('|---|---|---|---|---|---|---|')
for path in ['/$export', '/Patient/$export', '/Group/bench-10/$export', '/$export?_type=Observation',
             '/$export?_type=Observation&_typeFilter=' +
             urllib.parse.quote('Observation?code=http://loinc.org|8867-4')]:
    t0 = time.time()
    s, h, b = req('GET', base + path, headers={'Prefer': 'respond-async'})
    assert s == 202, (s, b)
    while True:
        s, _, b = req('GET', h['Content-Location'])
        if s != 202:
            break
        time.sleep(0.02)
    dt = time.time() - t0
    assert s == 200, (s, b)
    m = json.loads(b)
    n = sum(o['count'] for o in m['output'])
    t1 = time.time()
    size = 0
    for i, o in enumerate(m['output']):
        body = req('GET', o['url'])[2]
        size += len(body)
        if path == '/$export':  # kept for the NDJSON import below
            with open(os.path.join(keep, f'{i:04d}-{o["type"]}.ndjson'), 'wb') as f:
                f.write(body)
    dl = time.time() - t1
    own = re.findall(r'completed, (\d+) resources in ([\d.]+) s', open(errlog).read())[-1]
    print(f'| `{urllib.parse.unquote(path)}` | {n:,} | {len(m["output"])} | {dt:.2f} s | '
          f'{n / dt:,.0f} | {own[1]} s | {size / 1e6:.0f} MB in {dl:.2f} s |')
PY
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=""
echo "# the system export's NDJSON files imported into an empty store (sund import):"
"$bin/sund" import --data "$work/data-ndjson" "${db_ndjson[@]}" --no-progress "$work"/ndjson/*.ndjson | tail -1
