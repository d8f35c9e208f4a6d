#!/usr/bin/env bash
# The mirror-mouse study's follow-up (issue 26: "find out what makes them help here"), planned
# before it is run: at the small budget (10 labels), from each seed's supervised warm-up, MultiAugs
# (PoseCons with JOCO + JCCM, instance-relative views: the best mean at 10 labels) with one change
# each, at the same STEPS:
#   ema   the EMA teacher (ssl.teacher: ema, decay 0.999 warmed up), evaluated as the teacher
#   mask  teacher joints with a heatmap peak below 0.5 left out of the consistency loss
# and one supervised control for the imported-project default of no flips without flip pairs:
#   noflip  the warm-up and the 400 supervised steps again with data.augment.flip_prob=0
# and PoseDual as it is meant to be: in the study it started from one warm-up, so its two networks
# were identical and, sharing the affine hard view, stayed identical (a PoseCons at half the
# supervised weight). Here a second warm-up of another seed (seed + 100) starts network 2:
#   dual2   PoseDual (affine) from [warmup_b10_s<seed>, warmup2_b10_s<seed>]
# and, added after the EMA runs had finished, a control for them: is it the consistency or the
# weight average? The same EMA teacher on supervised training (PoseCons with the consistency
# weight 0: only the labels train the student; its batch norm also sees the unlabelled crops):
#   emasup  supervised-ema_b10_s<seed>   (VARIANTS=emasup bash studies/mirror_mouse/mouse_variants.sh)
# The score and the compute per run go to times.tsv, as in studies/mirror_mouse/mouse_study.sh.
#
#   bash studies/mirror_mouse/mouse_variants.sh                # SEEDS="0 1" STEPS=400 VARIANTS="ema noflip dual2 mask"
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=studies/mirror_mouse/mouse_lib.sh
source studies/mirror_mouse/mouse_lib.sh
declare -A changes=(
  [ema]="ssl.teacher=ema ssl.select=ema"
  [mask]="ssl.conf_masking=true ssl.conf_thresh=0.5"
)
for seed in ${SEEDS:-0 1}; do
  common=(seed="$seed" data.train.ann_file="train_10_s$seed.json")
  for v in ${VARIANTS:-ema noflip dual2 mask}; do
    if [ "$v" = noflip ]; then
      run "warmup-noflip_b10_s$seed" "${common[@]}" ssl.method=supervised data.augment.flip_prob=0 train.max_steps=600
      run "supervised-noflip_b10_s$seed" "${common[@]}" ssl.method=supervised data.augment.flip_prob=0 train.max_steps="$steps" \
        model.init_weights="$out/warmup-noflip_b10_s$seed/checkpoints/last.pt"
      continue
    fi
    if [ "$v" = emasup ]; then
      run "supervised-ema_b10_s$seed" "${common[@]}" model.init_weights="$out/warmup_b10_s$seed/checkpoints/last.pt" \
        ssl.method=posecons "ssl.paths=[none]" ssl.unsup_weight=0 ssl.teacher=ema ssl.select=ema train.max_steps="$steps"
      continue
    fi
    if [ "$v" = dual2 ]; then
      run "warmup2_b10_s$seed" seed="$((seed + 100))" data.train.ann_file="train_10_s$seed.json" ssl.method=supervised train.max_steps=600
      run "posedual2_b10_s$seed" "${common[@]}" ssl.method=posedual "ssl.paths=[none]" train.max_steps="$steps" \
        "model.init_weights=[$out/warmup_b10_s$seed/checkpoints/last.pt,$out/warmup2_b10_s$seed/checkpoints/last.pt]"
      continue
    fi
    # shellcheck disable=SC2086
    run "multiaugs-${v}_b10_s$seed" "${common[@]}" model.init_weights="$out/warmup_b10_s$seed/checkpoints/last.pt" \
      ssl.method=posecons "ssl.paths=[JOCO,JCCM]" train.max_steps="$steps" ${changes[$v]}
  done
done
