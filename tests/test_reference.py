"""The engineered kernels against the reference loops, the textbook form of each equation.

The serial and parallel backends compute the sums of docs/notation.md in
register blocks of four, in tiles on AVX-512, over threads, with fast-math
reassociation; the reference backend computes each sum in the order it is
written.  The shapes below reach every code path: remainders of the blocks
of four, a one-sample batch (the online gradients), and layers big enough for
the register tiles where the CPU has them.
"""

import numpy as np
import pytest

from fastbp import Network, functional
from fastbp.backends import kernel_plan, tiles_for
from fastbp.engine.validation import check_backend_reads

# rtol of the engineered sums against the written order, per dtype
TOLERANCE = {"float64": 1e-11, "float32": 2e-5}
NETWORKS = [("sigmoid", "softmax", "categorical_cross_entropy"), ("relu", "identity", "mse")]
SHAPES = {
    "small": ([5, 7, 6, 3], 9),
    "online": ([6, 5, 2], 1),
    "remainders": ([13, 11, 9, 5], 7),
    # 129 x 513 x 515 multiply-adds in layer 1 and 129 x 300 x 513 in the deltas through W^2:
    # past every tile threshold (fastbp.backends.cpu.tuning).
    "tiles": ([515, 513, 300, 3], 129),
}


def assert_close(actual, expected, dtype):
    for a, e in zip(actual, expected):
        if e is None:
            continue
        scale = max(1.0, float(np.abs(e).max()))
        np.testing.assert_allclose(a, e, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("hidden,output,cost", NETWORKS)
def test_engineered_kernels_compute_the_reference_loops(backend, shape, hidden, output, cost, dtype):
    sizes, n_samples = SHAPES[shape]
    network = Network(sizes, hidden, output, cost, l2=0.2, dtype=dtype, seed=3)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(n_samples, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n_samples)]

    a_ref = functional.forward(network, X, "reference")
    assert_close(functional.forward(network, X, backend), a_ref, dtype)
    d_ref = functional.deltas(network, a_ref, Y, "reference")
    assert_close(functional.deltas(network, a_ref, Y, backend), d_ref, dtype)
    g_ref = functional.gradient_vector(network, a_ref, d_ref, "reference")
    assert_close([functional.gradient_vector(network, a_ref, d_ref, backend)], [g_ref], dtype)


def test_the_tiles_shape_reaches_the_tiles():
    sizes, n_samples = SHAPES["tiles"]
    assert tiles_for("serial", sizes, n_samples) is True


def test_the_reference_backend_runs_one_thread_and_no_tiles():
    sizes, n_samples = SHAPES["tiles"]
    assert kernel_plan("reference", sizes, n_samples, "float64", n_jobs=2) == (None, None)


def test_the_reference_backend_refuses_sparse_inputs_by_name():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match=r"reference backend takes dense inputs only.*toarray"):
        check_backend_reads("reference", scipy_sparse.csr_matrix(np.eye(3)))
