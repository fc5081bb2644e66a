"""The vectorisable exponential of the CPU backends: accuracy, and that it is the one compiled."""

import math

import numba
import numpy as np
import pytest
from conftest import assert_vectorised_without_libm

from fastbp.backends.cpu.tuning import ERROR_MODEL, FASTMATH
from fastbp.numerics.exp import exp


# Compiled as the kernels are, but never cached: a function loaded from Numba's
# cache has no LLVM IR to inspect (the test of vectorisation below failed on a second run).
@numba.njit(fastmath=FASTMATH, error_model=ERROR_MODEL)
def exponentials(x, out):
    for i in range(x.shape[0]):
        out[i] = exp(x[i])


def ulp_error(dtype, x):
    out = np.empty_like(x)
    exponentials(x, out)
    exact = np.exp(x.astype(np.float64))
    return np.abs(out - exact) / np.spacing(exact.astype(dtype)).astype(np.float64)


@pytest.mark.parametrize(
    "dtype, low, high, bound",
    [
        ("float32", -87.0, 88.0, 5.0),
        ("float64", -5.0, 5.0, 3.0),
    ],
)
def test_error_in_units_in_the_last_place(dtype, low, high, bound):
    x = np.linspace(low, high, 200001).astype(dtype)
    assert ulp_error(dtype, x).max() <= bound


def test_float64_relative_error_over_the_whole_range():
    # The error grows with |x|: the callers' fastmath reassociation may merge
    # the two parts of ln 2 (see fastbp.numerics.exp); it stays far below the 1e-10
    # to which the backends must agree with the oracle.
    x = np.linspace(-708.0, 709.0, 200001)
    out = np.empty_like(x)
    exponentials(x, out)
    assert np.max(np.abs(out / np.exp(x) - 1)) < 1e-13


@pytest.mark.parametrize("dtype, below", [("float32", [-200.0, -1e30]), ("float64", [-800.0, -1e300])])
def test_arguments_below_the_normal_range_give_about_the_smallest_normal_float(dtype, below):
    out = np.empty(2, dtype)
    exponentials(np.array(below, dtype), out)
    np.testing.assert_allclose(out, np.finfo(dtype).tiny, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_cpu_version_is_compiled_and_vectorised(dtype):
    exponentials(np.zeros(8, dtype), np.zeros(8, dtype))
    assert_vectorised_without_libm(exponentials, dtype, "exp")


def test_plain_python_is_math_exp():
    assert exp(0.5) == math.exp(0.5)
    assert numba.njit(lambda x: exp(x))(0.5) == pytest.approx(math.exp(0.5), rel=1e-15)
