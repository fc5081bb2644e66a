"""fastbp's MLPClassifier / MLPRegressor against scikit-learn's: same trajectory, same fitted state."""

import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastbp  # noqa: E402
from fastbp import MLPClassifier, MLPRegressor, from_sklearn  # noqa: E402

RTOL = 1e-10


def both(kind, **params):
    """The fastbp estimator and scikit-learn's, with the same parameters."""
    ours = {"classifier": MLPClassifier, "regressor": MLPRegressor}[kind](**params)
    theirs = {"classifier": neural_network.MLPClassifier, "regressor": neural_network.MLPRegressor}[kind](**params)
    return ours, theirs


def fit_quietly(estimator, *args, method="fit", **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(estimator, method)(*args, **kwargs)


def assert_same_weights(ours, theirs, rtol=RTOL):
    """Each coefs_ / intercepts_ array agrees to ``rtol`` relative to its largest entry."""
    for mine, reference in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        assert mine.shape == reference.shape
        np.testing.assert_allclose(mine, reference, rtol=0, atol=rtol * np.abs(reference).max())


def problem(kind, n_samples=60, n_features=5, n_outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    if kind == "classifier":
        return X, np.array(["cat", "dog", "emu"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    y = X @ rng.normal(size=(n_features, n_outputs)) + 0.1 * rng.normal(size=(n_samples, n_outputs))
    return X, y.ravel() if n_outputs == 1 else y


SGD_CASES = [
    dict(momentum=0.0, alpha=0.0, batch_size=1, learning_rate_init=0.01),
    dict(momentum=0.9, nesterovs_momentum=False, alpha=1e-3, batch_size=7),
    dict(momentum=0.9, nesterovs_momentum=True, alpha=0.1, batch_size=16),
    dict(momentum=0.5, alpha=1e-4, batch_size=200, learning_rate="invscaling", power_t=0.25),
]


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("options", SGD_CASES)
def test_sgd_trajectory_matches_sklearn_from_the_same_initial_weights(kind, options):
    X, y = problem(kind)
    params = dict(
        hidden_layer_sizes=(6, 4),
        activation="tanh",
        solver="sgd",
        shuffle=False,
        max_iter=1,
        random_state=0,
        **{"learning_rate_init": 0.05, **options},
    )
    ours, theirs = both(kind, **params)
    fit_quietly(theirs, X, y)
    start = from_sklearn(theirs)  # the same initial weights, copied from scikit-learn's model
    for model in (ours, theirs):
        model.set_params(warm_start=True, max_iter=6)
    fit_quietly(theirs, X, y)
    ours = start.set_params(warm_start=True, max_iter=6)
    fit_quietly(ours, X, y)
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)
    assert (ours.n_iter_, ours.t_) == (theirs.n_iter_, theirs.t_)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_same_random_state_gives_sklearns_run_with_shuffling_and_sample_weights(kind, solver):
    X, y = problem(kind, n_samples=50)
    weights = np.random.default_rng(1).uniform(0.2, 2.0, X.shape[0])
    params = dict(
        hidden_layer_sizes=(7,),
        activation="relu",
        solver=solver,
        batch_size=8,
        max_iter=8,
        learning_rate_init=0.01,
        random_state=3,
    )
    ours, theirs = both(kind, **params)
    for model in (ours, theirs):
        fit_quietly(model, X, y, sample_weight=weights)
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_stopping_rules_follow_sklearn(kind):
    X, y = problem(kind, n_samples=80)
    cases = [
        dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=1, max_iter=30),
        dict(solver="adam", tol=0.01, n_iter_no_change=2, max_iter=50),
        dict(solver="sgd", early_stopping=True, validation_fraction=0.2, tol=0.01, n_iter_no_change=3, max_iter=40),
    ]
    for case in cases:
        ours, theirs = both(kind, hidden_layer_sizes=(5,), learning_rate_init=0.05, random_state=1, **case)
        for model in (ours, theirs):
            fit_quietly(model, X, y)
        assert ours.n_iter_ == theirs.n_iter_ < case["max_iter"]
        assert_same_weights(ours, theirs)
        for name in ("best_loss_", "validation_scores_", "best_validation_score_"):
            np.testing.assert_allclose(
                np.asarray(getattr(ours, name), dtype=float), np.asarray(getattr(theirs, name), dtype=float), rtol=RTOL
            )


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_keeps_the_optimiser_state_like_sklearn(solver):
    X, y = problem("classifier")
    ours, theirs = both(
        "classifier", hidden_layer_sizes=(6,), solver=solver, learning_rate_init=0.02, random_state=0, batch_size=10
    )
    for start in range(0, 60, 20):
        for model in (ours, theirs):
            model.partial_fit(X[start : start + 20], y[start : start + 20], classes=np.unique(y))
    assert_same_weights(ours, theirs)
    assert (ours.t_, ours.n_iter_) == (theirs.t_, theirs.n_iter_)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_lbfgs_matches_sklearn(kind):
    X, y = problem(kind)
    ours, theirs = both(kind, hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15, alpha=1e-3, random_state=0)
    for model in (ours, theirs):
        fit_quietly(model, X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)
    assert_same_weights(ours, theirs, rtol=1e-7)


def test_several_squared_error_outputs_report_the_cost_that_is_minimised():
    X, y = problem("regressor", n_outputs=3)
    ours, theirs = both(
        "regressor",
        hidden_layer_sizes=(5,),
        solver="sgd",
        alpha=0.0,
        shuffle=False,
        max_iter=4,
        learning_rate_init=0.01,
        random_state=0,
    )
    for model in (ours, theirs):
        fit_quietly(model, X, y)
    assert_same_weights(ours, theirs)
    # scikit-learn averages the data term over the 3 outputs; fastbp sums them (the gradient's function).
    np.testing.assert_allclose(ours.loss_curve_, 3 * np.asarray(theirs.loss_curve_), rtol=RTOL)


def test_poisson_loss_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0]))
    ours, theirs = both(
        "regressor",
        loss="poisson",
        hidden_layer_sizes=(4,),
        solver="adam",
        max_iter=10,
        learning_rate_init=0.01,
        random_state=0,
    )
    for model in (ours, theirs):
        fit_quietly(model, X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)


