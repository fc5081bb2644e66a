"""``MLPClassifier(class_weight=...)``: the sample weights it stands for, its refusals, its effect on a rare class."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import recall_score  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402

from fastbp import MLPClassifier  # noqa: E402

RTOL = 1e-10


def quietly(estimator, method="fit", *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(estimator, method)(*args, **kwargs)


def imbalanced(n_samples=120, seed=0):
    """Three string classes, the last a few percent of the samples."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    return X, np.array(["cat", "dog", "emu"])[(X[:, 0] > 0.6).astype(int) + (X[:, 1] > 1.2)]


def parameters(model) -> list[np.ndarray]:
    return model.coefs_ + model.intercepts_


def assert_same_fit(ours, reference):
    """Bitwise the same weights, loss curve and validation scores: the same trajectory."""
    for mine, theirs in zip(parameters(ours), parameters(reference), strict=True):
        assert np.array_equal(mine, theirs)
    assert ours.n_iter_ == reference.n_iter_
    for name in ("loss_curve_", "validation_scores_"):
        assert getattr(ours, name, None) == getattr(reference, name, None)


SOLVERS = [
    dict(solver="adam"),
    dict(solver="sgd", batch_size=16, learning_rate_init=0.05),
    dict(solver="adam", early_stopping=True, validation_fraction=0.25, n_iter_no_change=3),
    dict(solver="lbfgs"),
]


@pytest.mark.parametrize("options", SOLVERS, ids=["adam", "sgd", "early_stopping", "lbfgs"])
@pytest.mark.parametrize("class_weight", ["balanced", {"cat": 0.5, "emu": 7.0}], ids=["balanced", "dict"])
@pytest.mark.parametrize("with_sample_weight", [False, True], ids=["", "sample_weight"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_class_weight_is_the_sample_weight_it_stands_for(options, class_weight, with_sample_weight, dtype):
    """class_weight = sample_weight of compute_sample_weight(class_weight, y), times sample_weight: same trajectory."""
    X, y = imbalanced()
    sample_weight = np.random.default_rng(1).uniform(0.5, 2.0, y.shape[0]) if with_sample_weight else None
    equivalent = compute_sample_weight(class_weight, y) * (1.0 if sample_weight is None else sample_weight)
    common = dict(hidden_layer_sizes=(5,), max_iter=25, random_state=0, backend="serial", dtype=dtype, **options)
    weighted = quietly(MLPClassifier(class_weight=class_weight, **common), "fit", X, y, sample_weight=sample_weight)
    reference = quietly(MLPClassifier(**common), "fit", X, y, sample_weight=equivalent)
    assert_same_fit(weighted, reference)
    assert weighted.class_weight is class_weight  # stored as given


def test_balanced_weighs_each_class_by_n_samples_over_n_classes_times_its_count():
    _, y = imbalanced()
    counts = {label: np.sum(y == label) for label in np.unique(y)}
    expected = np.array([y.shape[0] / (3 * counts[label]) for label in y])
    np.testing.assert_allclose(compute_sample_weight("balanced", y), expected, rtol=1e-15)


@pytest.mark.parametrize("class_weight", [None, {}, {"cat": 1, "dog": 1.0, "emu": np.float32(1)}])
def test_no_class_weight_or_weights_of_one_change_nothing(class_weight):
    """None fits as before (scikit-learn's trajectory); weights of 1 give the same bits as None."""
    X, y = imbalanced()
    common = dict(hidden_layer_sizes=(5,), max_iter=25, random_state=0, batch_size=16)
    ours = quietly(MLPClassifier(class_weight=class_weight, **common), "fit", X, y)
    theirs = quietly(neural_network.MLPClassifier(**common), "fit", X, y)
    for mine, reference in zip(parameters(ours), parameters(theirs), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=0, atol=RTOL * np.abs(reference).max())
    assert_same_fit(ours, quietly(MLPClassifier(**common), "fit", X, y))


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_balanced_raises_the_recall_of_a_rare_class(solver):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=2000) > 1.6).astype(int)  # about 6% positives, overlapping
    train, test = slice(0, 1000), slice(1000, None)
    recalls = []
    for class_weight in (None, "balanced"):
        model = MLPClassifier((8,), solver=solver, max_iter=300, random_state=0, class_weight=class_weight)
        quietly(model, "fit", X[train], y[train])
        recalls.append(recall_score(y[test], model.predict(X[test])))
    assert recalls[1] > recalls[0] + 0.2, recalls


def test_class_weight_survives_cloning_pickling_and_set_params():
    X, y = imbalanced()
    model = quietly(MLPClassifier((4,), max_iter=5, random_state=0, class_weight={"emu": 3.0}), "fit", X, y)
    assert clone(model).get_params()["class_weight"] == {"emu": 3.0}
    copy = pickle.loads(pickle.dumps(model))
    assert copy.class_weight == {"emu": 3.0}
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    assert model.set_params(class_weight="balanced").get_params()["class_weight"] == "balanced"
    # scikit-learn's MLP has no class_weight: to_sklearn leaves it out and predicts the same
    np.testing.assert_allclose(model.to_sklearn().predict_proba(X), model.predict_proba(X), rtol=1e-12)


