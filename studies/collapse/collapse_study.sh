#!/usr/bin/env bash
# The collapse study (docs/results.md, "The collapse study"): does consistency training drift
# towards predicting background when the teacher does not see an easier view than the student?
#
# From one shared supervised warm-up on LABELS labelled persons (100 by default) of the
# synthetic SSL data, four runs of the same length, each with the random affine + Joint CutOut
# hard view of configs/synthetic/posecons.yaml:
#   (a) same      PoseCons, teacher and student each on its own hard view (no easy-hard gap)
#   (b) reversed  PoseCons, teacher on the hard view, student on the easy view
#   (c) posecons  PoseCons, easy -> hard (the paper's remedy)
#   (d) posedual  PoseDual, easy -> hard, crossed
# Each logs the teacher's mean heatmap peak and its share of lost joints (peak < 0.1) per epoch,
# and validates every epoch. The figure and table: studies/collapse/collapse_plot.py (run at the end).
#
#   bash studies/collapse/collapse_study.sh                 # runs/collapse (data made on first use)
#   LABELS=50 OUT=runs/collapse-l50 bash studies/collapse/collapse_study.sh ssl.unsup_weight=4
#                                                  # overrides go to the four runs
#
# About 35 minutes on a 2-core CPU with bf16 (600 steps each; PoseDual costs twice PoseCons).
set -euo pipefail
cd "$(dirname "$0")/../.."
. studies/synthetic_ssl/ssl_data.sh
SP=.venv/bin/semipose
labels=${LABELS:-100}
out=${OUT:-runs/collapse}
steps=${STEPS:-100}    # per epoch
epochs=${EPOCHS:-6}
mkdir -p "$out"
warm="$out/warmup"
if [ ! -f "$warm/checkpoints/last.pt" ]; then
  $SP train configs/synthetic/supervised_warmup.yaml --run-dir "$warm" --overwrite --no-progress \
    data.max_train_instances="$labels" > "$out/warmup.log" 2>&1
fi
common=(data.max_train_instances="$labels" model.init_weights="$warm/checkpoints/last.pt" train.epochs="$epochs"
        train.max_iters_per_epoch="$steps" "train.lr_steps=[]" train.val_every=1)
run() {  # name, config, overrides...
  local name=$1 config=$2
  shift 2
  $SP train "configs/synthetic/$config.yaml" --run-dir "$out/$name" --overwrite --no-progress "${common[@]}" "$@" \
    > "$out/$name.log" 2>&1
}
run same posecons ssl.teacher_view=hard ssl.student_view=hard "$@"
run reversed posecons ssl.teacher_view=hard ssl.student_view=easy "$@"
run posecons posecons "$@"
run posedual posedual "$@"
.venv/bin/python studies/collapse/collapse_plot.py "$out"