@pytest.mark.parametrize("labels", ["strings", "integers", "binary", "multilabel"])
def test_labels_and_probabilities_as_in_sklearn(labels):
    X, names = problem("classifier")
    y = {
        "strings": names,
        "integers": np.searchsorted(np.unique(names), names) * 10 - 5,
        "binary": names == "dog",
        "multilabel": np.column_stack([names == "dog", names != "emu", X[:, 2] > 0]).astype(int),
    }[labels]
    ours, theirs = both("classifier", hidden_layer_sizes=(6,), max_iter=20, random_state=0, learning_rate_init=0.01)
    for model in (ours, theirs):
        fit_quietly(model, X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.out_activation_ == theirs.out_activation_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=1e-9)
    assert ours.score(X, y) == theirs.score(X, y)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_interchange_both_ways_keeps_predictions_and_training(solver):
    X, y = problem("classifier")
    theirs = neural_network.MLPClassifier(hidden_layer_sizes=(6,), solver=solver, random_state=0, max_iter=5)
    fit_quietly(theirs, X, y)
    ours = from_sklearn(theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    back = ours.to_sklearn()
    np.testing.assert_array_equal(back.predict_proba(X), theirs.predict_proba(X))
    # Continued by either library, with the optimiser's state carried over: the same weights.
    for model in (ours, theirs, back):
        model.partial_fit(X, y)
    assert_same_weights(ours, theirs)
    assert_same_weights(back, theirs, rtol=0)


def test_coefs_are_the_transposed_weights_and_can_be_replaced():
    X, y = problem("regressor")
    model = fit_quietly(MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, y)
    network = model._network
    assert model.coefs_[0].shape == (5, 4) and network.W[1].shape == (4, 5)
    np.testing.assert_array_equal(model.coefs_[0], network.W[1].T)
    model.coefs_ = [np.zeros((5, 4)), np.zeros((4, 1))]
    model.intercepts_ = [np.zeros(4), np.full(1, 2.5)]
    np.testing.assert_array_equal(model.predict(X), np.full(X.shape[0], 2.5))


def test_float32_is_kept_and_dtype_forces():
    X, y = problem("classifier")
    kept = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2), X.astype(np.float32), y)
    assert kept.coefs_[0].dtype == np.float32 and kept.predict_proba(X).dtype == np.float32
    forced = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, dtype="float64"), X.astype(np.float32), y)
    assert forced.coefs_[0].dtype == np.float64


