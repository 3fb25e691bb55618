#!/usr/bin/env bash
# Cell-image analysis (issue #6): speed, accuracy and memory of `sund cells`, each next to its
# peer, in one run on this machine. Builds nothing (run `make build` first).
#   1. CellProfiler's ExampleHuman pipeline (examples/cells/examplehuman.json, three 512x512
#      channels): wall time of `sund cells analyze`, best and median of RUNS runs, against
#      CellProfiler 4.0.6's own figure (the sum of the ExecutionTime_* columns of the shared
#      Image.csv) and against scikit-image doing the same classical steps
#      (bench/cells_peer.py examplehuman), timed the same way.
#   2. DSB2018's 80 held-out fluorescence images (test split of examples/cells/dsb2018-split.csv):
#      images/s of `sund cells analyze --no-overlays` (segmentation and every measurement) and
#      of `sund cells eval` (segmentation and scoring), with AP@0.5, against scikit-image's Otsu,
#      distance-transform watershed and regionprops on the same images, scored the same way
#      (bench/cells_peer.py dsb). The goal of #6: >= 20 images/s.
#   3. The CNN (unet2d-nuclei-broad, OpenCV dnn, tiled): `sund cells eval --model` on the test
#      split, in images/s and megapixels/s; and the same model on the large image of step 4.
#   4. Peak RSS (/usr/bin/time -f %M) of `sund cells analyze` on a synthetic BIG x BIG 16-bit
#      TIFF of bright discs on noise (bench/cells_peer.py synth): the default classical pipeline,
#      then with --model unet2d-nuclei-broad (minutes: progress every 30 s).
# Timing: hyperfine where installed, else a loop with /usr/bin/time. Each sund and peer run is a
# whole process (start-up and imports counted); their own in-process figures are printed too.
# Usage: bench/cells.sh [SHARED_DIR]   (default ../shared; RUNS, default 5; BIG, default 10000;
#   PYTHON, default /usr/bin/python3, Debian's interpreter with python3-skimage)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${1:-$(cd "$here/.." && pwd)/shared}"
bin="$here/build/bin"
py="${PYTHON:-/usr/bin/python3}"
peer="$here/bench/cells_peer.py"
runs="${RUNS:-5}"
big="${BIG:-10000}"
examplehuman="$shared/data/cellprofiler-examplehuman"
dsb="$shared/data/nuclei-dsb2018"
split="$here/examples/cells/dsb2018-split.csv"
model=unet2d-nuclei-broad

fail() {
  echo "bench/cells.sh: $*" >&2
  exit 1
}
[[ -x "$bin/sund" ]] || fail "no $bin/sund: run make build first"
[[ -f "$examplehuman/Image.csv" && -f "$dsb/manifest.csv" ]] || fail "no cell data under $shared/data"
"$py" -c 'import skimage, scipy, numpy, tifffile' 2> /dev/null ||
  fail "$py lacks scikit-image, scipy, numpy or tifffile (apt-get install python3-skimage)"
"$bin/sund" cells models show "$model" > /dev/null || fail "model $model not found"

work="$(mktemp -d /tmp/sund-cells-bench-XXXXXX)"
watched=""
cleanup() {
  if [[ -n "$watched" ]]; then kill "$watched" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# time_runs NAME N CMD...: runs CMD N times, each a whole process; appends every run's stdout
# and stderr to $work/NAME.out and its wall seconds, one a line, to $work/NAME.s; fails if a run
# fails.
time_runs() {
  local name="$1" n="$2"
  shift 2
  : > "$work/$name.out"
  if command -v hyperfine > /dev/null; then
    hyperfine --style none --runs "$n" --export-json "$work/$name.json" \
      "$(printf '%q ' "$@") >> $work/$name.out 2>&1" > /dev/null ||
      fail "$name failed: $(tail -5 "$work/$name.out")"
    "$py" -c 'import json, sys; print(*json.load(open(sys.argv[1]))["results"][0]["times"], sep="\n")' \
      "$work/$name.json" > "$work/$name.s"
  else
    : > "$work/$name.s"
    for _ in $(seq "$n"); do
      /usr/bin/time -f %e -o "$work/time" "$@" >> "$work/$name.out" 2>&1 ||
        fail "$name failed: $(tail -5 "$work/$name.out")"
      cat "$work/time" >> "$work/$name.s"
    done
  fi
}
# stats: numbers on stdin -> "best B, median M (N runs)"; best_of/median_of: one of them.
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "best %.2f s, median %.2f s (%d runs)", v[1], m, NR }'
}
best_of() { sort -g | head -1; }
median_of() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
# in_process NAME: sund's own "in S s" figures of every run of NAME.
in_process() { sed -n 's/^analyzed .* in \([0-9.]*\) s .*/\1/p; s/^[0-9]* images in \([0-9.]*\) s .*/\1/p' "$work/$1.out"; }

