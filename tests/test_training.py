"""Whole training runs: the compiled epoch loop against the oracle's, determinism, the source texts' cases."""

import numpy as np
import pytest
from conftest import OUTPUT_COSTS, TOLERANCE, random_problem

from fastbp import DivergenceWarning, Network, gradient_descent_1d
from fastbp.cli.demo import train_digits


def copy_network(network):
    twin = Network(
        network.sizes.tolist(),
        network.hidden_activation,
        network.output_activation,
        network.cost,
        l2=network.l2,
        dtype=network.dtype,
        seed=0,
        theta=network.theta,
    )
    twin.rng_state[:] = network.rng_state
    return twin


def fit_copy(network, X, Y, backend, **options):
    return copy_network(network).fit(X, Y, backend=backend, **options)


@pytest.mark.with_reference
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [1, 3, 1000])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_epochs_match_oracle(backend, output, cost, batch_size, dtype):
    network, X, Y = random_problem(11, "tanh", output, cost, dtype=dtype, l2=1e-2, n_layers=3, n_samples=10)
    options = dict(epochs=4, learning_rate=0.2, batch_size=batch_size, shuffle=True)
    trained = fit_copy(network, X, Y, backend, **options)
    oracle = fit_copy(network, X, Y, "numpy", **options)
    np.testing.assert_allclose(trained.theta, oracle.theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(trained.loss_curve, oracle.loss_curve, rtol=TOLERANCE[dtype])
    assert trained.theta.dtype == np.dtype(dtype)


@pytest.mark.with_reference
def test_same_seed_gives_bitwise_identical_weights(backend):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 6)), rng.uniform(size=(50, 3))
    runs = [Network([6, 8, 3], seed=42).fit(X, Y, epochs=5, batch_size=7, backend=backend) for _ in range(2)]
    assert runs[0].theta.tobytes() == runs[1].theta.tobytes()
    assert runs[0].loss_curve == runs[1].loss_curve
    other_seed = Network([6, 8, 3], seed=43).fit(X, Y, epochs=5, batch_size=7, backend=backend)
    assert other_seed.theta.tobytes() != runs[0].theta.tobytes()


def test_a_network_of_given_parameters_owns_a_copy_and_shuffles_as_its_seed_says():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(30, 3)), rng.uniform(size=(30, 2))
    drawn = Network([3, 4, 2], seed=5)
    given = drawn.theta * 0.5
    network = Network([3, 4, 2], seed=5, theta=given)
    assert network.theta.tobytes() == given.tobytes() and network.theta.base is not given
    given[:] = 0.0
    assert network.theta.any()
    assert network.rng_state.tobytes() == drawn.rng_state.tobytes()
    drawn.theta[:] = network.theta
    for one in (network, drawn):
        one.fit(X, Y, epochs=3, batch_size=4, backend="serial")
    assert network.theta.tobytes() == drawn.theta.tobytes()
    single = Network([3, 4, 2], dtype="float32", theta=drawn.theta.tolist())
    assert single.theta.dtype == np.float32
    np.testing.assert_array_equal(single.theta, drawn.theta.astype(np.float32))


def test_one_long_fit_equals_many_short_ones(backend):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(20, 4)), rng.uniform(size=(20, 2))
    once = Network([4, 5, 2], seed=3).fit(X, Y, epochs=6, batch_size=4, backend=backend)
    twice = Network([4, 5, 2], seed=3)
    for _ in range(3):
        twice.fit(X, Y, epochs=2, batch_size=4, backend=backend)
    assert once.theta.tobytes() == twice.theta.tobytes()
    assert once.loss_curve == twice.loss_curve


