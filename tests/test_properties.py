"""Property tests: random networks, costs, batches and dtypes.

Hypothesis draws the cases from a fixed, derandomized profile (conftest.py),
so every run tries the same examples; HYPOTHESIS_PROFILE=thorough draws more.
"""

import warnings

import numpy as np
from conftest import HIDDEN, OUTPUT_COSTS, TOLERANCE, random_targets
from hypothesis import given
from hypothesis import strategies as st

from fastbp import DivergenceWarning, Network


@st.composite
def problems(draw, max_scale: float = 1.0):
    """A network of 1 to 3 layers (widths 1 to 6), a batch of data for it, and how to train it."""
    hidden = draw(st.sampled_from(HIDDEN))
    output, cost = draw(st.sampled_from(OUTPUT_COSTS))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_samples = draw(st.integers(1, 12))
    scale = draw(st.floats(1e-3, max_scale)) if max_scale > 1 else 1.0
    X = rng.normal(size=(n_samples, sizes[0])) * scale
    Y = random_targets(rng, n_samples, sizes[-1], output, cost)
    network = Network(sizes, hidden, output, cost, l2=draw(st.sampled_from([0.0, 1e-2])), dtype=dtype, seed=seed)
    training = dict(batch_size=draw(st.integers(1, n_samples + 2)), shuffle=draw(st.booleans()))
    return network, X, Y, training


def copy_of(network: Network) -> Network:
    twin = Network(
        network.sizes.tolist(),
        network.hidden_activation,
        network.output_activation,
        network.cost,
        l2=network.l2,
        dtype=network.dtype,
        seed=0,
    )
    twin.theta[:] = network.theta
    twin.rng_state[:] = network.rng_state
    return twin


@given(problems())
def test_every_backend_trains_as_the_oracle(problem):
    network, X, Y, training = problem
    dtype = str(network.dtype)
    oracle = copy_of(network).fit(X, Y, epochs=3, learning_rate=0.02, backend="numpy", **training)
    for backend in ("serial", "parallel"):
        trained = copy_of(network).fit(X, Y, epochs=3, learning_rate=0.02, backend=backend, **training)
        np.testing.assert_allclose(trained.theta, oracle.theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
        np.testing.assert_allclose(trained.loss_curve, oracle.loss_curve, rtol=TOLERANCE[dtype])


@given(problems(max_scale=1e6), st.floats(1e-3, 1e3), st.sampled_from(["serial", "parallel", "numpy"]))
def test_weights_stay_finite_and_divergence_is_always_reported(problem, learning_rate, backend):
    network, X, Y, training = problem
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        network.fit(X, Y, epochs=5, learning_rate=learning_rate, backend=backend, **training)
    assert np.all(np.isfinite(network.theta))
    assert np.all(np.isfinite(network.loss_curve))
    diverged = [warning for warning in caught if warning.category is DivergenceWarning]
    assert len(network.loss_curve) == 5 or len(diverged) == 1
    assert not [warning for warning in caught if warning.category is RuntimeWarning], [str(w.message) for w in caught]