def test_callback_can_stop_and_verbose_prints_each_epoch(capsys):
    X, y = problem("regressor")
    seen = []

    def stop_at_three(estimator, epoch, loss):
        seen.append((epoch, loss))
        return epoch == 3

    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, verbose=True, callback=stop_at_three)
    model.fit(X, y)
    assert model.n_iter_ == 3 and [epoch for epoch, _ in seen] == [1, 2, 3]
    assert [loss for _, loss in seen] == model.loss_curve_
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"Iteration {epoch}, loss = {loss:.8f}" for epoch, loss in seen]
    lbfgs = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=50, callback=lambda est, i, loss: i == 2)
    assert lbfgs.fit(X, y).n_iter_ == 2


def test_pickle_round_trip_keeps_predictions_and_optimiser():
    X, y = problem("classifier")
    model = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, y)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    for estimator in (model, copy):
        estimator.partial_fit(X, y)
    assert_same_weights(copy, model, rtol=0)


def test_invalid_parameters_are_refused():
    X, y = problem("classifier")
    for params, error in [
        (dict(solver="newton"), ValueError),
        (dict(momentum=1.5), ValueError),
        (dict(hidden_layer_sizes=(3, 0)), ValueError),
        (dict(backend="gpu"), ValueError),
        (dict(dtype="int8"), TypeError),
        (dict(batch_size=0), ValueError),
    ]:
        with pytest.raises(error):
            MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson").fit(X, -np.ones(X.shape[0]))
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_without_sklearn_fastbp_imports_and_the_estimators_say_what_to_install():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import fastbp\n"
        "assert 'sklearn' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n    fastbp.MLPClassifier\nexcept ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install fastbp[sklearn]" in result.stdout


def test_import_fastbp_does_not_import_sklearn():
    code = "import sys, fastbp; print('sklearn' in sys.modules, 'fastbp.sklearn.base' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
    assert fastbp.MLPRegressor is MLPRegressor


@pytest.mark.parametrize("target", ["binary", "multilabel", "two outputs"])
def test_early_stopping_follows_sklearn_for_every_kind_of_target(target):
    """The validation score computed in the compiled loop (accuracy of each side of 0.5, R^2 of several outputs)."""
    X, names = problem("classifier", n_samples=90)
    kind, y = {
        "binary": ("classifier", names == "dog"),
        "multilabel": ("classifier", np.column_stack([names == "dog", names != "emu", X[:, 2] > 0]).astype(int)),
        "two outputs": ("regressor", problem("regressor", n_samples=90, n_outputs=2)[1]),
    }[target]
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    params = dict(hidden_layer_sizes=(5,), solver="adam", learning_rate_init=0.05, early_stopping=True,
                  validation_fraction=0.25, tol=1e-3, n_iter_no_change=3, max_iter=60, batch_size=16)  # fmt: skip
    ours, theirs = both(kind, **params)
    for model in (ours, theirs):  # a generator each, in the same state
        model.set_params(random_state=np.random.RandomState(4))
    for model in (ours, theirs):
        fit_quietly(model, X, y, sample_weight=weights)
    assert ours.n_iter_ == theirs.n_iter_ < 60
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=RTOL)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=RTOL)
    assert ours._no_improvement_count == theirs._no_improvement_count
    assert_same_weights(ours, theirs)
    # the generators are left in the same place: the same next draw
    assert ours.random_state.random_sample() == theirs.random_state.random_sample()


@pytest.mark.parametrize("bit_generator", ["MT19937", "PCG64"])
@pytest.mark.parametrize("stops", [True, False])
def test_shuffling_leaves_the_random_state_where_sklearn_leaves_it(bit_generator, stops):
    """Each epoch's permutation drawn in the kernels (MT19937) or in Python (another bit generator)."""
    X, y = problem("classifier")

    def generator():
        return np.random.RandomState(getattr(np.random, bit_generator)(11))

    params = dict(hidden_layer_sizes=(4,), batch_size=10, learning_rate_init=0.01, max_iter=25)
    params.update(tol=0.05, n_iter_no_change=2) if stops else params.update(tol=0.0)
    ours, theirs = both("classifier", **params)
    for model in (ours, theirs):
        fit_quietly(model.set_params(random_state=generator()), X, y)
    assert (ours.n_iter_ < 25) == stops and ours.n_iter_ == theirs.n_iter_
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)
    assert ours.random_state.random_sample() == theirs.random_state.random_sample()


