"""``MLPRegressor``: scikit-learn's multi-layer perceptron regressor, trained by fastbp's kernels."""

import warnings

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if

from fastbp.engine.validation import REGRESSION_LOSSES, check_non_negative_float
from fastbp.numerics import stopping
from fastbp.numerics.formulas import HUBER_EPSILON
from fastbp.sklearn.base import STOCHASTIC_SOLVERS, BaseMLP, set_parameters
from fastbp.sklearn.validation import naming, refuse_strings, validate_inputs

# The losses that scikit-learn's MLPRegressor also has.
SKLEARN_LOSSES = ("squared_error", "poisson")


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by fastbp's kernels.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber', 'log_cosh'}, default='squared_error'
        Half the squared error (identity output), or half the Poisson
        deviance with an exp output (targets >= 0), as scikit-learn's; or one of
        the losses its MLP declined (scikit-learn #14571, #29270), of the residual
        ``r = a - y`` of an identity output, less swayed by outliers than the
        squared error: ``'absolute_error'`` (``|r|``; its gradient sign(r) is taken
        as 0 at r = 0), ``'huber'`` (``r^2 / 2`` within ``huber_epsilon`` of 0,
        linear beyond) and ``'log_cosh'`` (``log cosh r``: ``r^2 / 2`` near 0,
        ``|r| - log 2`` far from it).  The formulas are in docs/notation.md.
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
    power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
    early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun,
    backend, n_jobs, dtype, callback
        As in :class:`MLPClassifier`.
    huber_epsilon : float, default=1.35
        ``loss='huber'``: the residual where the loss turns from quadratic to
        linear, in the units of y (scikit-learn's ``SGDRegressor`` calls it
        ``epsilon``; here that name is Adam's).  Positive; ignored by the other losses.

    Attributes
    ----------
    coefs_, intercepts_, loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_,
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_, feature_names_in_
        As in scikit-learn (see the module docstring for ``coefs_`` and ``loss_``).
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        huber_epsilon=HUBER_EPSILON,
        backend="auto",
        n_jobs=None,
        dtype=None,
        callback=None,
    ):
        set_parameters(self, locals())

    _sklearn_counterpart = SklearnMLPRegressor

    def _output_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _cost_options(self) -> dict:
        """fastbp's cost of ``loss`` (of the same name; squared_error is mse), with Huber's epsilon."""
        return {"cost": self.loss, "huber_epsilon": self.huber_epsilon}

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.loss, str) or self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(map(repr, REGRESSION_LOSSES))}; got {self.loss!r}")
        check_non_negative_float(self.huber_epsilon, "huber_epsilon", positive=True)

    def to_sklearn(self):
        """scikit-learn's ``MLPRegressor`` with the same parameters and fitted state (see :meth:`BaseMLP.to_sklearn`).

        Raises
        ------
        ValueError
            If ``loss`` is one that scikit-learn's ``MLPRegressor`` does not have.
        """
        if self.loss not in SKLEARN_LOSSES:
            raise ValueError(
                f"scikit-learn's MLPRegressor has no loss {self.loss!r}; it has {', '.join(SKLEARN_LOSSES)}"
            )
        return super().to_sklearn()

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = validate_inputs(self, X, y, multi_output=True, y_numeric=True, dtype=self._input_dtype(), reset=reset)
        refuse_strings(y, "y")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y")
        return X, y

    def _score_kind(self) -> int:
        """Early stopping's score: the validation R^2."""
        return stopping.R2

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (see :meth:`MLPClassifier.fit`)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda estimator: estimator.solver in STOCHASTIC_SOLVERS)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over the given data, continuing the optimiser's state (sgd and adam only)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._outputs(X)

    def score(self, X, y, sample_weight=None) -> float:
        """The coefficient of determination R^2 of :meth:`predict` on ``(X, y)``."""
        predicted = self.predict(X)
        if type(y) is np.ndarray and y.dtype == np.float64 and y.shape == predicted.shape and y.ndim == 1:
            if sample_weight is None and np.isfinite(y).all():
                if y.shape[0] < 2:  # r2_score's answer for one sample, without its checks
                    message = "R^2 score is not well-defined with less than two samples."
                    warnings.warn(message, UndefinedMetricWarning, stacklevel=2)
                    return float("nan")
                return one_output_r2(y, predicted)
        refuse_strings(y, "y")
        with naming("y"):
            return r2_score(y, predicted, sample_weight=sample_weight)


def one_output_r2(y: np.ndarray, predicted: np.ndarray) -> float:
    """``r2_score(y, predicted)`` for one output of float64 targets, without its checks: its formula, its order.

    1 - sum_n (y_n - p_n)^2 / sum_n (y_n - ybar)^2; a constant ``y`` scores 1
    when predicted exactly, else 0.
    """
    predicted = predicted.astype(np.float64)
    residual = np.sum((y - predicted) ** 2, axis=0)
    spread = np.sum((y - np.average(y, axis=0)) ** 2, axis=0)
    if residual == 0:
        return 1.0
    if spread == 0:
        return 0.0
    return float(1 - residual / spread)
