#!/usr/bin/env bash
# Federated learning and statistics (issue #8): `sund fl simulate`, a coordinator and N nodes as
# separate processes on loopback over mutual TLS, on the clinical tables, with and without secure
# aggregation, split evenly and label-skewed (Dirichlet 0.5); then `sund stats` over 3 nodes.
# Prints one line per run: simulate's JSON (held-out AUC or C-index: federated, pooled, nodes
# alone; rounds; rounds to reach the pooled AUC within 0.01; bytes per node; seconds per round
# as the coordinator measures it; the whole run's wall seconds including process start-up; the
# coordinator's peak RSS) and scikit-learn's LogisticRegression on the same rows.
# Usage: bench/fl.sh [SHARED_DIR]   (NODES, default 5; PYTHON, default /usr/bin/python3)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${1:-$(cd "$here/.." && pwd)/shared}"
sund="$here/build/bin/sund"
nodes="${NODES:-5}"
py="${PYTHON:-/usr/bin/python3}"
[[ -x "$sund" ]] || { echo "bench/fl.sh: no $sund: run make build first" >&2; exit 1; }
work="$(mktemp -d /tmp/sund-fl-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
tab="$shared/data/tabular"
plain() { sed 's/"secure_aggregation": true/"secure_aggregation": false/' "$1" > "$work/plain-$(basename "$1")"; echo "$work/plain-$(basename "$1")"; }

echo "# baseline: peak RSS of 'sund --help' (the binary and its libraries): $(/usr/bin/time -f %M "$sund" --help 2>&1 >/dev/null | tail -1) KB"
run() {  # CSV TASK SPLIT [sklearn]
  local label="$(basename "$1" .csv) $(basename "$2" .json) $3"
  local json
  json="$("$sund" fl simulate --csv "$1" --task "$2" --nodes "$nodes" --split "$3" --out "$work/out" --json 2>/dev/null | tail -1)"
  echo "$label: $json"
  if [[ "${4:-}" == sklearn ]]; then echo "$label: $("$py" "$here/bench/fl_sklearn.py" "$work/out" | sed 's/, "sklearn_coef": \[[^]]*\]//')"; fi
}
for split in iid label-skew:0.5; do
  run "$tab/pima_diabetes.csv" "$here/examples/fl/logistic.json" "$split" sklearn
  run "$tab/pima_diabetes.csv" "$(plain "$here/examples/fl/logistic.json")" "$split"
  run "$tab/colon.csv" "$here/examples/fl/colon-logistic.json" "$split" sklearn
  run "$tab/pima_diabetes.csv" "$here/examples/fl/mlp.json" "$split"
  run "$tab/pima_diabetes.csv" "$here/examples/fl/logistic-dp.json" "$split"
  run "$tab/colon.csv" "$here/examples/fl/cox.json" "$split"
  run "$tab/colon.csv" "$(plain "$here/examples/fl/cox.json")" "$split"
done

# Federated statistics: colon split over 3 nodes, secure aggregation, against the pooled figures.
"$sund" fl certs --out "$work/pki" --nodes a,b,c > /dev/null
"$py" - "$tab/colon.csv" "$work" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
for i, n in enumerate("abc"):
    w = csv.writer(open(f"{sys.argv[2]}/{n}.csv", "w")); w.writerow(rows[0]); w.writerows(rows[1:][i::3])
PY
port=$((20000 + RANDOM % 20000))
start=$(date +%s.%N)
"$sund" stats --query "$here/examples/fl/stats-colon.json" --coordinator "127.0.0.1:$port" \
  --certs "$work/pki" --allow a,b,c --out "$work/fed.json" > /dev/null 2>&1 &
coordinator=$!
for n in a b c; do
  "$sund" fl node --coordinator "127.0.0.1:$port" --certs "$work/pki" --name "$n" --csv "$work/$n.csv" > /dev/null 2>&1 &
done
wait
end=$(date +%s.%N)
"$sund" stats --query "$here/examples/fl/stats-colon.json" --csv "$tab/colon.csv" > "$work/pooled.json"
"$py" - "$work/fed.json" "$work/pooled.json" "$start" "$end" <<'PY'
import json, sys
fed, pooled = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
nodes = fed.pop("nodes")
print(f"stats colon-overview: {nodes} nodes, secure aggregation, "
      f"{'equal to' if fed == pooled else 'DIFFERENT from'} the pooled figures, "
      f"{float(sys.argv[4]) - float(sys.argv[3]):.2f} s wall (4 processes)")
PY
