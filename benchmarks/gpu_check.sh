#!/usr/bin/env bash
# Every GPU measurement in one go (see benchmarks/gpu_check.py for the steps):
#
#   benchmarks/gpu_check.sh [--dry-run] [--out DIR] [--budget-s S] [--only STEP,...]
#
# On a fresh GPU machine with no network: first, on a machine with pip access, run
# benchmarks/fetch_gpu_wheels.sh, which puts the wheels the GPU machine lacks into .whl/; carry
# .whl with the tree. This script installs them into /tmp/site (no index, no dependencies
# resolved: the machine's own torch stays) and runs the check with the checkout on PYTHONPATH,
# so nothing needs `pip install -e .`. --dry-run runs the same steps on the CPU with tiny
# shapes (CI runs it: tests/test_gpu_check.py). The report goes to $OUT when set (the device
# tool's output folder), else benchmarks/out/<time>.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  echo "[gpu-check] installing $(ls .whl/*.whl | wc -l) wheels from .whl into /tmp/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
exec "$python" benchmarks/gpu_check.py "$@"
