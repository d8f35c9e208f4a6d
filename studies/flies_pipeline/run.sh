#!/usr/bin/env bash
# Several animals in a frame, end to end on ../shared/data/sleap-flies (issue 32; the numbers:
# docs/results.md, "Several animals in a frame"). From 50 labelled frames (test: frames 1200-1499,
# which no training touches; the final weights are scored, nothing is selected on them):
#   1. import the clip (annotations, config.yaml for the pose model, finder.yaml for the finder);
#   2. train the instance finder and the pose model (from scratch: no ImageNet weights offline);
#   3. score the pipeline on the test frames: finder boxes vs the label boxes (semipose eval --detector);
#   4. predict the whole clip (finder + pose model + tracker) and count identity switches against
#      the file's tracks, with the tracker off beside it (identities.py).
# Run from the repository root:  bash studies/flies_pipeline/run.sh   (OUT, STEPS to change)
set -euo pipefail
cd "$(dirname "$0")/../.."
SP=.venv/bin/semipose
PY=.venv/bin/python
DATA=${SEMIPOSE_SAMPLE_DATA:-../shared/data}
OUT=${OUT:-runs/flies-pipeline}
STEPS=${STEPS:-2000}
proj=$OUT/project
[ -f "$proj/finder.yaml" ] || $SP data import "$DATA/sleap-flies/clip.slp" --format sleap --out "$proj"
$PY studies/flies_pipeline/split.py "$proj" 50
both=(data.train.ann_file=train50.json data.val.ann_file=train50.json model.pretrained=null train.max_steps=$STEPS
      "train.lr_step_iters=[$((STEPS * 3 / 4))]" train.val_every=100 data.workers=1 output_dir=$OUT --no-progress)
[ -f "$OUT/finder/checkpoints/last.pt" ] || $SP train "$proj/finder.yaml" name=finder "${both[@]}"
[ -f "$OUT/pose/checkpoints/last.pt" ] || $SP train "$proj/config.yaml" name=pose model.arch=resnet18 "${both[@]}"
$SP eval "$proj/config.yaml" data.val.ann_file=test.json --checkpoint "$OUT/pose/checkpoints/last.pt" \
    --detector "$OUT/finder/checkpoints/last.pt" --out "$OUT/eval-test" --no-progress
$SP predict "$OUT/pose/checkpoints/last.pt" "$proj/images/clip.mp4" --detector "$OUT/finder/checkpoints/last.pt" \
    --out "$OUT/predict" --no-progress
$PY studies/flies_pipeline/identities.py "$OUT/predict" "$proj/annotations.json"
