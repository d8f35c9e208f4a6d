#!/usr/bin/env bash
# Create .venv (if needed) and install semipose with its test dependencies.
# torch is pinned by constraints.txt to the CPU build available on this kind of machine; on a
# GPU machine install semipose into an environment that already has your torch
# (pip install -e .) and skip this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.semipose-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "[setup] installing semipose and dependencies (torch pinned by constraints.txt)"
  log=$(mktemp)
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,onnx,formats]' >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" >&2
    echo "[setup] pip install failed (full log: $log)" >&2
    exit 1
  fi
  rm -f "$log"
  .venv/bin/python -c "import torch, cv2, pycocotools, onnxruntime, semipose; print('[setup] torch', torch.__version__, '| semipose', semipose.__version__)"
  touch "$stamp"
  echo "[setup] the semipose command: source .venv/bin/activate (once per shell), or call .venv/bin/semipose"
fi
