#!/usr/bin/env bash
# The mirror-mouse study's follow-up (issue 26: "find out what makes them help here"), planned
# before it is run: at the small budget (10 labels), from each seed's supervised warm-up, MultiAugs
# (PoseCons with JOCO + JCCM, instance-relative views: the best mean at 10 labels) with one change
# each, at the same STEPS:
#   ema   the EMA teacher (ssl.teacher: ema, decay 0.999 warmed up), evaluated as the teacher
#   mask  teacher joints with a heatmap peak below 0.5 left out of the consistency loss
# The score and the compute per run go to times.tsv, as in scripts/mouse_study.sh.
#
#   bash scripts/mouse_variants.sh                # SEEDS="0 1" STEPS=400 VARIANTS="ema mask"
set -euo pipefail
cd "$(dirname "$0")/.."
SP=.venv/bin/semipose
PY=.venv/bin/python
data=${DATA:-data/mirror-mouse}
out=${OUT:-runs/mouse-study}
steps=${STEPS:-400}
declare -A changes=(
  [ema]="ssl.teacher=ema ssl.select=ema"
  [mask]="ssl.conf_masking=true ssl.conf_thresh=0.5"
)
touch "$out/times.tsv"
for seed in ${SEEDS:-0 1}; do
  for v in ${VARIANTS:-ema mask}; do
    name="multiaugs-${v}_b10_s$seed"
    if grep -q "^$name	" "$out/times.tsv"; then continue; fi
    t0=$(date +%s)
    # shellcheck disable=SC2086
    $SP train configs/mouse/mirror_mouse.yaml --run-dir "$out/$name" --overwrite --no-progress data.root="$data" seed="$seed" \
      data.train.ann_file="train_10_s$seed.json" model.init_weights="$out/warmup_b10_s$seed/checkpoints/last.pt" \
      ssl.method=posecons "ssl.paths=[JOCO,JCCM]" train.max_steps="$steps" ${changes[$v]} > "$out/$name.log" 2>&1
    rmse=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['rmse_px'])" "$out/$name/eval/metrics.json")
    printf '%s\t%s\t%s\n' "$name" "$(( $(date +%s) - t0 ))" "$rmse" >> "$out/times.tsv"
    echo "$name: $(( $(date +%s) - t0 )) s, test RMSE $rmse px"
  done
done
