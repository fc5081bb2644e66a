"""Each CUDA kernel against the NumPy oracle, for every activation and cost, both dtypes."""

import numpy as np
import pytest
from conftest import HIDDEN, OUTPUT_COSTS, TOLERANCE, random_problem
from test_kernels import assert_layers_close, check_cost_and_gradient

from fastbp import functional


def check_every_step(hidden, output, cost, dtype, seed):
    """forward, output delta + delta recursion, gradients, cost: the cuda backend against the oracle."""
    network, X, Y = random_problem(seed, hidden, output, cost, dtype=dtype, l2=0.3, n_layers=2, n_samples=11)
    a_ref = functional.forward(network, X, "numpy")
    assert_layers_close(functional.forward(network, X, "cuda"), a_ref, dtype)
    d_ref = functional.deltas(network, a_ref, Y, "numpy")
    assert_layers_close(functional.deltas(network, a_ref, Y, "cuda"), d_ref, dtype)
    got = functional.gradient_vector(network, a_ref, d_ref, "cuda")
    np.testing.assert_allclose(
        got, functional.gradient_vector(network, a_ref, d_ref, "numpy"), rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype]
    )
    assert got.dtype == np.dtype(dtype)
    assert functional.cost(network, X, Y, "cuda") == pytest.approx(
        functional.cost(network, X, Y, "numpy"), rel=TOLERANCE[dtype]
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_element_kernels_match_oracle(hidden, output, cost, dtype, monkeypatch):
    monkeypatch.setattr("fastbp.backends.cuda.config.TILED_MIN_WIDTH", 10**9)
    check_every_step(hidden, output, cost, dtype, seed=5)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_tiled_kernels_match_oracle(hidden, dtype, monkeypatch):
    # Every product through the tiled kernels (the cost only enters the output delta).
    monkeypatch.setattr("fastbp.backends.cuda.config.TILED_MIN_WIDTH", 0)
    check_every_step(hidden, "softmax", "categorical_cross_entropy", dtype, seed=6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_update_matches_oracle(optimizer, dtype):
    from fastbp.backends import cuda, numpy_ref
    from fastbp.numerics.optim import OPTIMIZERS, hyperparameters

    rng = np.random.default_rng(0)
    theta, grad = (rng.normal(size=37).astype(dtype) for _ in range(2))
    results = []
    for kernels in (cuda, numpy_ref):
        state = [theta.copy(), rng.normal(size=37).astype(dtype) * 0, np.zeros(37, dtype), np.zeros(2, np.int64)]
        hyper = hyperparameters(0.3, momentum=0.9)
        for _ in range(2):
            kernels.apply_update(state[0], grad, OPTIMIZERS[optimizer], hyper, state[1], state[2], state[3], 1)
        results.append(state)
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_cost_and_gradient_matches_oracle(strategy, output, cost, dtype):
    check_cost_and_gradient("cuda", "tanh", output, cost, dtype, seed=11)
