"""The vectorisable tanh of the CPU backends: accuracy, special values, and that it is the one compiled."""

import math

import numba
import numpy as np
import pytest
from conftest import assert_vectorised_without_libm, run_probe

from fastbp.backends.cpu.tuning import ERROR_MODEL, FASTMATH
from fastbp.numerics.tanh import SMALL, tanh


# Compiled as the kernels are, but never cached: a function loaded from Numba's
# cache has no LLVM IR to inspect.
@numba.njit(fastmath=FASTMATH, error_model=ERROR_MODEL)
def tangents(x, out):
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])


def compiled(x):
    out = np.empty_like(x)
    tangents(x, out)
    return out


@pytest.mark.parametrize("dtype, bound", [("float32", 3.0), ("float64", 4.0)])
@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (-30.0, 30.0), (-1e-6, 1e-6), (-1e4, 1e4)])
def test_error_in_units_in_the_last_place(dtype, bound, low, high):
    # Both branches and the bound between them (|x| = 0.625), tiny arguments, and the flat tails.
    x = np.concatenate([np.linspace(low, high, 200001), np.nextafter(SMALL, [0.0, 1.0]), -np.asarray([SMALL])])
    x = x.astype(dtype)
    exact = np.tanh(x.astype(np.float64))
    spacing = np.spacing(np.maximum(np.abs(exact), np.finfo(dtype).tiny).astype(dtype)).astype(np.float64)
    assert (np.abs(compiled(x) - exact) / spacing).max() <= bound


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_values(dtype):
    out = compiled(np.array([np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], dtype))
    assert out.tolist() == [1.0, -1.0, 0.0, 0.0, 1.0, -1.0]
    assert np.isnan(compiled(np.array([np.nan], dtype))[0])  # a NaN is never turned into a number


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_cpu_version_is_compiled_and_vectorised(dtype):
    compiled(np.zeros(8, dtype))
    assert_vectorised_without_libm(tangents, dtype, "tanh")


def test_plain_python_is_math_tanh():
    assert tanh(0.5) == math.tanh(0.5)


ACTIVATE_PROBE = """
import json, re
import numpy as np
from fastbp.backends.cpu import loops
from fastbp.numerics.formulas import SIGMOID
counts = {}
for dtype in ("float32", "float64"):
    loops.activate(SIGMOID, np.zeros((2, 2), dtype))
    signature = [s for s in loops.activate.signatures if str(s[1].dtype) == dtype][0]
    counts[dtype] = len(re.findall(r"^vector\\.body[\\w.]*:", loops.activate.inspect_llvm(signature), re.M))
print(json.dumps(counts))
"""


def test_the_activation_pass_vectorises_its_loops(tmp_path):
    # With the vectorisable tanh in one loop over a run-time code, LLVM vectorised none of the
    # element-wise activations there (4 vector loops, the softmax's and the sigmoid's, where the
    # loop of its own per activation gives 8): relu ran 15 times slower.
    counts = run_probe(ACTIVATE_PROBE, tmp_path)
    assert all(count >= 8 for count in counts.values())