def test_fits_of_one_network_reuse_their_work_buffers_and_copies_get_their_own(backend):
    import copy
    import pickle

    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(20, 4)), rng.uniform(size=(20, 2))
    network = Network([4, 5, 2], seed=3).fit(X, Y, epochs=1, batch_size=4, backend=backend)
    buffers = network._scratch[0]
    assert buffers is not None
    network.fit(X, Y, epochs=1, batch_size=4, backend=backend)
    assert network._scratch[0] is buffers  # the same data: nothing allocated again
    network.fit(X[:12], Y[:12], epochs=1, batch_size=5, backend=backend)  # other shapes: new buffers
    assert network._scratch[0] is not buffers and network._scratch[0][0].shape == (12,)
    for twin in (copy.deepcopy(network), copy.copy(network), pickle.loads(pickle.dumps(network))):
        assert twin._scratch == (None, None)
        np.testing.assert_array_equal(twin.theta, network.theta)
    # Reused buffers change nothing: the same fits, each in new buffers, give the same bits.
    fresh = Network([4, 5, 2], seed=3)
    for rows, batch_size in ((20, 4), (20, 4), (12, 5)):
        fresh._scratch = (None, None)
        fresh.fit(X[:rows], Y[:rows], epochs=1, batch_size=batch_size, backend=backend)
    assert fresh.theta.tobytes() == network.theta.tobytes() and fresh.loss_curve == network.loss_curve


def test_callback_sees_every_epoch_and_can_stop(backend):
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(16, 3)), rng.uniform(size=(16, 1))
    seen = []

    def stop_after_three(network, epoch, loss):
        seen.append((epoch, loss))
        return epoch == 3

    network = Network([3, 4, 1], seed=0).fit(X, Y, epochs=10, backend=backend, callback=stop_after_three)
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert network.loss_curve == [loss for _, loss in seen]


def test_divergence_stops_with_a_warning_and_finite_weights(backend):
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(32, 4)) * 100, rng.normal(size=(32, 1)) * 100
    network = Network([4, 8, 1], "relu", "identity", "mse", seed=0)
    with pytest.warns(DivergenceWarning, match=r"at epoch \d+.*smaller learning rate"):
        network.fit(X, Y, epochs=50, learning_rate=10.0, batch_size=4, backend=backend)
    assert np.all(np.isfinite(network.theta))
    assert np.all(np.isfinite(network.loss_curve))
    assert len(network.loss_curve) < 50


def test_digits_reach_95_percent_in_30_epochs(backend):
    result = train_digits(epochs=30, hidden=32, backend=backend, dtype="float32", seed=0)
    assert result["epochs"] == 30
    assert result["accuracy"] >= 0.95


@pytest.mark.with_reference
def test_xor_three_layer_sigmoid_network(backend):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    network = Network([2, 4, 1], "sigmoid", "sigmoid", "binary_cross_entropy", seed=0)
    network.fit(X, y, epochs=5000, learning_rate=0.5, batch_size=4, backend=backend)
    assert np.array_equal(network.predict(X) > 0.5, y > 0.5)


@pytest.mark.with_reference
def test_univariate_linear_regression_converges_to_least_squares(backend):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, 40)
    y = 1.5 - 0.7 * x + rng.normal(scale=0.3, size=40)
    network = Network([1, 1], output_activation="identity", cost="mse", seed=0)
    network.fit(x[:, None], y, epochs=2000, learning_rate=0.1, batch_size=40, shuffle=False, backend=backend)
    slope, intercept = np.polyfit(x, y, 1)
    assert network.W[1][0, 0] == pytest.approx(slope, rel=1e-8)
    assert network.b[1][0] == pytest.approx(intercept, rel=1e-8)


def test_gradient_descent_of_one_variable_reaches_the_minimum():
    path = gradient_descent_1d(lambda w: 2 * (w - 3.0), w0=-4.0, learning_rate=0.1, steps=200)
    assert path[0] == -4.0
    assert np.all(np.diff(np.abs(path[:50] - 3.0)) < 0)
    assert path[-1] == pytest.approx(3.0, abs=1e-12)


OPTIMIZERS = [
    ("sgd", dict(momentum=0.9)),
    ("sgd", dict(momentum=0.9, nesterov=True)),
    ("sgd", dict(momentum=0.5, schedule=1, power_t=0.5)),
    ("adam", dict(beta_1=0.8, beta_2=0.99, epsilon=1e-7)),
]