@pytest.mark.parametrize("incremental", [False, True])
def test_refits_from_a_seed_follow_sklearns_and_make_no_random_state(incremental, monkeypatch):
    # scikit-learn makes RandomState(seed) anew in every fit and partial_fit, so each call reshuffles
    # from the seed's first draw; fastbp takes the seed's words from a cache (fastbp.sklearn.randomness).
    X, y = problem("classifier")
    params = dict(hidden_layer_sizes=(4,), batch_size=10, learning_rate_init=0.01, max_iter=3, tol=0.0,
                  warm_start=True, random_state=5)  # fmt: skip
    ours, theirs = both("classifier", **params)

    def train(model):
        return model.partial_fit(X, y, classes=np.unique(y)) if incremental else fit_quietly(model, X, y)

    for _ in range(2):
        for model in (ours, theirs):
            train(model)
    made = []

    class Counted(np.random.RandomState):
        def __init__(self, *args):
            made.append(args)
            super().__init__(*args)

    monkeypatch.setattr(np.random, "RandomState", Counted)
    train(ours)
    monkeypatch.undo()
    train(theirs)
    assert made == []
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)


def test_a_warm_started_refit_trains_in_the_buffers_of_the_fit_before():
    # A new optimiser per fit, as scikit-learn's, but not new scratch arrays: same results as a fresh trainer's.
    X, y = problem("classifier")
    params = dict(hidden_layer_sizes=(4,), batch_size=10, max_iter=2, tol=0.0, warm_start=True, random_state=3)
    model, fresh = fit_quietly(MLPClassifier(**params), X, y), fit_quietly(MLPClassifier(**params), X, y)
    buffers = model._trainer.buffers
    fit_quietly(model, X, y)
    assert model._trainer.buffers is buffers
    fresh._trainer = None  # the refit makes its own buffers
    fit_quietly(fresh, X, y)
    assert fresh._trainer.buffers is not buffers
    assert_same_weights(model, fresh, rtol=0)


def test_a_refit_checks_the_parameters_again_only_when_they_changed(monkeypatch):
    # Unchanged immutable parameters were checked by the fit before; any change, a value of another
    # type, or a mutable value (a list, which can change in place) is checked again.
    import fastbp.sklearn.base as base

    X, y = problem("classifier")
    model = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, warm_start=True, random_state=0), X, y)
    checks = []
    monkeypatch.setattr(base.BaseMLP, "_check_params", lambda self: checks.append(1))
    fit_quietly(model, X, y)
    assert checks == []
    model.set_params(alpha=1e-3)
    fit_quietly(model, X, y)
    model.set_params(alpha=np.float32(1e-3))  # equal, of another type
    fit_quietly(model, X, y)
    model.set_params(hidden_layer_sizes=(np.int64(4),))  # an equal tuple of another element type
    fit_quietly(model, X, y)
    assert len(checks) == 3
    model.set_params(hidden_layer_sizes=(4,))
    monkeypatch.undo()
    model.set_params(max_iter=True)  # equal to 1, and refused
    with pytest.raises(TypeError, match="max_iter"):
        model.fit(X, y)
    sizes = [4]
    model.set_params(max_iter=1, hidden_layer_sizes=sizes)
    fit_quietly(model, X, y)
    sizes[0] = -4  # changed in place after a fit that checked it
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        model.fit(X, y)


def test_a_fit_random_state_checks_and_gives_back_only_the_callers_generator():
    from fastbp.numerics.shuffling import random_state_words
    from fastbp.sklearn.randomness import FitRandomState

    with pytest.raises(ValueError, match="cannot be used to seed"):
        FitRandomState("seven")
    seeded = FitRandomState(7)
    np.testing.assert_array_equal(seeded.words(), random_state_words(np.random.RandomState(7)))
    seeded.generator.uniform(size=3)  # a draw (the initial weights): the words follow the generator
    moved = np.random.RandomState(7)
    moved.uniform(size=3)
    np.testing.assert_array_equal(seeded.words(), random_state_words(moved))
    callers = np.random.RandomState(7)
    words = FitRandomState(callers).words()
    words[0] ^= 1
    FitRandomState(callers).give_back(words)
    np.testing.assert_array_equal(random_state_words(callers), words)


