#!/usr/bin/env bash
# The unlabelled crops from the trained finder vs from the labels (issue 32, item 5; docs/results.md,
# "Several animals in a frame"): MultiAugs with the EMA teacher at 50 labelled frames of the two-fly
# clip (test: frames 1200-1499, the same split as run.sh and `compare_study.sh flies`), its unlabelled
# set either every fly of frames 0-1199 cropped by its label box (--unlabeled pool) or every fly the
# finder of run.sh finds in frames 0-1199 (data.unlabeled.detector). Same steps, same start; each
# against its own supervised cell. Needs run.sh's finder first. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
SP=.venv/bin/semipose
OUT=${OUT:-runs/flies-pipeline}
proj=$OUT/project
finder=$(realpath "$OUT/finder/checkpoints/last.pt")
common=(model.arch=resnet18 model.pretrained=null data.input_size=[128,128] train.batch_size=8 train.unlabeled_batch_size=8
        data.workers=1 train.log_every=50 data.image_cache_mb=1024)
args=(--methods supervised,multiaugs-ema --budgets 50 --repeats 1 --test last:300 --steps "${STEPS:-1000}" --no-progress)
$SP compare "$proj/config.yaml" "${common[@]}" "${args[@]}" --unlabeled pool --out "$OUT/compare-pool" \
    --results studies/flies_pipeline/pool.jsonl
$SP compare "$proj/config.yaml" "${common[@]}" "data.unlabeled.videos=[$(realpath "$proj/images/clip.mp4")]" \
    "data.unlabeled.frame_range=[0,1200]" data.unlabeled.detector="$finder" "${args[@]}" --methods "${FINDER_LINES:-supervised,multiaugs-ema}" --unlabeled config \
    --out "$OUT/compare-finder" --results studies/flies_pipeline/finder.jsonl
