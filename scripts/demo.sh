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
$SP train configs/synthetic_res10_128x96.yaml "$@"
echo
echo "The semipose command is in .venv/bin: type  source .venv/bin/activate  once per shell (or call .venv/bin/semipose),"
echo "then e.g.  semipose predict RUN/checkpoints/best.pt data/synthetic/images/val --out preds   (RUN: the run folder above)"
echo "CPU threads: num_threads=0 (the default) follows the free cores; num_threads=N fixes N (e.g. bash scripts/demo.sh num_threads=1)."
