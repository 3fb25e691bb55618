#!/usr/bin/env bash
# Synthetic data (issue #7): speed, memory, fidelity and privacy of `sund synth`, in one run.
#   1. adult.csv (48,842 x 14, with its Private-PGM domain file) at epsilon 1, delta 1e-6, for
#      SEEDS seeds: wall time of `sund synth fit` and of `generate` (48,842 rows), each a whole
#      process; then `sund synth evaluate` against the whole table: 1-way and 2-way TVD. Next
#      to it the two non-private baselines (independent columns, Gaussian copula) and the noise
#      floor (one random half of adult against the other).
#   2. Generation at 1 thousand, 1 million and 10 million rows: wall time and peak RSS
#      (/usr/bin/time -f %M), to show that memory does not grow with the rows.
#   3. The clinical tables (pbc, colon, lung, pima_diabetes): a seeded 70/30 split into training
#      and holdout, MST at epsilon 1 and 10 and the independent baseline fitted on the training part,
#      as many rows generated, and evaluated with the holdout and a binary target: 2-way TVD,
#      TSTR against TRTR AUC, the DCR share and the membership-inference AUC.
# Usage: bench/synth.sh [SHARED_DIR]   (default ../shared; SEEDS, default 5)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${1:-$(cd "$here/.." && pwd)/shared}"
sund="$here/build/bin/sund"
tab="$shared/data/tabular"
seeds="${SEEDS:-5}"
[[ -x "$sund" ]] || { echo "bench/synth.sh: no $sund: run make build first" >&2; exit 1; }
[[ -f "$tab/adult.csv" ]] || { echo "bench/synth.sh: no $tab/adult.csv" >&2; exit 1; }
work="$(mktemp -d /tmp/sund-synth-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT

# seconds and peak KB of a command: "S KB"
timed() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2>&1; cat "$work/time"; }
# one figure of an evaluate --json output
fig() { sed -E "s/.*\"$1\":(null|[-0-9.e]+).*/\1/" "$2"; }

echo "== adult.csv, epsilon 1, delta 1e-6 (MST)"
printf "%-6s %8s %10s %8s %8s\n" seed fit_s generate_s tvd1 tvd2
for s in $(seq 1 "$seeds"); do
  read -r fit_s _ < <(timed "$sund" synth fit --csv "$tab/adult.csv" --schema "$tab/adult-domain.json" \
    --epsilon 1 --delta 1e-6 --seed "$s" --out "$work/mst$s.json")
  read -r gen_s _ < <(timed "$sund" synth generate --model "$work/mst$s.json" --rows 48842 \
    --seed "$s" --out "$work/mst$s.csv")
  "$sund" synth evaluate --real "$tab/adult.csv" --synthetic "$work/mst$s.csv" --json > "$work/e$s.json"
  printf "%-6s %8s %10s %8.4f %8.4f\n" "$s" "$fit_s" "$gen_s" "$(fig tvd1 "$work/e$s.json")" \
    "$(fig tvd2 "$work/e$s.json")"
done
for m in independent copula; do
  "$sund" synth fit --method $m --csv "$tab/adult.csv" --schema "$tab/adult-domain.json" \
    --out "$work/$m.json" > /dev/null
  "$sund" synth generate --model "$work/$m.json" --rows 48842 --out "$work/$m.csv" > /dev/null 2>&1
  "$sund" synth evaluate --real "$tab/adult.csv" --synthetic "$work/$m.csv" --json > "$work/e$m.json"
  printf "%-12s tvd1 %.4f tvd2 %.4f (not private)\n" "$m" "$(fig tvd1 "$work/e$m.json")" \
    "$(fig tvd2 "$work/e$m.json")"
done
# The noise floor: a seeded random half against the other half.
{
  head -1 "$tab/adult.csv"
  tail -n +2 "$tab/adult.csv" | awk 'BEGIN{srand(7)} {print rand() "\t" $0}' | sort -k1,1 | cut -f2-
} > "$work/shuffled.csv"
head -24422 "$work/shuffled.csv" > "$work/half1.csv"
{ head -1 "$tab/adult.csv"; tail -n +24423 "$work/shuffled.csv"; } > "$work/half2.csv"
"$sund" synth evaluate --real "$work/half1.csv" --synthetic "$work/half2.csv" --json > "$work/efloor.json"
printf "%-12s tvd1 %.4f tvd2 %.4f (half of the real rows against the other half)\n" "noise floor" \
  "$(fig tvd1 "$work/efloor.json")" "$(fig tvd2 "$work/efloor.json")"

echo
echo "== generation: time and peak memory by rows drawn (model of seed 1)"
for n in 1000 1000000 10000000; do
  read -r s kb < <(timed "$sund" synth generate --model "$work/mst1.json" --rows "$n" --out "$work/gen.csv")
  printf "%10s rows  %6s s  %7s KB peak  %s bytes\n" "$n" "$s" "$kb" "$(stat -c %s "$work/gen.csv")"
done
rm -f "$work/gen.csv"

echo
echo "== clinical tables: 70/30 split, MST at epsilon 1 and 10 (delta 1e-6), the non-private baseline"
printf "%-14s %-12s %7s %9s %9s %8s %8s\n" table method tvd2 tstr_auc trtr_auc dcr mia_auc
for spec in pbc:status:2 colon:status:1 lung:status:2 pima_diabetes:diabetes:pos; do
  IFS=: read -r name target positive <<< "$spec"
  f="$tab/$name.csv"
  rows=$(($(wc -l < "$f") - 1))
  ntrain=$((rows * 7 / 10))
  {
    tail -n +2 "$f" | awk 'BEGIN{srand(11)} {print rand() "\t" $0}' | sort -k1,1 | cut -f2-
  } > "$work/rows.csv"
  { head -1 "$f"; head -n "$ntrain" "$work/rows.csv"; } > "$work/train.csv"
  { head -1 "$f"; tail -n +"$((ntrain + 1))" "$work/rows.csv"; } > "$work/holdout.csv"
  "$sund" synth schema --csv "$f" --out "$work/schema.json" > /dev/null
  for run in mst:1 mst:10 independent:-; do
    IFS=: read -r m eps <<< "$run"
    "$sund" synth fit --method $m --csv "$work/train.csv" --schema "$work/schema.json" --seed 1 \
      --epsilon "${eps/-/1}" --out "$work/$name-$m.json" > /dev/null 2>&1
    "$sund" synth generate --model "$work/$name-$m.json" --rows "$ntrain" --seed 1 \
      --out "$work/$name-$m.csv" > /dev/null 2>&1
    "$sund" synth evaluate --real "$work/train.csv" --holdout "$work/holdout.csv" \
      --synthetic "$work/$name-$m.csv" --target "$target" --positive "$positive" --json \
      > "$work/e.json"
    label=$m
    [[ $eps != - ]] && label="$m e=$eps"
    printf "%-14s %-12s %7.4f %9.4f %9.4f %8.4f %8.4f\n" "$name" "$label" "$(fig tvd2 "$work/e.json")" \
      "$(fig tstr_auc "$work/e.json")" "$(fig trtr_auc "$work/e.json")" \
      "$(fig dcr_share "$work/e.json")" "$(fig mia_auc "$work/e.json")"
  done
done
