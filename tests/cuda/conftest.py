"""The CUDA tests: run in their own process, ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda``.

The simulator must be chosen before Numba is imported, so the variable is set
on the command line, not here.  Thread blocks are forced small (4 x 4 threads,
8 x 8 tiles) so that the small test inputs span several blocks and ragged last
blocks; set FASTBP_CUDA_BLOCK / FASTBP_CUDA_REGISTERS before the run to try others.
"""

import importlib.util
import os
import pathlib

import pytest

# The shared helpers of tests/conftest.py, under this conftest's name too
# (both files are imported as "conftest"; the tests here see this one).
_shared = importlib.util.spec_from_file_location("shared_conftest", pathlib.Path(__file__).parents[1] / "conftest.py")
shared = importlib.util.module_from_spec(_shared)
_shared.loader.exec_module(shared)
HIDDEN, OUTPUT_COSTS, TOLERANCE, random_problem = (
    shared.HIDDEN,
    shared.OUTPUT_COSTS,
    shared.TOLERANCE,
    shared.random_problem,
)

os.environ.setdefault("FASTBP_CUDA_BLOCK", "4")
os.environ.setdefault("FASTBP_CUDA_REGISTERS", "2")

pytest.importorskip(
    "fastbp.backends.cuda", reason="numba-cuda or a GPU (or the simulator) is missing", exc_type=ImportError
)

# Which kernels the entry points use: the element kernels, the tiled ones, the fused epoch kernel.
STRATEGIES = {
    "element": {"TILED_MIN_WIDTH": 10**9, "FUSED_MAX_WORK": -1},
    "tiled": {"TILED_MIN_WIDTH": 0, "FUSED_MAX_WORK": -1},
    "fused": {"TILED_MIN_WIDTH": 10**9, "FUSED_MAX_WORK": 10**12},
}


@pytest.fixture
def backend():
    """The CUDA backend stands in for the compiled backends of the shared tests."""
    return "cuda"


@pytest.fixture(params=list(STRATEGIES))
def strategy(request, monkeypatch):
    """Each choice of kernels in turn."""
    for name, value in STRATEGIES[request.param].items():
        monkeypatch.setattr(f"fastbp.backends.cuda.config.{name}", value)
    return request.param
