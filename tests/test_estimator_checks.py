"""scikit-learn's own estimator test suite, over both estimators and each kind of solver.

Every check runs and passes: no check is declared as an expected failure.
"""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_class_weight_balanced_classifiers, parametrize_with_checks  # noqa: E402

from fastbp import MLPClassifier, MLPRegressor  # noqa: E402

# Small networks and few epochs keep the whole suite fast; a learning rate
# larger than the default lets them reach the accuracy the checks ask for.
ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, learning_rate_init=0.05, random_state=0),
    MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=40, random_state=0),
    MLPRegressor(hidden_layer_sizes=(8,), max_iter=40, learning_rate_init=0.05, random_state=0),
    MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=40, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if isinstance(e, MLPClassifier)], ids=["adam", "lbfgs"])
def test_sklearn_check_class_weight_balanced_classifiers(estimator, n_classes):
    """scikit-learn's check that 'balanced' raises the weighted F1, which parametrize_with_checks does not yield.

    It takes the data as arguments.  Its premise holds where 'balanced' is meant to help: classes that overlap,
    fitted on a training set where all but the first are five times rarer, scored on a test set where they
    are equally frequent.
    """
    X, y = make_classification(
        n_samples=4000, n_features=10, n_informative=n_classes, n_classes=n_classes, class_sep=0.5, flip_y=0,
        random_state=0,
    )  # fmt: skip
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    kept = (y_train == 0) | (np.arange(y_train.shape[0]) % 5 == 0)
    check_class_weight_balanced_classifiers(
        type(estimator).__name__, estimator, X_train[kept], y_train[kept], X_test, y_test, None
    )
