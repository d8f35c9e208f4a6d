#!/usr/bin/env bash
# The mirror-mouse study's suggest round (issue 26), planned before it is run, after
# studies/mirror_mouse/mouse_study.sh has run the 10-label cells:
#   - per seed, the 60 labelled frames in neither the test set nor the 10-label set are the pool
#     (their labels hidden: `semipose suggest` sees only the images; they play the labeller);
#   - `semipose suggest` with the 10-label supervised model (supervised_b10_s<seed>: one network,
#     so flip disagreement + low confidence) picks 10 of them; DRAWS seeded random draws of 10 are
#     the control;
#   - each 20-label set trains the same way: from that model, STEPS more supervised steps; plus the
#     control of no new labels (the same 10 labels, the same STEPS);
#   - the score: RMSE in pixels on the same 20 test frames; the compute per run in times.tsv.
#
#   bash studies/mirror_mouse/mouse_suggest.sh                 # SEEDS="0 1" DRAWS=2 STEPS=400
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=studies/mirror_mouse/mouse_lib.sh
source studies/mirror_mouse/mouse_lib.sh
draws=${DRAWS:-2}
for seed in ${SEEDS:-0 1}; do
  model="$out/supervised_b10_s$seed/checkpoints/last.pt"
  $PY studies/mirror_mouse/mouse_suggest.py pool "$data" --seed "$seed"
  if [ ! -f "$out/suggest_s$seed/scores.csv" ]; then
    $SP suggest "$model" "$data/pool_s$seed" --n 10 --out "$out/suggest_s$seed" --no-progress | tee "$out/suggest_s$seed.log"
  fi
  $PY studies/mirror_mouse/mouse_suggest.py sets "$data" --seed "$seed" --suggested "$out/suggest_s$seed/scores.csv" --draws "$draws"
  common=(seed="$seed" model.init_weights="$model" ssl.method=supervised train.max_steps="$steps")
  run "more-none_s$seed" "${common[@]}" data.train.ann_file="train_10_s$seed.json"
  run "more-suggested_s$seed" "${common[@]}" data.train.ann_file="train_20sug_s$seed.json"
  for d in $(seq 0 $((draws - 1))); do
    run "more-random${d}_s$seed" "${common[@]}" data.train.ann_file="train_20rand${d}_s$seed.json"
  done
done
echo "table: $out/times.tsv (name, seconds, test RMSE px)"
