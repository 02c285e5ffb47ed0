#!/usr/bin/env bash
# One short GPU check (< 8 minutes on one H100/H200 with 16 CPU cores):
#   nvidia-smi; the CUDA tests (pytest -m cuda); the whole suite with the GPU visible (pytest-xdist,
#   where installed: the tests that only run on a machine with CUDA's defaults);
#   benchmarks/pbt_digits.py --devices cuda.
# Output goes to the terminal and, when $OUT is set, to $OUT/gpu_check.log.
#
#   bash benchmarks/gpu_check.sh
#
# Python: $PYTHON if set; else a python3 that already has torch with CUDA (torchsearch is used
# from this checkout through PYTHONPATH, nothing installed); else a fresh venv (.venv-gpu, with
# the system site-packages, in /tmp, only on a machine with a GPU) where only
# `pip install -e ".[dev,examples]"` is run.
#
# On the lent H100/H200 machines python3 has torch, scikit-learn and pytest but not
# pytorch-ignite, and nothing can be fetched there. Download its wheel here once
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl pytorch-ignite==0.5.5
# and run with `.whl` carried: the script installs it into /tmp/site (--no-index, no deps).
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=/dev/null
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; LOG="$OUT/gpu_check.log"; fi
exec > >(tee -a "$LOG") 2>&1

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
has_cuda_torch() { "$1" -c "import torch, ignite, sklearn, pytest; assert torch.cuda.is_available()" 2>/dev/null; }

step "machine"
nvidia-smi || echo "nvidia-smi failed"
nproc

if ls .whl/pytorch_ignite-*.whl >/dev/null 2>&1 && ! python3 -c "import ignite" 2>/dev/null; then
  step "pytorch-ignite from the carried wheel (.whl -> /tmp/site)"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/pytorch_ignite-*.whl && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3 python; do
    if command -v "$cand" >/dev/null && has_cuda_torch "$cand"; then PY="$cand"; break; fi
  done
fi
if [ -z "$PY" ]; then
  if ! nvidia-smi >/dev/null 2>&1; then echo "no GPU here (nvidia-smi fails): nothing to check"; exit 1; fi
  VENV=/tmp/torchsearch-gpu-venv
  step "fresh venv $VENV (pip install -e .[dev,examples])"
  python3 -m venv --system-site-packages "$VENV" && "$VENV/bin/pip" install -q -e ".[dev,examples]" \
    && PY="$VENV/bin/python"
  if [ -z "$PY" ] || ! has_cuda_torch "$PY"; then
    echo "no python with torch + CUDA + ignite + scikit-learn + pytest found; set PYTHON=/path/to/python"
    exit 1
  fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch, ignite, torchsearch; print('python', __import__('sys').version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '| ignite', ignite.__version__, '| GPUs', torch.cuda.device_count(), '| torchsearch from', torchsearch.__file__)"

status=0
step "CUDA tests (pytest -m cuda)"
timeout 180 "$PY" -m pytest -m cuda -q -p no:cacheprovider -rs --continue-on-collection-errors tests || status=1

if "$PY" -c "import xdist" 2>/dev/null; then
  step "the whole suite with the GPU visible (pytest -n 12, Ignite's own tests left out)"
  timeout 170 "$PY" -m pytest -q -n 12 -p no:cacheprovider -rs --ignore=tests/ignite_compat tests > /tmp/suite.log 2>&1 || status=1
  tail -60 /tmp/suite.log; if [ -n "${OUT:-}" ]; then cp /tmp/suite.log "$OUT/suite.log"; fi
fi

step "benchmarks/cuda_startup.py --procs 1 8 --repeats 1 (what a fresh worker pays before its first result)"
timeout 60 "$PY" -u benchmarks/cuda_startup.py --procs 1 8 --repeats 1 || status=1

step "benchmarks/pbt_digits.py --devices cuda --per-device 4 --repeats 2 (population 8, 30 epochs)"
timeout 130 "$PY" -u benchmarks/pbt_digits.py --devices cuda --per-device 4 --repeats 2 || status=1

step "benchmarks/pbt_digits.py --devices cuda --per-device 8 --repeats 1"
timeout 80 "$PY" -u benchmarks/pbt_digits.py --devices cuda --per-device 8 --repeats 1 || status=1

step "done (status $status)"
exit $status
