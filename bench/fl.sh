#!/usr/bin/env bash
# Federated learning (issue #8, first figures): `sund fl simulate` on pima_diabetes.csv, a
# coordinator and N nodes as separate processes on loopback over mutual TLS, with and without
# secure aggregation, split evenly and label-skewed (Dirichlet 0.5). Prints simulate's JSON
# (held-out AUC: federated, pooled, nodes alone; rounds; bytes per node; wall seconds including
# the processes' start-up) and the coordinator's peak RSS.
# Usage: bench/fl.sh [SHARED_DIR]   (NODES, default 5)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${1:-$(cd "$here/.." && pwd)/shared}"
sund="$here/build/bin/sund"
nodes="${NODES:-5}"
[[ -x "$sund" ]] || { echo "bench/fl.sh: no $sund: run make build first" >&2; exit 1; }
work="$(mktemp -d /tmp/sund-fl-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
sed 's/"secure_aggregation": true/"secure_aggregation": false/' "$here/examples/fl/logistic.json" \
  > "$work/plain.json"
for task in "$here/examples/fl/logistic.json" "$work/plain.json"; do
  for split in iid label-skew:0.5; do
    /usr/bin/time -f "%e s, peak RSS of simulate %M KB" -o "$work/time" \
      "$sund" fl simulate --csv "$shared/data/tabular/pima_diabetes.csv" --task "$task" \
      --nodes "$nodes" --split "$split" --json 2> /dev/null | tail -1
    cat "$work/time"
  done
done