def test_partial_fit_takes_a_dict_and_refuses_balanced_on_the_first_call_as_sgdclassifier_does():
    X, y = imbalanced()
    classes = np.unique(y)
    common = dict(hidden_layer_sizes=(4,), random_state=0, backend="serial")
    first = MLPClassifier(class_weight="balanced", **common)
    with pytest.raises(ValueError, match=r"class_weight='balanced' is not supported by the first call to partial_fit"):
        first.partial_fit(X, y, classes=classes)
    assert not hasattr(first, "classes_")  # refused before anything was set
    weights = {"emu": 5.0}
    ours, reference = MLPClassifier(class_weight=weights, **common), MLPClassifier(**common)
    for rows in (slice(0, 60), slice(60, None)):  # the second batch has no emu: its weight is still known
        ours.partial_fit(X[rows], y[rows], classes=classes)
        reference.partial_fit(X[rows], y[rows], classes=classes, sample_weight=compute_sample_weight(weights, y[rows]))
    assert_same_fit(ours, reference)
    # once fitted, 'balanced' weighs each call's own y
    ours.set_params(class_weight="balanced").partial_fit(X[:50], y[:50])
    reference.partial_fit(X[:50], y[:50], sample_weight=compute_sample_weight("balanced", y[:50]))
    assert_same_fit(ours, reference)


BAD_CLASS_WEIGHTS = [
    ("balance", ValueError, r"class_weight must be 'balanced', a dict \{label: weight\} or None; got 'balance'"),
    (["balanced"], TypeError, r"class_weight must be 'balanced', a dict"),
    (np.ones(3), TypeError, r"class_weight must be 'balanced', a dict"),
    ({"emu": -1.0}, ValueError, r"class_weight\['emu'\] must be finite and >= 0, got -1.0"),
    ({"emu": np.nan}, ValueError, r"class_weight\['emu'\] must be finite and >= 0, got nan"),
    ({"emu": np.inf}, ValueError, r"class_weight\['emu'\] must be finite and >= 0, got inf"),
    ({"emu": "2"}, TypeError, r"class_weight\['emu'\] must be a real number, got '2'"),
    ({"emu": None}, TypeError, r"class_weight\['emu'\] must be a real number"),
    ({"emu": 2.0, "yak": 1.0}, ValueError, r"label\(s\) \['yak'\] that are not classes of y"),
    ({"cat": 0, "ox": 0, "emu": 0}, ValueError, r"sample_weight times class_weight must be finite and not all 0"),
]


@pytest.mark.parametrize("class_weight, error, message", BAD_CLASS_WEIGHTS)
def test_bad_class_weight_is_refused_and_a_refit_keeps_the_fitted_model(class_weight, error, message):
    X, y = imbalanced()
    model = quietly(MLPClassifier((4,), max_iter=5, random_state=0, backend="serial"), "fit", X, y)
    probabilities = model.predict_proba(X)
    model.set_params(class_weight=class_weight)
    with pytest.raises(error, match=message):
        model.fit(X[:, :3], np.where(y == "dog", "ox", y))  # another width and other classes
    assert model.classes_.tolist() == ["cat", "dog", "emu"] and model.n_features_in_ == 4
    np.testing.assert_array_equal(model.predict_proba(X), probabilities)


def test_multilabel_targets_are_refused_with_what_to_do_instead():
    X, y = imbalanced()
    Y = np.column_stack([y == "dog", y != "cat"]).astype(int)
    for class_weight in ("balanced", {0: 2.0}):
        with pytest.raises(ValueError, match=r"class_weight is for single-output targets.*give the samples' weights"):
            MLPClassifier((4,), max_iter=5, class_weight=class_weight).fit(X, Y)


def test_numbers_as_labels_find_their_weights_whatever_their_type():
    """A label 1 (int or float) is weighted by the key 1, 1.0 or np.int64(1); a label "1" only by the key "1"."""
    X, names = imbalanced()
    for labels, key in (
        (np.array([0, 1, 2]), 1.0),
        (np.array([0.0, 1.0, 2.0]), 1),
        (np.array([0, 1, 2]), np.int64(1)),
        (np.array(["0", "1", "2"]), "1"),
    ):
        y = labels[np.searchsorted(["cat", "dog", "emu"], names)]
        common = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0, backend="serial")
        weighted = quietly(MLPClassifier(class_weight={key: 3.0}, **common), "fit", X, y)
        reference = quietly(MLPClassifier(**common), "fit", X, y, sample_weight=np.where(y == labels[1], 3.0, 1.0))
        assert_same_fit(weighted, reference)


def test_a_refit_refused_for_its_sample_weight_keeps_the_fitted_model_too():
    X, y = imbalanced()
    model = quietly(MLPClassifier((4,), max_iter=5, random_state=0, backend="serial"), "fit", X, y)
    probabilities = model.predict_proba(X)
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        model.fit(X[:, :3], np.where(y == "dog", "ox", y), sample_weight=np.full(y.shape[0], np.nan))
    assert model.classes_.tolist() == ["cat", "dog", "emu"] and model.n_features_in_ == 4
    np.testing.assert_array_equal(model.predict_proba(X), probabilities)
