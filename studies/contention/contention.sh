#!/usr/bin/env bash
# The contention table: one training step (semipose bench network, ResNet-18, 96x128, batch 16)
# on a quiet machine, with one core kept busy by another process, and with two, for each
# thread setting. Settings alternate inside each load level, so all rows of one level share the
# machine's state. Usage: bash studies/contention/contention.sh [OUT.tsv]   (about 10 minutes on 2 cores)
#   SETTINGS  space-separated label=args pairs (default below); MODES (default fp32,bf16,bf16+cl);
#   STEPS (default 6); LOADS (default "0 1 2": busy processes).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-contention.tsv}
SETTINGS=${SETTINGS:-"adaptive=--threads=0 torch-default=--threads=$(nproc) one-thread=--threads=1 passive-omp=OMP_WAIT_POLICY=PASSIVE,--threads=$(nproc)"}
MODES=${MODES:-fp32,bf16,bf16+cl}
STEPS=${STEPS:-6}
LOADS=${LOADS:-"0 1 2"}
printf 'busy\tsetting\tmode\tstep_ms\tthreads\tload1\n' > "$out"
for busy in $LOADS; do
  pids=()
  for _ in $(seq 1 "$busy"); do python3 -c "while True: pass" & pids+=($!); done
  sleep 2
  for s in $SETTINGS; do
    label=${s%%=*}; spec=${s#*=}; envs=(); args=()
    IFS=, read -ra parts <<< "$spec"
    for p in "${parts[@]}"; do if [[ $p == --* ]]; then args+=("${p/=/ }"); else envs+=("$p"); fi; done
    json=$(mktemp)
    # shellcheck disable=SC2068
    env ${envs[@]+"${envs[@]}"} .venv/bin/semipose bench network --arch resnet18 --input 96x128 --batch 16 --steps "$STEPS" --warmup 2 \
      --modes "$MODES" ${args[@]} --json "$json" > /dev/null
    load=$(cut -d' ' -f1 /proc/loadavg)
    .venv/bin/python -c "
import json, sys
for r in json.load(open('$json'))['network']:
    print('$busy', '$label', r['mode'], r['step_ms'], r['threads'], '$load', sep='\t')" | tee -a "$out"
    rm -f "$json"
  done
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p"; done
  wait 2>/dev/null || true
done
echo "table: $out"
