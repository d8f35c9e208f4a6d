#!/usr/bin/env bash
# Set everything up, generate the synthetic dataset, train a small model for a few minutes,
# evaluate it, and print the COCO AP table and the run folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SP=.venv/bin/semipose
if [ ! -f data/synthetic/synth.json ]; then
  $SP data synth data/synthetic --train 3000 --unlabeled 500 --val 300 --image-size 480x360 --difficulty 0.3 --seed 0
fi
$SP train configs/synthetic_res18_128x96.yaml "$@"
