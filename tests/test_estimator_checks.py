"""scikit-learn's own estimator test suite, over both estimators and each kind of solver.

Every check runs and passes: no check is declared as an expected failure.
"""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

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
