"""The estimators' ``activation`` per hidden layer: scikit-learn's run for one name repeated, and mixed ones."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastbp import MLPClassifier, MLPRegressor, Network  # noqa: E402

ESTIMATORS = {"classifier": MLPClassifier, "regressor": MLPRegressor}


def problem(kind, n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    if kind == "classifier":
        return X, np.array(["cat", "dog", "emu"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    return X, X @ rng.normal(size=5) + 0.1 * rng.normal(size=n_samples)


def fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def parameters(estimator) -> list:
    return estimator.coefs_ + estimator.intercepts_


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_one_name_repeated_fits_bitwise_as_that_name(kind, solver, activation):
    X, y = problem(kind)
    options = dict(hidden_layer_sizes=(6, 4, 3), solver=solver, max_iter=5, random_state=0)
    one = fitted(ESTIMATORS[kind](activation=activation, **options), X, y)
    repeated = fitted(ESTIMATORS[kind](activation=[activation] * 3, **options), X, y)
    for mine, reference in zip(parameters(repeated), parameters(one), strict=True):
        assert mine.tobytes() == reference.tobytes()
    assert repeated.loss_curve_ == one.loss_curve_ if solver != "lbfgs" else repeated.loss_ == one.loss_
    assert repeated.network_.hidden_activation == one.network_.hidden_activation


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_one_name_repeated_follows_sklearns_trajectory(kind):
    X, y = problem(kind)
    options = dict(hidden_layer_sizes=(6, 4), solver="sgd", batch_size=8, max_iter=6, random_state=3)
    ours = fitted(ESTIMATORS[kind](activation=("logistic", "logistic"), **options), X, y)
    theirs = fitted(getattr(neural_network, ESTIMATORS[kind].__name__)(activation="logistic", **options), X, y)
    for mine, reference in zip(parameters(ours), parameters(theirs), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-10 * np.abs(reference).max())
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    assert ours.to_sklearn().activation == "logistic"


def test_mixed_initial_weights_take_each_layers_factor():
    # learning_rate_init so small that one epoch leaves the initial weights to 1e-12 relative
    X, y = problem("regressor")
    sizes = [5, 40, 30, 1]
    options = dict(solver="sgd", momentum=0.0, alpha=0.0, learning_rate_init=1e-14, max_iter=1, shuffle=False)
    model = fitted(
        MLPRegressor(hidden_layer_sizes=(40, 30), activation=["logistic", "relu"], random_state=7, **options), X, y
    )
    # scikit-learn's draws, in its order, with factor 2 for logistic layers and 6 for the others: the
    # output layer takes the factor of the last hidden layer
    random_state = np.random.RandomState(7)
    for l, factor in ((1, 2), (2, 6), (3, 6)):
        bound = np.sqrt(factor / (sizes[l - 1] + sizes[l]))
        coef = random_state.uniform(-bound, bound, (sizes[l - 1], sizes[l]))
        intercept = random_state.uniform(-bound, bound, sizes[l])
        np.testing.assert_allclose(model.coefs_[l - 1], coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(model.intercepts_[l - 1], intercept, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_mixed_estimator_fits_predicts_pickles_and_saves_its_network(kind, tmp_path):
    X, y = problem(kind, n_samples=120)
    activation = ["relu", "tanh", "logistic"]
    model = fitted(
        ESTIMATORS[kind](
            hidden_layer_sizes=(8, 6, 4), activation=activation, max_iter=200, learning_rate_init=0.01, random_state=0
        ),
        X,
        y,
    )
    assert model.activation is activation and activation == ["relu", "tanh", "logistic"]
    assert model.network_.hidden_activation == ("relu", "tanh", "sigmoid")
    assert model.score(X, y) > 0.8
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    assert copy.activation == activation
    model.network_.save(tmp_path / "model.npz")
    loaded = Network.load(tmp_path / "model.npz")
    assert loaded.hidden_activation == ("relu", "tanh", "sigmoid")
    outputs = loaded.predict(X)
    expected = model.predict_proba(X) if kind == "classifier" else model.predict(X)
    np.testing.assert_array_equal(outputs if kind == "classifier" else outputs.ravel(), expected)
    with pytest.raises(ValueError, match="one activation for all hidden layers"):
        model.to_sklearn()


def test_a_list_parameter_clones_and_is_never_changed():
    activation = ["relu", "tanh"]
    model = MLPClassifier((4, 3), activation=activation, max_iter=3, random_state=0)
    twin = clone(model)
    assert twin.get_params()["activation"] == activation and twin.activation is not activation
    fitted(model, *problem("classifier"))
    assert model.get_params()["activation"] is activation and activation == ["relu", "tanh"]
    model.set_params(activation="tanh")
    assert model.activation == "tanh"


@pytest.mark.parametrize(
    "activation, error, message",
    [
        (["relu"], ValueError, r"activation has 1 name\(s\) but hidden_layer_sizes has 2 hidden layer\(s\)"),
        (["relu", "tanh", "relu"], ValueError, r"activation has 3 name\(s\) but hidden_layer_sizes has 2"),
        ([], ValueError, r"activation has 0 name\(s\) but hidden_layer_sizes has 2"),
        (["relu", "sigmoid"], ValueError, r"activation\[1\] must be one of identity, logistic, tanh, relu; got 'sig"),
        (["relu", None], ValueError, r"activation\[1\] must be one of .*; got None"),
        ("softmax", ValueError, "activation must be one of identity, logistic, tanh, relu; got 'softmax'"),
        ({"relu", "tanh"}, TypeError, "activation must be one activation name, or a sequence of names"),
        (3, TypeError, "or a sequence of names one per hidden layer; got 3"),
    ],
)
def test_bad_activations_are_refused_at_fit(activation, error, message):
    X, y = problem("classifier")
    with pytest.raises(error, match=message):
        MLPClassifier((4, 3), activation=activation).fit(X, y)


# scikit-learn's estimator checks with a list parameter: cloned, compared, never changed by fit
MIXED_ESTIMATOR = MLPClassifier(
    (8, 4), activation=["relu", "tanh"], max_iter=40, learning_rate_init=0.05, random_state=0
)


@parametrize_with_checks([MIXED_ESTIMATOR])
def test_sklearn_estimator_checks_with_one_activation_per_hidden_layer(estimator, check):
    check(estimator)
