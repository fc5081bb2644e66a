"""Backpropagation against central finite differences: every activation x cost, with and without L2."""

import numpy as np
import pytest
from conftest import HIDDEN, OUTPUT_COSTS, random_problem

from fastbp import Network, check_gradients


@pytest.mark.with_reference
@pytest.mark.parametrize("l2", [0.0, 0.5])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("seed", range(3))
def test_backprop_matches_finite_differences(backend, hidden, output, cost, l2, seed):
    network, X, Y = random_problem(seed, hidden, output, cost, l2=l2)
    result = check_gradients(network, X, Y, backend=backend)
    assert result.relative_error < 1e-6, result
    assert result.max_abs_error < 1e-6, result


def test_check_gradients_catches_a_wrong_gradient(monkeypatch):
    network, X, Y = random_problem(1, "tanh", "sigmoid", "binary_cross_entropy", n_layers=2, n_samples=5)
    from fastbp import functional

    honest = functional.gradient_vector

    def off_by_a_bit(*args, **kwargs):
        return honest(*args, **kwargs) * 1.01

    monkeypatch.setattr(functional, "gradient_vector", off_by_a_bit)
    assert check_gradients(network, X, Y).relative_error > 1e-3


def test_check_gradients_leaves_parameters_unchanged():
    network = Network([3, 4, 2], "relu", "softmax", "categorical_cross_entropy", seed=0)
    before = network.theta.copy()
    check_gradients(network, np.ones((2, 3)), np.eye(2))
    assert np.array_equal(network.theta, before)