@pytest.mark.with_reference
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer,options", OPTIMIZERS)
def test_optimizers_and_sample_weights_match_oracle(backend, optimizer, options, dtype):
    from fastbp.engine.training import Trainer
    from fastbp.numerics.optim import hyperparameters

    network, X, Y = random_problem(
        5, "relu", "softmax", "categorical_cross_entropy", dtype=dtype, l2=1e-2, n_layers=2, n_samples=9
    )
    X, Y = X.astype(dtype), Y.astype(dtype)
    S = np.random.default_rng(0).uniform(0.1, 3.0, X.shape[0]).astype(dtype)
    results = []
    for name in (backend, "numpy"):
        twin = copy_network(network)
        trainer = Trainer(twin, hyperparameters(0.05, **options), optimizer, name)
        trainer.run(X, Y, S, epochs=5, batch_size=4)
        results.append((twin, trainer))
    (trained, trainer), (oracle, oracle_trainer) = results
    np.testing.assert_allclose(trained.theta, oracle.theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(trained.loss_curve, oracle.loss_curve, rtol=TOLERANCE[dtype])
    np.testing.assert_allclose(trainer.velocity, oracle_trainer.velocity, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_array_equal(trainer.counters, [15, 45])
    np.testing.assert_allclose(trainer.hyper, oracle_trainer.hyper, rtol=1e-15)


STOPPING_CASES = [
    # (output, cost, score kind, tol, n_iter_no_change, adaptive)
    ("softmax", "categorical_cross_entropy", "loss", 0.05, 1, False),
    ("sigmoid", "binary_cross_entropy", "loss", 0.5, 0, True),
    ("softmax", "categorical_cross_entropy", "accuracy_argmax", 0.0, 2, False),
    ("sigmoid", "binary_cross_entropy", "accuracy_threshold", 0.01, 1, False),
    ("identity", "mse", "r2", 0.01, 2, True),
]


@pytest.mark.with_reference
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost,score,tol,patience,adaptive", STOPPING_CASES)
def test_stopping_rules_and_random_state_shuffling_match_oracle(backend, output, cost, score, tol, patience, adaptive,
                                                                dtype):  # fmt: skip
    from fastbp.engine.training import StoppingRules, Trainer
    from fastbp.numerics import stopping
    from fastbp.numerics.optim import hyperparameters
    from fastbp.numerics.shuffling import random_state_words

    network, X, Y = random_problem(3, "tanh", output, cost, dtype=dtype, l2=1e-3, n_layers=2, n_samples=40)
    X, Y = X.astype(dtype), Y.astype(dtype)
    S = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0]).astype(dtype)
    kind = {"loss": stopping.NO_SCORE, "accuracy_argmax": stopping.ACCURACY_ARGMAX,
            "accuracy_threshold": stopping.ACCURACY_THRESHOLD, "r2": stopping.R2}[score]  # fmt: skip
    results = []
    for name in (backend, "numpy"):
        twin = copy_network(network)
        validation = (X[30:], Y[30:], S[30:]) if kind != stopping.NO_SCORE else (None, None, None)
        rules = StoppingRules(stopping.stopping_state(tol, patience, adaptive), twin.theta.copy(), kind, *validation)
        trainer = Trainer(twin, hyperparameters(0.2, momentum=0.5), "sgd", name)
        generator = random_state_words(np.random.RandomState(7))
        done = trainer.run(X[:30], Y[:30], S[:30], 60, 4, True, None, rules, generator)
        results.append((done, twin, trainer, rules, generator))
    done, trained, trainer, rules, generator = results[0]
    oracle_done, oracle, oracle_trainer, oracle_rules, oracle_generator = results[1]
    assert done == oracle_done < 60  # stopped by the rule, on the same epoch
    assert rules.stopping[stopping.STATUS] == stopping.CONVERGED
    np.testing.assert_array_equal(generator, oracle_generator)
    np.testing.assert_allclose(trained.loss_curve, oracle.loss_curve, rtol=TOLERANCE[dtype])
    np.testing.assert_allclose(trained.theta, oracle.theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(rules.scores, oracle_rules.scores, rtol=TOLERANCE[dtype])
    np.testing.assert_allclose(rules.best_theta, oracle_rules.best_theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(trainer.hyper, oracle_trainer.hyper, rtol=1e-15)
    # (RATE_CUTS counts within one call of the loop, and the calls are chunks sized by time)
    cut = stopping.RATE_CUTS
    np.testing.assert_allclose(rules.stopping[:cut], oracle_rules.stopping[:cut], rtol=TOLERANCE[dtype])
    assert len(rules.scores) == (done if kind != stopping.NO_SCORE else 0)
