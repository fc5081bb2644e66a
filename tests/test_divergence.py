"""A learning rate far too large: training stops at the epoch that diverged, with finite weights and a clear warning."""

import re

import numpy as np
import pytest

from fastbp import DivergenceWarning, MLPClassifier, MLPRegressor, Network
from fastbp.engine.validation import all_finite

BACKENDS = ["serial", "parallel", "numpy", "reference"]
RNG = np.random.default_rng(7)
x = RNG.normal(size=(30, 1))
y = 1.0 - 2.0 * x + RNG.normal(scale=0.1, size=(30, 1))


def regression(epochs: int, backend: str, **options) -> Network:
    """Batch gradient descent on a line; learning rate 2.5 multiplies the error by about -1.5 per epoch."""
    network = Network([1, 1], output_activation="identity", cost="mse", seed=0)
    return network.fit(x, y, epochs=epochs, learning_rate=2.5, batch_size=30, backend=backend, **options)


def diverged_epoch(record) -> int:
    messages = [str(warning.message) for warning in record if warning.category is DivergenceWarning]
    assert len(messages) == 1
    assert re.search(r"at epoch \d+; training stopped and the weights after epoch \d+ were kept", messages[0])
    assert "Try a smaller learning rate than 2.5" in messages[0]
    return int(re.search(r"at epoch (\d+)", messages[0]).group(1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_callback", [False, True])
def test_network_stops_at_the_diverging_epoch_with_the_state_of_the_one_before(backend, with_callback):
    callback = (lambda network, epoch, loss: False) if with_callback else None
    with pytest.warns(DivergenceWarning) as record:
        diverged = regression(5000, backend, callback=callback)
    epoch = diverged_epoch(record)
    assert 100 < epoch < 5000  # late in a long chunk of compiled epochs (without a callback)
    assert len(diverged.loss_curve) == epoch - 1
    assert np.all(np.isfinite(diverged.loss_curve))
    clean = regression(epoch - 1, backend)
    assert diverged.theta.tobytes() == clean.theta.tobytes()
    assert diverged.rng_state.tobytes() == clean.rng_state.tobytes()
    assert diverged.loss_curve == clean.loss_curve


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_that_overflow_while_the_cost_is_still_finite_are_caught(backend):
    # One batch per epoch: the epoch's cost is that of the weights before the update,
    # finite, while the update itself overflows to infinity.
    network = Network([1, 1], output_activation="identity", cost="mse", seed=0)
    before = network.theta.copy()
    with pytest.warns(
        DivergenceWarning, match="the weights became NaN or infinite at epoch 1; .*smaller learning rate"
    ):
        network.fit(
            np.full((4, 1), 1e150), np.zeros((4, 1)), epochs=3, learning_rate=1e10, batch_size=4, backend=backend
        )
    assert network.theta.tobytes() == before.tobytes()
    assert network.loss_curve == []


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_estimators_never_hold_non_finite_weights(kind, solver):
    # (Adam's steps are at most about the learning rate: it needs larger inputs to overflow.)
    X = RNG.normal(size=(60, 4)) * (1e150 if solver == "sgd" else 1e300)
    target = (X[:, 0] > 0).astype(int) if kind is MLPClassifier else X[:, 0]
    estimator = kind(
        hidden_layer_sizes=(8,), solver=solver, learning_rate_init=1e4, max_iter=50, random_state=0, backend="serial"
    )
    with pytest.warns(DivergenceWarning, match=r"at epoch \d+; .*Try a smaller learning rate than 10000.0"):
        estimator.fit(X, target)
    for array in estimator.coefs_ + estimator.intercepts_:
        assert np.all(np.isfinite(array))
    assert estimator.n_iter_ == len(estimator.loss_curve_) < 50
    assert np.all(np.isfinite(estimator.loss_curve_))


def test_adam_weights_overflowing_in_the_first_epoch_leave_the_initial_weights():
    X = RNG.normal(size=(40, 3)) * 1e100
    estimator = MLPRegressor(
        hidden_layer_sizes=(5,), learning_rate_init=1.0, max_iter=50, random_state=0, backend="serial"
    )
    with pytest.warns(DivergenceWarning, match="the weights became NaN or infinite at epoch 1"):
        estimator.fit(X, X[:, 0])
    assert estimator.n_iter_ == 0 and estimator.loss_curve_ == []
    for array in estimator.coefs_ + estimator.intercepts_:
        assert np.all(np.isfinite(array))


@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_lbfgs_with_a_non_finite_cost_keeps_the_last_finite_iterate(kind):
    X = RNG.normal(size=(40, 3)) * 1e200
    target = (X[:, 0] > 0).astype(int) if kind is MLPClassifier else X[:, 0]
    estimator = kind(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50, random_state=0, backend="serial")
    with pytest.warns(
        DivergenceWarning, match=r"at iteration \d+; .*weights after iteration \d+ were kept.*scale them"
    ):
        estimator.fit(X, target)
    for array in estimator.coefs_ + estimator.intercepts_:
        assert np.all(np.isfinite(array))


def test_all_finite_is_exact_where_the_sum_overflows():
    big = np.full(4, np.finfo(np.float64).max)
    with np.errstate(all="raise"):
        assert all_finite(big)
    assert not all_finite(np.array([1.0, np.nan]))
    assert not all_finite(np.array([np.inf, -np.inf]))
    assert not all_finite(np.append(big, np.inf))