def test_seeded_fits_reuse_one_generator_per_thread_but_never_one_still_held():
    import threading

    from fastbp.numerics.shuffling import random_state_words
    from fastbp.sklearn.randomness import FitRandomState

    outer = FitRandomState(3)
    held = outer.generator
    held.uniform(size=5)
    inner = FitRandomState(4)  # a fit inside the first one's callback: a generator of its own
    assert inner.generator is not held
    np.testing.assert_array_equal(random_state_words(inner.generator), random_state_words(np.random.RandomState(4)))
    moved = np.random.RandomState(3)
    moved.uniform(size=5)
    np.testing.assert_array_equal(outer.words(), random_state_words(moved))
    del outer, inner
    again = FitRandomState(3)
    assert again.generator is held  # the first fit is over: reseeded, not made anew
    np.testing.assert_array_equal(again.words(), random_state_words(np.random.RandomState(3)))
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(FitRandomState(3).generator))
    thread.start()
    thread.join()
    assert elsewhere[0] is not held
    X, y = problem("classifier")
    fits = [fit_quietly(MLPClassifier((5,), max_iter=3, random_state=0), X, y) for _ in range(2)]
    assert fits[0].coefs_[0].tobytes() == fits[1].coefs_[0].tobytes()


def test_parameters_checked_once_for_every_estimator_that_has_them(monkeypatch):
    import gc
    import weakref

    from fastbp.sklearn import base, validation

    X, y = problem("classifier")
    monkeypatch.setattr(validation, "VALID_PARAMETERS", {})
    checks = []
    original = base.check_parameters
    monkeypatch.setattr(base, "check_parameters", lambda estimator: checks.append(1) or original(estimator))
    for _ in range(3):
        fit_quietly(MLPClassifier((5,), max_iter=2, random_state=0, alpha=0.125), X, y)
    assert len(checks) == 1  # the first estimator's; its clones' parameters are known to pass
    with pytest.raises(ValueError, match="max_iter"):
        MLPClassifier((5,), max_iter=0, alpha=0.125).fit(X, y)
    with pytest.raises(ValueError, match="max_iter"):
        MLPClassifier((5,), max_iter=0, alpha=0.125).fit(X, y)  # a refused set is checked every time

    def callback(model, epoch, loss):
        return False

    watched = weakref.ref(callback)
    fit_quietly(MLPClassifier((5,), max_iter=2, alpha=0.125, callback=callback), X, y)
    del callback
    gc.collect()
    assert watched() is None  # sets holding a callable are not kept


def test_the_whole_fit_runs_in_a_few_calls_of_the_compiled_loop(monkeypatch):
    from fastbp.backends.cpu import serial

    X, y = problem("classifier")
    calls = []
    real = serial.train_epochs

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(serial, "train_epochs", counted)
    model = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=300, tol=0, random_state=0, backend="serial"),
                        X, y)  # fmt: skip
    assert model.n_iter_ == 300 and len(model.loss_curve_) == 300
    # The first chunk is counted in multiply-adds (fastbp.engine.training.first_chunk): this
    # small network's 300 epochs are far fewer than it, and run in one call.
    assert len(calls) == 1


@pytest.mark.parametrize("backend, expected", [("serial", 1984), ("parallel", 1984), ("auto", 1984), ("numpy", 1)])
def test_the_first_chunk_of_epochs_is_counted_in_multiply_adds_on_the_compiled_cpu_loop(backend, expected):
    from fastbp.engine.training import first_chunk

    sizes = [4, 32, 3]  # iris: 224 weights, 150 samples, 3 * 150 * 224 multiply-adds an epoch
    assert first_chunk(backend, sizes, 150) == expected
    assert first_chunk(backend, [784, 4096, 4096, 10], 60000) == 1  # an epoch of more work than that


