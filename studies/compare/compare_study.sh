#!/usr/bin/env bash
# The "does the unlabelled video help?" study (issue 31; the plan and the results: docs/results.md,
# "Does the unlabelled video help?"). Run from the repository root:
#
#   bash studies/compare/compare_study.sh mouse [--dry-run]     # mirror-mouse: 3 folds, 10 and all labels
#   bash studies/compare/compare_study.sh flies [--dry-run]     # sleap-flies: test = frames 1200-1499, 10 and 50 labels
#   bash studies/compare/compare_study.sh mouse-suggest         # the suggest study (studies/compare/suggest_study.py)
#
# Each finished cell is appended to studies/compare/<project>/cells.jsonl (committed), so the study
# resumes where it stopped, on any machine, without its run folders (OUT, default runs/compare-<project>).
# LINES overrides the lines (default below); extra arguments go to `semipose compare`.
set -euo pipefail
cd "$(dirname "$0")/../.."
SP=.venv/bin/semipose
DATA=${SEMIPOSE_SAMPLE_DATA:-../shared/data}
project=${1:?give mouse or flies}; shift
# from scratch (offline: no ImageNet weights), ResNet-18 at 128x128, bf16 where native
common=(model.arch=resnet18 model.pretrained=null data.input_size=[128,128] train.batch_size=8 train.unlabeled_batch_size=8
        data.workers=1 train.log_every=50 data.image_cache_mb=1024)
case $project in
  mouse)
    proj=${PROJ:-data/compare-mouse}
    [ -f "$proj/config.yaml" ] || $SP data import "$DATA/mirror-mouse/CollectedData.csv" --format dlc --out "$proj" \
        --videos "$DATA/mirror-mouse/videos/test_vid.mp4"
    lines=${LINES:-supervised,video,multiaugs-ema,multiaugs-ema-video}
    args=(--budgets 10,all --repeats 3 --test folds --steps "${STEPS:-1000}" data.unlabeled.frame_stride=5)
    ;;
  flies)
    proj=${PROJ:-data/compare-flies}
    [ -f "$proj/config.yaml" ] || $SP data import "$DATA/sleap-flies/clip.slp" --format sleap --out "$proj"
    lines=${LINES:-supervised,video,multiaugs-ema,multiaugs-ema-video}
    args=(--budgets 10,50 --repeats 3 --test last:300 --unlabeled pool --steps "${STEPS:-1000}")
    ;;
  mouse-suggest)
    proj=${PROJ:-data/compare-mouse}
    [ -f "$proj/config.yaml" ] || $SP data import "$DATA/mirror-mouse/CollectedData.csv" --format dlc --out "$proj" \
        --videos "$DATA/mirror-mouse/videos/test_vid.mp4"
    mkdir -p studies/compare/mouse
    exec .venv/bin/python studies/compare/suggest_study.py "$proj/config.yaml" "${common[@]}" --test folds --repeats 3 \
        --steps "${STEPS:-1000}" --draws 5 --out "${OUT:-runs/suggest-mouse}" --results studies/compare/mouse/suggest.jsonl "$@"
    ;;
  *) echo "unknown project $project (mouse, flies or mouse-suggest)"; exit 2 ;;
esac
mkdir -p "studies/compare/$project"
$SP compare "$proj/config.yaml" "${common[@]}" --methods "$lines" "${args[@]}" --out "${OUT:-runs/compare-$project}" \
    --results "studies/compare/$project/cells.jsonl" --no-progress "$@"
