#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, one command: the CUDA tests on the hardware (no simulator),
# with default and with small thread blocks, compute-sanitizer's race check on a small
# training run (when installed), then the GPU benchmark.  Logs go to $OUT (or ./gpu-logs).
#     bash benchmarks/gpu_run.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS="${OUT:-gpu-logs}"
mkdir -p "$LOGS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset NUMBA_ENABLE_CUDASIM
status=0
nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
export FASTBP_CUDA_TESTS=1  # tests/conftest.py collects tests/cuda only with this (or the simulator)
# -o addopts=: in this one process, without pyproject's pytest-xdist workers (one GPU, and the
# GPU machine need not have pytest-xdist installed).
FASTBP_CUDA_BLOCK=16 FASTBP_CUDA_REGISTERS=4 python -m pytest -q -o addopts= -p no:cacheprovider tests/cuda \
    > "$LOGS/tests-default-blocks.txt" 2>&1 || status=1
FASTBP_CUDA_BLOCK=4 FASTBP_CUDA_REGISTERS=2 python -m pytest -q -o addopts= -p no:cacheprovider tests/cuda \
    > "$LOGS/tests-small-blocks.txt" 2>&1 || status=1
tail -n 3 "$LOGS"/tests-*.txt
if command -v compute-sanitizer > /dev/null; then
    for strategy in element tiled fused; do
        FASTBP_CUDA_BLOCK=4 FASTBP_CUDA_REGISTERS=2 compute-sanitizer --tool racecheck --error-exitcode 1 \
            python benchmarks/racecheck_run.py "$strategy" > "$LOGS/racecheck-$strategy.txt" 2>&1 || status=1
        tail -n 2 "$LOGS/racecheck-$strategy.txt"
    done
else
    echo "compute-sanitizer not found: race check skipped" | tee "$LOGS/racecheck-skipped.txt"
fi
python benchmarks/gpu_compare.py 2>&1 | tee "$LOGS/gpu_compare.txt" || status=1
exit $status
