"""Element operations written as LLVM intrinsics (fastbp.backends.cpu.lanes): their values, and the code they make.

relu in place (``loops.activate``) is ``llvm.maxnum``: Numba's comparison and
select let LLVM turn the loop into masked stores of the zeros, slow on AMD's
cores (tanh's NaN, given back as the value loaded, did the same).  The code
case compiles ``loops.activate`` for AVX2 targets in a child process with its
own empty cache, and reads its assembly.
"""

import numpy as np
import pytest
from conftest import run_probe
from test_tiles import BASE

from fastbp.backends.cpu import loops
from fastbp.numerics.formulas import RELU

PROBE = """
import json
from numba import types
from fastbp.backends.cpu import loops

signatures = [(types.int64, dtype[:, ::1]) for dtype in (types.float32, types.float64)]
for signature in signatures:
    loops.activate.compile(signature)
print(json.dumps({"masked_stores": sum(loops.activate.inspect_asm(s).count("vmaskmov") for s in signatures)}))
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_in_place_is_max_of_z_and_0_for_every_kind_of_value(dtype):
    special = [np.nan, -0.0, 0.0, -1.5, 2.5, np.inf, -np.inf, np.finfo(dtype).tiny / 4, -np.finfo(dtype).tiny / 4]
    z = np.concatenate([special, np.random.default_rng(0).normal(size=91)]).astype(dtype).reshape(10, 10)
    expected = np.where(z > 0, z, 0).astype(dtype)  # NaN gives 0, as fastbp.numerics.formulas.relu
    loops.activate(RELU, z)
    np.testing.assert_array_equal(z, expected)


@pytest.mark.parametrize("cpu", ["haswell", "znver3"])
def test_activations_in_place_store_no_masked_vectors(cpu, tmp_path):
    found = run_probe(PROBE, tmp_path, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=BASE + ",-avx512f")
    assert found == {"masked_stores": 0}
