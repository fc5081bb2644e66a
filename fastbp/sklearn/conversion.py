"""``from_sklearn``: the fastbp estimator equal to a fitted scikit-learn MLP."""

from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

from fastbp.backends import check_backend
from fastbp.engine.validation import check_dtype
from fastbp.sklearn.base import BaseMLP
from fastbp.sklearn.classifier import MLPClassifier
from fastbp.sklearn.interchange import read_sklearn_model
from fastbp.sklearn.regressor import MLPRegressor

COUNTERPARTS: dict[type, type[BaseMLP]] = {SklearnMLPClassifier: MLPClassifier, SklearnMLPRegressor: MLPRegressor}


def from_sklearn(model, backend: str = "auto", dtype=None):
    """The fastbp estimator equal to a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

    It predicts what ``model`` predicts and continues training from the same
    optimiser state (:meth:`~fastbp.sklearn.base.BaseMLP.to_sklearn` converts back).

    Parameters
    ----------
    model : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted model.
    backend : str, default='auto'
        The new estimator's ``backend``.
    dtype : {None, 'float32', 'float64'}, default=None
        The new estimator's ``dtype``; None keeps the dtype of ``model.coefs_``.

    Returns
    -------
    fastbp.MLPClassifier or fastbp.MLPRegressor
    """
    if type(model) not in COUNTERPARTS:
        raise TypeError(f"from_sklearn needs a scikit-learn MLPClassifier or MLPRegressor, got {type(model).__name__}")
    check_backend(backend)
    if dtype is not None:
        check_dtype(dtype)
    return COUNTERPARTS[type(model)]._from_sklearn(read_sklearn_model(model), backend, dtype)
