#!/usr/bin/env bash
# Use a trained model on the real sample photos (../shared/data/coco) every way semipose offers,
# and check that predict's JSON scores like evaluating the checkpoint directly.
#   bash scripts/predict_check.sh [MODEL] [OUT]
# MODEL defaults to the demo's best.pt, OUT to runs/predict-check.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/synthetic_res10_128x96/checkpoints/best.pt}
OUT=${2:-runs/predict-check}
DATA=${SEMIPOSE_SAMPLE_DATA:-../shared/data}
COCO=$DATA/coco
SP=.venv/bin/semipose
rm -rf "$OUT" && mkdir -p "$OUT"
val=("data.val.ann_file=$(realpath "$COCO/person_keypoints_sample.json")" "data.val.image_dir=$(realpath "$COCO/images")")

echo "== ground-truth boxes"
$SP predict "$MODEL" "$COCO/images" --boxes "$COCO/person_keypoints_sample.json" --out "$OUT/gt" --no-progress
$SP eval --results "$OUT/gt/predictions.json" --gt "$COCO/person_keypoints_sample.json" | tee "$OUT/gt-scored.txt"
$SP eval --checkpoint "$MODEL" "${val[@]}" data.workers=0 --out "$OUT/gt-direct" --no-progress | grep '^|' | tee "$OUT/gt-direct.txt"

echo "== detector boxes, flip test"
$SP predict "$MODEL" "$COCO/images" --boxes "$COCO/person_keypoints_sample.json" --det-file "$COCO/person_detections_sample.json" \
  --flip-test --out "$OUT/det" --no-progress
$SP eval --results "$OUT/det/predictions.json" --gt "$COCO/person_keypoints_sample.json" | tee "$OUT/det-scored.txt"
$SP eval --checkpoint "$MODEL" "${val[@]}" data.workers=0 --det-file "$COCO/person_detections_sample.json" --flip-test \
  --out "$OUT/det-direct" --no-progress | grep '^|' | tee "$OUT/det-direct.txt"

echo "== whole image, heatmap overlay"
$SP predict "$MODEL" "$COCO/images/*.jpg" --whole-image --heatmaps --out "$OUT/whole" --no-progress

echo "== ONNX"
$SP export "$MODEL" -o "$OUT/model.onnx"
$SP predict "$OUT/model.onnx" "$COCO/images" --boxes "$COCO/person_keypoints_sample.json" --out "$OUT/gt-onnx" --no-draw --no-progress
$SP eval --results "$OUT/gt-onnx/predictions.json" --gt "$COCO/person_keypoints_sample.json" | tee "$OUT/gt-onnx-scored.txt"

echo "== sizes"
ls -l "$(dirname "$MODEL")"/*.pt "$OUT/model.onnx" | awk '{printf "%8.1f MB  %s\n", $5 / 1048576, $NF}'