timer="hyperfine"
command -v hyperfine > /dev/null || timer="a loop with /usr/bin/time (hyperfine not installed)"
echo "# sund cells benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(git -C "$here" rev-parse --short HEAD)$([[ -z "$(git -C "$here" status --porcelain -- src apps)" ]] || echo '+uncommitted')," \
  "scikit-image $("$py" -c 'import skimage; print(skimage.__version__)'); timing: $timer"

echo "## 1. ExampleHuman (CellProfiler's example pipeline, 3 x 512x512 8-bit channels)"
time_runs eh "$runs" "$bin/sund" cells analyze --images "$examplehuman" \
  --pattern '^(?P<Plate>.*)_(?P<Well>[A-P][0-9]{2})f(?P<Site>[0-9]{2})d(?P<Channel>[0-9])' \
  --channels 0=DNA,1=PH3,2=cellbody --pipeline "$here/examples/cells/examplehuman.json" \
  --out "$work/examplehuman"
counts="$(grep -E '^  (Nuclei|PH3|Cells) ' "$work/eh.out" | tail -3 | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')"
echo "sund cells analyze, whole process: $(stats < "$work/eh.s"); in process: $(in_process eh | stats); $counts"
"$py" - "$examplehuman/Image.csv" << 'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
t = {k[len("ExecutionTime_"):]: float(v) for k, v in row.items() if k.startswith("ExecutionTime_")}
top = ", ".join(f"{k[2:]} {v:.2f}" for k, v in sorted(t.items(), key=lambda kv: -kv[1])[:6])
print(f"CellProfiler 4.0.6 (its Image.csv, sum of ExecutionTime_*): {sum(t.values()):.2f} s "
      f"(Nuclei {float(row['Count_Nuclei']):.0f}, PH3 {float(row['Count_PH3']):.0f}); largest: {top}")
EOF
time_runs eh_peer "$runs" "$py" "$peer" examplehuman "$examplehuman" 1
echo "scikit-image, whole process: $(stats < "$work/eh_peer.s");" \
  "in process: $(sed -n 's/^best: //p' "$work/eh_peer.out" | stats); $(sed -n 's/^objects: //p' "$work/eh_peer.out" | tail -1)"

echo "## 2. DSB2018 test split (80 fluorescence images, classical pipeline)"
mkdir -p "$work/test"
mapfile -t ids < <(awk -F, '$2 == "test" { print $1 }' "$split")
for id in "${ids[@]}"; do ln -s "$dsb/images/$id.png" "$work/test/$id.png"; done
n="${#ids[@]}"
megapixels="$("$py" - "$dsb/manifest.csv" "${ids[@]}" << 'EOF'
import csv, sys
size = {r["id"]: int(r["width"]) * int(r["height"]) for r in csv.DictReader(open(sys.argv[1]))}
print(f"{sum(size[i] for i in sys.argv[2:]) / 1e6:.2f}")
EOF
)"
echo "images: $n, $megapixels megapixels"
rate() {  # rate NAME: images/s over the whole process (best, median) and in process (median)
  printf 'best %s images/s, median %s (whole process); in process median %s images/s' \
    "$(calc "$n / $(best_of < "$work/$1.s")")" "$(calc "$n / $(median_of < "$work/$1.s")")" \
    "$(calc "$n / $(in_process "$1" | median_of)")"
}
time_runs dsb_analyze "$runs" "$bin/sund" cells analyze --images "$work/test" --out "$work/dsb-analyze" --no-overlays
echo "sund cells analyze --no-overlays: $(rate dsb_analyze); $(grep -E '^  Nuclei' "$work/dsb_analyze.out" | tail -1 | awk '{ print $2 }') nuclei"
time_runs dsb_analyze1 3 "$bin/sund" cells analyze --images "$work/test" --out "$work/dsb-analyze1" --no-overlays --threads 1
echo "the same, --threads 1: $(rate dsb_analyze1)"
time_runs dsb_eval "$runs" "$bin/sund" cells eval --images "$dsb/images" --labels "$dsb/labels" --split "$split" --set test
echo "sund cells eval: $(rate dsb_eval); $(grep -E 'AP@0.5 |AP@0.5:0.95|F1@0.5|count error' "$work/dsb_eval.out" | tail -4 | sed 's/^ *//; s/  */ /g' | paste -sd ';' | sed 's/;/; /g')"
goal="$(awk -v r="$(calc "$n / $(median_of < "$work/dsb_analyze.s")")" 'BEGIN { print (r >= 20 ? "met" : "NOT met") }')"
echo "goal of #6, >= 20 images/s (analyze, whole process, median): $goal"
time_runs dsb_peer 1 "$py" "$peer" dsb "$dsb/images" "$dsb/labels" "$split" test
echo "scikit-image (one process, $(sed -n 's/.*min_distance/min_distance/p' "$work/dsb_peer.out")):" \
  "$(sed -n 's/^images\/s: //p' "$work/dsb_peer.out") images/s with regionprops" \
  "($(sed -n 's/^ms\/image: //p' "$work/dsb_peer.out") ms/image), segmentation only" \
  "$(sed -n 's/^segmentation only: .* s, //p' "$work/dsb_peer.out"), whole process $(calc "$n / $(cat "$work/dsb_peer.s")") images/s;" \
  "AP@0.5 $(sed -n 's/^AP@0.5: //p' "$work/dsb_peer.out"); AP@0.5:0.95 $(sed -n 's/^AP@0.5:0.95: //p' "$work/dsb_peer.out"); F1@0.5 $(sed -n 's/^F1@0.5: //p' "$work/dsb_peer.out");" \
  "count error $(sed -n 's/^count error: //p' "$work/dsb_peer.out")"