def test_predictions_after_fit_compile_nothing_and_agree_with_checked_input():
    from fastbp.backends.cpu import serial

    X, y = problem("classifier")
    for dtype in (np.float64, np.float32):
        model = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0, backend="serial"),
                            X.astype(dtype), y)  # fmt: skip
        compiled = len(serial.predict.signatures)
        proba = model.predict_proba(X[:1].astype(dtype))
        # the fast path (a float array) and scikit-learn's checks (a list) give the same predictions
        np.testing.assert_array_equal(proba, model.predict_proba(X[:1].tolist()))
        np.testing.assert_array_equal(model.predict(X), model.predict(X.tolist()))
        assert model.score(X, y) == model.score(X.tolist(), list(y))
        assert len(serial.predict.signatures) == compiled
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((1, X.shape[1]), np.nan))
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


def test_verbose_says_when_the_adaptive_rate_is_divided(capsys):
    X, y = problem("regressor")
    model = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive", tol=10.0,
                         n_iter_no_change=1, max_iter=40, verbose=True, random_state=0)  # fmt: skip
    fit_quietly(model, X, y)
    printed = capsys.readouterr().out
    assert "Setting learning rate to 0.000200" in printed
    assert printed.rstrip().endswith("Learning rate too small. Stopping.")


@pytest.mark.parametrize("labels", ["strings", "integers", "codes", "binary"])
def test_continued_fits_encode_labels_as_the_label_binarizer_does(labels):
    X, names = problem("classifier")
    codes = np.searchsorted(np.unique(names), names)  # 0 .. C-1: label_index's shortcut
    y = {"strings": names, "integers": codes * 10 - 5, "codes": codes, "binary": names == "dog"}[labels]
    model = fit_quietly(MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, warm_start=True, random_state=0), X, y)
    for every_class in (True, False):
        encoded = model._known_labels_indicator(y, every_class)
        np.testing.assert_array_equal(encoded, model._label_binarizer.transform(y))
    assert model._known_labels_indicator(y[:1], every_class=True) is None  # not every class: scikit-learn's checks
    if labels != "binary":  # a label not in classes_: scikit-learn's checks, which name it
        unknown = np.array([y[0], {"strings": "yak", "integers": 99, "codes": 99}[labels]])
        assert model._known_labels_indicator(unknown, every_class=False) is None
        with pytest.raises(ValueError, match="yak|99"):
            model.partial_fit(X[:2], unknown)


@pytest.mark.parametrize(
    "classes",
    [np.arange(4), np.array([0, 1, 3]), np.array([-1, 0, 1, 2]), np.array([2, 3, 5]), np.arange(4, dtype=np.int8)],
    ids="codes gap negative shifted int8".split(),
)
def test_label_index_finds_each_label_in_the_classes_or_says_none(classes):
    from fastbp.sklearn.classifier import label_index

    y = classes[[0, 2, 1, 2, len(classes) - 1]]
    np.testing.assert_array_equal(label_index(classes, y), [0, 2, 1, 2, len(classes) - 1])
    between = [value for value in range(classes.min(), classes.max()) if value not in classes]  # in a gap
    for outside in [classes.min() - 1, classes.max() + 1, *between]:
        assert label_index(classes, np.append(y, outside).astype(classes.dtype)) is None


@pytest.mark.parametrize(
    "y",
    [
        np.array([3, 1, 2, 1, 3]),
        np.array([0.0, 2.0, 1.0, 2.0]),
        np.array(["b", "a", "b"]),
        np.array([5, 7, 7, 5], dtype=np.uint8),
        np.array([True, False, True]),
        np.array([1.0, 2.0, np.nan]),
        np.array([0.5, 1.0, 2.0]),
        np.array([4, 4, 4]),
        np.array(["x", 1, 2.5], dtype=object),
        np.array([[0, 1], [1, 0], [1, 1]]),
    ],
    ids="integers whole-floats strings uint8 bools nan continuous one-class mixed multilabel".split(),
)
def test_a_new_fit_fits_the_label_binarizer_as_scikit_learn_does(y):
    from sklearn.preprocessing import LabelBinarizer

    from fastbp.sklearn.validation import fitted_label_binarizer

    try:
        expected = LabelBinarizer().fit(y)
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error), match=re.escape(str(error))):
            fitted_label_binarizer(y)
        return
    fitted = fitted_label_binarizer(y)
    assert (fitted.y_type_, fitted.sparse_input_) == (expected.y_type_, expected.sparse_input_)
    assert fitted.classes_.dtype == expected.classes_.dtype
    np.testing.assert_array_equal(fitted.classes_, expected.classes_)
    np.testing.assert_array_equal(fitted.transform(y), expected.transform(y))


