"""The cuda backend is optional: never imported by ``import fastbp``, a clear error where it cannot run."""

import subprocess
import sys

import pytest

from fastbp.backends import get_backend


def test_import_fastbp_does_not_import_numba_cuda():
    code = "import sys, fastbp, fastbp.engine.network, fastbp.engine.training; print('numba.cuda' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_cuda_without_numba_cuda_or_gpu_names_the_reason():
    code = "from numba import cuda; print(cuda.is_available())"
    try:
        usable = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"
    except OSError:
        usable = False
    if usable:
        pytest.skip("a GPU (or the simulator) is usable here")
    with pytest.raises((ImportError, RuntimeError), match="numba-cuda|GPU"):
        get_backend("cuda")
