#!/usr/bin/env bash
# The mirror-mouse study (issue 26), planned before it is run:
#   - data: shared/data/mirror-mouse imported (`semipose data import --format dlc`); 20 test frames
#     spread over the project, label budgets of 10 and of all 70 other frames (studies/mirror_mouse/mouse_split.py);
#     the project's 994-frame video (every 5th frame) as the unlabelled set;
#   - for each seed and budget: a supervised warm-up of WARMUP steps from scratch, then from it
#     STEPS more steps of supervised, PoseCons, PoseDual and MultiAugs (JOCO + JCCM, PoseCons with
#     two paths), equal steps (train.max_steps), instance-relative hard views, EMA off;
#   - the score: RMSE in pixels on the 20 test frames (eval/metrics.json: rmse_px, pck10_px) of each
#     run's last.pt; the compute per run goes to <out>/times.tsv.
# Goal (issue 26): the best semi-supervised method cuts the test RMSE by >= 20 % at the small budget.
#
#   bash studies/mirror_mouse/mouse_study.sh                       # SEEDS="0 1" BUDGETS="10 70" WARMUP=600 STEPS=400
#   SEEDS=0 BUDGETS=10 WARMUP=2 STEPS=2 bash studies/mirror_mouse/mouse_study.sh   # a smoke run (minutes)
#   VIEWS=crop BUDGETS=10 bash studies/mirror_mouse/mouse_study.sh   # MultiAugs with the person-crop pixel sizes
#     (ssl.augment.size_relative_to: crop) from the same warm-ups: the crop-vs-instance comparison
#     (only the occlusion paths depend on it; the affine of PoseCons / PoseDual does not)
# A run already in times.tsv is skipped, so the same command continues an interrupted study.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=studies/mirror_mouse/mouse_lib.sh
source studies/mirror_mouse/mouse_lib.sh
src=${SHARED_DATA:-../shared/data}/mirror-mouse
warmup=${WARMUP:-600}
if [ ! -f "$data/annotations.json" ]; then
  $SP data import "$src/CollectedData.csv" --format dlc --out "$data"
  ln -sfn "$(cd "$src" && pwd)/videos" "$data/videos"
fi
$PY studies/mirror_mouse/mouse_split.py "$data" --budgets ${BUDGETS:-10 70} --seeds ${SEEDS:-0 1}
for seed in ${SEEDS:-0 1}; do
  for b in ${BUDGETS:-10 70}; do
    tag="b${b}_s${seed}"
    common=(seed="$seed" data.train.ann_file="train_${b}_s${seed}.json")
    if [ "${VIEWS:-instance}" = crop ]; then
      run "warmup_$tag" "${common[@]}" ssl.method=supervised train.max_steps="$warmup"
      run "multiaugs-crop_$tag" "${common[@]}" model.init_weights="$out/warmup_$tag/checkpoints/last.pt" \
        ssl.method=posecons "ssl.paths=[JOCO,JCCM]" ssl.augment.size_relative_to=crop train.max_steps="$steps"
      continue
    fi
    run "warmup_$tag" "${common[@]}" ssl.method=supervised train.max_steps="$warmup"
    init=model.init_weights="$out/warmup_$tag/checkpoints/last.pt"
    run "supervised_$tag" "${common[@]}" "$init" ssl.method=supervised train.max_steps="$steps"
    run "posecons_$tag" "${common[@]}" "$init" ssl.method=posecons "ssl.paths=[none]" train.max_steps="$steps"
    run "posedual_$tag" "${common[@]}" "$init" ssl.method=posedual "ssl.paths=[none]" train.max_steps="$steps"
    run "multiaugs_$tag" "${common[@]}" "$init" ssl.method=posecons "ssl.paths=[JOCO,JCCM]" train.max_steps="$steps"
  done
done
echo "table: $out/times.tsv (name, seconds, test RMSE px)"
