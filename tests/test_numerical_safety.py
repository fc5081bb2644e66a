"""Sigmoid, softmax and the logs of the costs at extreme input sums: no overflow, no warning, no NaN.

Every step (forward, deltas, gradients, cost) runs with NumPy's floating-point
errors raised as exceptions (the oracle would stop at the first overflow,
division by zero or invalid operation) and Python warnings as errors.
Underflow is left to NumPy's default (ignored): a product of two tiny
numbers rounding towards zero is correct rounding, not an instability.
"""

import warnings

import numpy as np
import pytest
from conftest import HIDDEN, OUTPUT_COSTS

from fastbp import Network, functional

BACKENDS = ["numpy", "reference", "serial", "parallel"]
# The outputs of every pair except identity (whose cost (a - y)^2 overflows with a),
# and the Poisson cost of bounded outputs too.
PAIRS = [pair for pair in OUTPUT_COSTS if pair[0] != "identity"] + [("sigmoid", "poisson"), ("softmax", "poisson")]


def extreme_sums(limit: float, output: str) -> np.ndarray:
    """Rows of input sums of every sign, up to ``limit`` in absolute value.

    An exp output of a large positive sum is not representable (e^z
    overflows whatever the formula), so for it the sums are <= 0.
    """
    values = [limit, -limit, 30.0, -30.0, 0.0]
    rows = np.array([[a, b] for a in values for b in values])
    return -np.abs(rows) if output == "exp" else rows


def identity_network(hidden: str, output: str, cost: str, dtype) -> Network:
    """2-2-2 with W = I and b = 0: z^1 = x and z^2 = sigma(x), so relu and identity pass the extremes on."""
    network = Network([2, 2, 2], hidden, output, cost, dtype=dtype, seed=0)
    network.theta[:] = 0
    for l in (1, 2):
        network.W[l][:] = np.eye(2)
    return network


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", PAIRS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_step_is_finite_and_silent_at_extreme_sums(backend, output, cost, dtype):
    for hidden in HIDDEN:
        for limit in (1e4, float(np.finfo(dtype).max) / 2):
            network = identity_network(hidden, output, cost, dtype)
            X = extreme_sums(limit, output)
            Y = np.tile([1.0, 0.0], (X.shape[0], 1))
            with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
                warnings.simplefilter("error")
                a = functional.forward(network, X, backend)
                d = functional.deltas(network, a, Y, backend)
                values = a + d[1:] + [np.array([functional.cost(network, X, Y, backend)])]
                # dC/dW^2 = delta^2 a^1 summed over samples: with a^1 near the largest
                # float (relu, identity) the gradient itself is beyond it.
                if limit == 1e4 or hidden in ("sigmoid", "tanh"):
                    values.append(functional.gradient_vector(network, a, d, backend))
            for array in values:
                assert np.all(np.isfinite(array)), (hidden, limit, array)
            assert np.all(a[-1] >= 0)
            if output == "softmax":
                np.testing.assert_allclose(a[-1].sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_on_extreme_inputs_stays_finite(backend):
    rng = np.random.default_rng(0)
    X = rng.choice([-1e4, 1e4], size=(32, 3))
    Y = np.eye(3)[rng.integers(0, 3, 32)]
    for output, cost in [("softmax", "categorical_cross_entropy"), ("sigmoid", "binary_cross_entropy")]:
        network = Network([3, 5, 3], "sigmoid", output, cost, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            network.fit(X, Y, epochs=5, learning_rate=0.1, batch_size=8, backend=backend)
        assert np.all(np.isfinite(network.theta))
        assert np.all(np.isfinite(network.loss_curve))
