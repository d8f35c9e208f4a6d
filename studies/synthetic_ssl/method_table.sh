#!/usr/bin/env bash
# One benchmark table for every method (docs/results.md): supervised, PoseCons, PoseDual,
# MultiAugs single and dual (JOCO + JCCM), each consistency method with and without the EMA
# teacher, and SSPCM, at LABELS labelled persons (100) of the synthetic SSL data, for each seed
# in SEEDS (0 1 2), every run from the seed's own supervised warm-up and ITERS steps long
# (default 800 = 8 epochs of 100), bf16 where the CPU has it; then the held-out test-set table
# (studies/synthetic_ssl/ssl_test.py --runs all: each run's last.pt; for EMA runs that is the network the
# EMA teacher trained).
#
#   bash studies/synthetic_ssl/method_table.sh                           # the planned 800 steps: runs/method-table/s<seed>/...
#   SEEDS="0 1 2" ITERS=200 bash studies/synthetic_ssl/method_table.sh   # the table in docs/results.md (about 50 min a seed)
#
# Runs two at a time, one thread each. Measured cost per seed at 200 steps with bf16 on 2 cores:
# 4400–5100 s of training in the two lanes (1.2–1.4 CPU-hours; PoseDual-type runs cost about twice
# PoseCons, SSPCM four times supervised) plus the warm-up and the test-set scoring; it grows
# about linearly with ITERS. Each run is scored on the test set as soon as it ends, in its lane;
# <seed folder>/times.tsv gets one line per finished run (name, training seconds, test AP,
# scoring seconds) and its console output goes to <seed folder>/<name>.log. A run already in
# times.tsv is skipped, so the same command continues an interrupted table.
set -euo pipefail
cd "$(dirname "$0")/../.."
. studies/synthetic_ssl/ssl_data.sh
SP=.venv/bin/semipose
labels=${LABELS:-100}
iters=${ITERS:-800}
root=${OUT:-runs/method-table}
epochs=$(( iters / 100 ))
.venv/bin/python studies/synthetic_ssl/ssl_test.py --score  # the test set, made once before the lanes
for seed in ${SEEDS:-0 1 2}; do
  out="$root/s$seed"
  mkdir -p "$out"
  if [ ! -f "$out/warmup/checkpoints/last.pt" ]; then
    $SP train configs/synthetic/supervised_warmup.yaml --run-dir "$out/warmup" --overwrite --no-progress \
      seed="$seed" data.max_train_instances="$labels" > "$out/warmup.log" 2>&1
  fi
  common=(seed="$seed" data.max_train_instances="$labels" model.init_weights="$out/warmup/checkpoints/last.pt"
          train.epochs="$epochs" train.max_iters_per_epoch=100 "train.lr_steps=[$(( epochs * 3 / 4 ))]" num_threads=1)
  run() {  # config, run name, overrides...
    local config=$1 name=$2
    shift 2
    if [ -f "$out/times.tsv" ] && cut -f1 "$out/times.tsv" | grep -qx "$name"; then return; fi
    local t0=$SECONDS
    $SP train "configs/synthetic/$config.yaml" --run-dir "$out/$name" --overwrite --no-progress "${common[@]}" "$@" \
      > "$out/$name.log" 2>&1
    local t1=$SECONDS
    local ap
    ap=$(.venv/bin/python studies/synthetic_ssl/ssl_test.py --score "$out/$name" | cut -f2)
    printf '%s\t%s\t%s\t%s\n' "$name" "$(( t1 - t0 ))" "$ap" "$(( SECONDS - t1 ))" >> "$out/times.tsv"
  }
  ema=(ssl.teacher=ema)
  ( run supervised supervised; run posedual posedual_jc; run posedual posedual_jc_ema "${ema[@]}"
    run multiaugs multiaugs_joco_jccm; run sspcm sspcm_jo ) &
  ( run posecons posecons_jc; run posecons posecons_jc_ema "${ema[@]}"; run multiaugs multiaugs_joco_jccm_ema "${ema[@]}"
    run multiaugs_dual multiaugs_dual_joco_jccm; run multiaugs_dual multiaugs_dual_joco_jccm_ema "${ema[@]}" ) &
  wait
done
groups=()
for seed in ${SEEDS:-0 1 2}; do groups+=("$root/s$seed"); done
.venv/bin/python studies/synthetic_ssl/ssl_test.py --runs all "${groups[@]}"
