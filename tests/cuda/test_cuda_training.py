"""train_epochs on the GPU (or the simulator): end to end against the oracle, with each choice of kernels."""

import numpy as np
import pytest
from conftest import TOLERANCE, random_problem
from test_training import fit_copy

from fastbp import DivergenceWarning, Network


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", [("softmax", "categorical_cross_entropy"), ("sigmoid", "mse")])
def test_epochs_match_oracle(strategy, output, cost, dtype):
    # 10 samples in batches of 4: a ragged last batch.
    network, X, Y = random_problem(11, "tanh", output, cost, dtype=dtype, l2=1e-2, n_layers=2, n_samples=10)
    options = dict(epochs=2, learning_rate=0.2, batch_size=4, shuffle=True)
    trained = fit_copy(network, X, Y, "cuda", **options)
    oracle = fit_copy(network, X, Y, "numpy", **options)
    np.testing.assert_allclose(trained.theta, oracle.theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(trained.loss_curve, oracle.loss_curve, rtol=TOLERANCE[dtype])
    assert trained.theta.dtype == np.dtype(dtype)


def test_divergence_stops_with_finite_weights(strategy):
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(12, 3)) * 100, rng.normal(size=(12, 1)) * 100
    network = Network([3, 4, 1], "relu", "identity", "mse", seed=0)
    oracle = Network([3, 4, 1], "relu", "identity", "mse", seed=0)
    with pytest.warns(DivergenceWarning):
        network.fit(X, Y, epochs=6, learning_rate=10.0, batch_size=4, backend="cuda")
    with pytest.warns(DivergenceWarning):
        oracle.fit(X, Y, epochs=6, learning_rate=10.0, batch_size=4, backend="numpy")
    assert np.all(np.isfinite(network.theta))
    assert len(network.loss_curve) == len(oracle.loss_curve) < 6
    np.testing.assert_allclose(network.theta, oracle.theta, rtol=1e-10)


def test_same_seed_gives_bitwise_identical_weights(strategy):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(9, 3)), rng.uniform(size=(9, 2))
    runs = [Network([3, 4, 2], seed=42).fit(X, Y, epochs=2, batch_size=4, backend="cuda") for _ in range(2)]
    assert runs[0].theta.tobytes() == runs[1].theta.tobytes()
    assert runs[0].loss_curve == runs[1].loss_curve


def test_stopping_rules_and_random_state_shuffling_match_oracle(strategy):
    """The rules run on the host between epochs; each epoch's order drawn like scikit-learn's."""
    from fastbp.engine.training import StoppingRules, Trainer
    from fastbp.numerics import stopping
    from fastbp.numerics.optim import hyperparameters
    from fastbp.numerics.shuffling import random_state_words

    network, X, Y = random_problem(3, "tanh", "identity", "mse", l2=1e-3, n_layers=2, n_samples=16)
    S = np.ones(X.shape[0])
    kind = stopping.R2  # (the training-loss rule runs on the host the same way; the CPU tests cover both)
    results = []
    for name in ("cuda", "numpy"):
        twin = network.copy()
        validation = (X[12:], Y[12:], S[12:]) if kind == stopping.R2 else (None, None, None)
        rules = StoppingRules(stopping.stopping_state(0.05, 1, True), twin.theta.copy(), kind, *validation)
        trainer = Trainer(twin, hyperparameters(0.2, momentum=0.5), "sgd", name)
        generator = random_state_words(np.random.RandomState(7))
        done = trainer.run(X[:12], Y[:12], S[:12], 8, 4, True, None, rules, generator)
        results.append((done, twin, rules, generator))
    (done, trained, rules, generator), (oracle_done, oracle, oracle_rules, oracle_generator) = results
    assert done == oracle_done
    np.testing.assert_array_equal(generator, oracle_generator)
    np.testing.assert_allclose(trained.theta, oracle.theta, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rules.scores, oracle_rules.scores, rtol=1e-10)
    # (RATE_CUTS counts within one call of the loop, and the calls are chunks sized by time)
    np.testing.assert_allclose(
        rules.stopping[: stopping.RATE_CUTS], oracle_rules.stopping[: stopping.RATE_CUTS], rtol=1e-10
    )


def test_sparse_inputs_are_refused_with_what_to_do_and_the_weights_kept():
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.random(12, 6, density=0.3, random_state=0, format="csr")
    network = Network([6, 4, 1], "tanh", "identity", "mse", seed=0)
    theta = network.theta.copy()
    with pytest.raises(TypeError, match=r"cuda backend takes dense inputs only.*backend 'auto'"):
        network.fit(X, np.ones((12, 1)), epochs=1, backend="cuda")
    with pytest.raises(TypeError, match="cuda backend takes dense inputs only"):
        network.predict(X, backend="cuda")
    assert np.array_equal(network.theta, theta)
    np.testing.assert_allclose(network.predict(X.toarray(), backend="cuda"), network.predict(X), rtol=1e-12)