echo "## 3. CNN ($model, OpenCV dnn on the CPU) on the test split"
time_runs cnn_eval 1 "$bin/sund" cells eval --images "$dsb/images" --labels "$dsb/labels" --split "$split" --set test --model "$model"
cnn_s="$(in_process cnn_eval)"
echo "sund cells eval --model: $(calc "$n / $cnn_s") images/s, $(calc "$megapixels / $cnn_s" 2) megapixels/s in process" \
  "($(calc "$cnn_s" 2) s; whole process $(calc "$(cat "$work/cnn_eval.s")" 2) s); $(grep -E 'AP@0.5 ' "$work/cnn_eval.out" | sed 's/^ *//; s/  */ /g')"

echo "## 4. one ${big}x${big} 16-bit image: peak memory (and the CNN on a large image)"
mkdir -p "$work/big"
"$py" "$peer" synth "$work/big/synthetic-$big.tif" "$big"
# peak NAME ARGS...: sund cells analyze on the large image under /usr/bin/time -f %M, progress
# every 30 s; prints the wall time, peak RSS, objects and the step times of its Image.csv.
peak() {
  local name="$1"
  shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$bin/sund" cells analyze --images "$work/big" \
    --out "$work/$name" --no-overlays "$@" > "$work/$name.out" 2>&1 &
  watched=$!
  local start=$SECONDS next=30
  while kill -0 "$watched" 2> /dev/null; do
    sleep 1
    if ((SECONDS - start >= next)); then
      next=$((next + 30))
      local child rss=""
      child="$(pgrep -P "$watched" | head -1 || true)"
      [[ -n "$child" ]] && rss="$(awk '/VmRSS/ { printf ", RSS %d MB", $2 / 1024 }' "/proc/$child/status" 2> /dev/null || true)"
      echo "  ... $name: $((SECONDS - start)) s$rss"
    fi
  done
  wait "$watched" || fail "$name failed: $(tail -5 "$work/$name.out")"
  watched=""
  read -r wall kib < "$work/$name.time"
  "$py" - "$work/$name/Image.csv" "$name" "$wall" "$kib" "$big" << 'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
name, wall, kib, big = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
steps = {k[len("ExecutionTime_") + 2:]: float(v) for k, v in row.items() if k.startswith("ExecutionTime_")}
first = next(iter(steps))  # one step of each kind in the default pipeline
print(f"{name}: peak RSS {kib / 1024:,.0f} MB ({kib * 1024 / big**2:.1f} bytes/pixel), {wall:.1f} s wall, "
      f"{row['Count_Nuclei']} nuclei; " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) +
      f"; {first}: {big**2 / 1e6 / steps[first]:.2f} megapixels/s")
EOF
}
peak classical
peak cnn --model "$model"