def test_the_regressors_score_of_one_sample_is_nan_with_scikit_learns_warning():
    from sklearn.exceptions import UndefinedMetricWarning

    X, y = problem("regressor")
    model = fit_quietly(MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, y)
    for inputs, targets in ((X[:1], y[:1]), (X[:1].tolist(), y[:1].tolist())):  # the fast path, scikit-learn's
        with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
            assert np.isnan(model.score(inputs, targets))


PLAIN_X = np.arange(12.0).reshape(4, 3) / 10


@pytest.mark.parametrize(
    "X, y",
    [
        (PLAIN_X.tolist(), np.array([0, 1, 0, 1])),  # a list
        (PLAIN_X.astype(int), np.array([0, 1, 0, 1])),  # integers
        (PLAIN_X.astype(complex), np.array([0, 1, 0, 1])),  # complex
        (np.where(PLAIN_X > 0.5, np.nan, PLAIN_X), np.array([0, 1, 0, 1])),  # NaN
        (PLAIN_X[:0], np.array([], dtype=int)),  # no samples
        (PLAIN_X[:, :0], np.array([0, 1, 0, 1])),  # no features
        (PLAIN_X, np.array([0, 1, 0])),  # inconsistent lengths
        (PLAIN_X, np.array([True, False, True, False])),  # booleans
        (PLAIN_X, np.array([0.0, np.inf, 0.0, 1.0])),  # an infinite target
        (PLAIN_X, np.array(["a", "b", "a", "b"])),  # strings
        (PLAIN_X[:, :, None], np.array([0, 1, 0, 1])),  # 3-d
    ],
)
def test_only_plain_arrays_skip_sklearns_checks(X, y):
    from fastbp.sklearn.validation import plain_inputs

    assert plain_inputs(MLPClassifier(), X, y, (np.float64, np.float32), reset=True) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_plain_arrays_are_checked_and_recorded_as_sklearn_records_them():
    from sklearn.utils.validation import validate_data

    from fastbp.sklearn.validation import plain_inputs

    y = np.array([0, 1, 0, 1])
    for X, dtype in ((PLAIN_X, (np.float64, np.float32)), (PLAIN_X.astype(np.float16), (np.float64, np.float32))):
        ours, theirs = MLPClassifier(), MLPClassifier()
        ours.feature_names_in_ = theirs.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
        got = plain_inputs(ours, X, y, dtype, reset=True)
        want = validate_data(theirs, X, y, multi_output=True, dtype=dtype, reset=True, accept_sparse=True)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        assert vars(ours) == {**vars(theirs), "n_features_in_": 3} and "feature_names_in_" not in vars(ours)
    # Continuing a fit (reset=False): the columns must match what was seen, else scikit-learn's checks run.
    assert plain_inputs(ours, PLAIN_X, y, np.float32, reset=False)[0].dtype == np.float32
    assert plain_inputs(ours, PLAIN_X[:, :2], y, np.float32, reset=False) is None
    with pytest.raises(ValueError, match="3 features"):
        MLPClassifier(warm_start=True, max_iter=5).fit(PLAIN_X, y).fit(PLAIN_X[:, :2], y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_prepares_only_the_predict_kernels_this_process_has_not_run(monkeypatch):
    from fastbp.engine import network as network_module
    from fastbp.engine.network import Network

    monkeypatch.setattr(network_module, "PREPARED_PREDICT_KERNELS", set())  # as in a new process
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    prepared = []
    planned_outputs = Network._planned_outputs
    monkeypatch.setattr(
        Network,
        "_planned_outputs",
        lambda self, rows, x, *args: prepared.append(rows) or planned_outputs(self, rows, x, *args),
    )
    model = MLPClassifier(max_iter=2, random_state=1).fit(X, y)
    assert prepared == []  # the same kernels: nothing to load
    assert model.predict(X).shape == (40,) and prepared == [40]
    MLPClassifier(max_iter=2, random_state=1, dtype=np.float32).fit(X, y)  # a dtype of its own
    assert len(prepared) > 1
