#!/usr/bin/env bash
# Set everything up, run the linters (ruff, mypy) and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests scripts studies
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
