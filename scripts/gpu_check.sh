#!/usr/bin/env bash
# The prepared GPU check (docs/usage.md, "Checking a GPU machine"): benchmarks on the GPU,
# augmentations and a PoseDual step under torch.cuda.set_sync_debug_mode("error"), 20 steps in
# bf16 and fp16, an evaluation with the flip test; one summary table. Needs a CUDA machine.
#   bash scripts/gpu_check.sh [--json gpu_check.json] [--skip-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" scripts/gpu_check.py "$@"
