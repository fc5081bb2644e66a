"""From a fitted scikit-learn MLP to a fastbp estimator and back: same weights, same predictions.

The parameters, the fitted attributes and the optimiser's state (SGD's
velocities and learning rate, Adam's moments and step count) are carried
over, so that a model can be continued (``partial_fit``, ``warm_start``)
or served by either library.  scikit-learn keeps some of that state in
private attributes (``_label_binarizer``, ``_optimizer``, ``_best_coefs``,
``_no_improvement_count``); they are read and written here, and only here.

Layout: scikit-learn lists ``coefs_`` (``(n_in, n_out)`` each) and then
``intercepts_``; fastbp's flat buffer holds ``W[l] = coefs_[l - 1].T`` and
``b[l] = intercepts_[l - 1]`` layer after layer (see :mod:`fastbp.numerics.layout`).
"""

import copy

import numpy as np
from sklearn.neural_network import MLPClassifier as SklearnClassifier
from sklearn.neural_network import MLPRegressor as SklearnRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils.validation import check_is_fitted

from fastbp.backends import check_backend
from fastbp.engine.validation import check_dtype
from fastbp.numerics import layout, optim
from fastbp.sklearn.base import MLPClassifier, MLPRegressor

# Fitted attributes that both libraries hold under the same name.
SHARED_ATTRIBUTES = (
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
    "n_features_in_",
    "feature_names_in_",
    "classes_",
    "_label_binarizer",
    "_no_improvement_count",
)
FASTBP_ONLY_PARAMETERS = ("backend", "n_jobs", "dtype", "callback")
COUNTERPARTS = {SklearnClassifier: MLPClassifier, SklearnRegressor: MLPRegressor}


def theta_from_layers(coefs, intercepts, sizes, dtype) -> np.ndarray:
    """The flat buffer of ``W[l] = coefs[l - 1].T`` and ``b[l] = intercepts[l - 1]``."""
    theta = np.empty(layout.parameter_count(sizes), dtype=dtype)
    for l in range(1, len(sizes)):
        layout.weights(theta, sizes, l)[:] = coefs[l - 1].T
        layout.biases(theta, sizes, l)[:] = intercepts[l - 1]
    return theta


def layers_from_theta(theta, sizes) -> list:
    """scikit-learn's parameter list ``coefs + intercepts`` (copies) from a flat buffer."""
    L = len(sizes) - 1
    coefs = [layout.weights(theta, sizes, l).T.copy() for l in range(1, L + 1)]
    return coefs + [layout.biases(theta, sizes, l).copy() for l in range(1, L + 1)]


def copy_attributes(source, target) -> None:
    """Copy the fitted attributes that ``source`` has onto ``target``."""
    for name in SHARED_ATTRIBUTES:
        if hasattr(source, name):
            setattr(target, name, copy.deepcopy(getattr(source, name)))


def from_sklearn(model, backend: str = "auto", dtype=None):
    """The fastbp estimator equal to a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

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
    check_is_fitted(model)
    check_backend(backend)
    if dtype is not None:
        check_dtype(dtype)
    for name in ("coefs_", "intercepts_"):
        if not all(np.all(np.isfinite(array)) for array in getattr(model, name)):
            raise ValueError(f"model.{name} contains NaN or infinite values; a fastbp estimator never holds them")
    estimator = COUNTERPARTS[type(model)](**model.get_params(), backend=backend, dtype=dtype)
    copy_attributes(model, estimator)
    sizes = [model.coefs_[0].shape[0]] + [intercept.shape[0] for intercept in model.intercepts_]
    network = estimator._build_network(sizes, dtype or model.coefs_[0].dtype)
    network.theta[:] = theta_from_layers(model.coefs_, model.intercepts_, network.sizes, network.dtype)
    estimator._network = network
    estimator._expose_parameters()
    best = (
        (model._best_coefs, model._best_intercepts)
        if hasattr(model, "_best_coefs")
        else (model.coefs_, model.intercepts_)
    )
    estimator._best_theta = theta_from_layers(*best, network.sizes, network.dtype)
    estimator._trainer = None
    optimizer = getattr(model, "_optimizer", None)
    if optimizer is not None:
        estimator._trainer = trainer = estimator._new_trainer(network)
        trainer.hyper[optim.LEARNING_RATE] = optimizer.learning_rate
        if isinstance(optimizer, AdamOptimizer):
            trainer.velocity[:] = theta_from_layers(
                optimizer.ms[: network.L], optimizer.ms[network.L :], network.sizes, network.dtype
            )
            trainer.second_moment[:] = theta_from_layers(
                optimizer.vs[: network.L], optimizer.vs[network.L :], network.sizes, network.dtype
            )
            trainer.counters[optim.UPDATES] = optimizer.t
        else:
            velocities = optimizer.velocities
            trainer.velocity[:] = theta_from_layers(
                velocities[: network.L], velocities[network.L :], network.sizes, network.dtype
            )
        trainer.counters[optim.SAMPLES_SEEN] = model.t_
    return estimator


def to_sklearn(estimator):
    """The scikit-learn estimator equal to a fitted fastbp ``MLPClassifier`` or ``MLPRegressor``."""
    check_is_fitted(estimator)
    counterpart = {fastbp: sklearn for sklearn, fastbp in COUNTERPARTS.items()}[type(estimator)]
    parameters = {name: value for name, value in estimator.get_params().items() if name not in FASTBP_ONLY_PARAMETERS}
    model = counterpart(**parameters)
    copy_attributes(estimator, model)
    network = estimator._synced_network()
    params = layers_from_theta(network.theta, network.sizes)
    model.coefs_, model.intercepts_ = params[: network.L], params[network.L :]
    best = layers_from_theta(estimator._best_theta, network.sizes)
    model._best_coefs, model._best_intercepts = best[: network.L], best[network.L :]
    trainer = estimator._trainer
    if trainer is not None:
        parameters = model.coefs_ + model.intercepts_
        if trainer.optimizer == optim.ADAM:
            model._optimizer = AdamOptimizer(
                parameters, estimator.learning_rate_init, estimator.beta_1, estimator.beta_2, estimator.epsilon
            )
            model._optimizer.ms = layers_from_theta(trainer.velocity, network.sizes)
            model._optimizer.vs = layers_from_theta(trainer.second_moment, network.sizes)
            model._optimizer.t = int(trainer.counters[optim.UPDATES])
        else:
            model._optimizer = SGDOptimizer(
                parameters,
                estimator.learning_rate_init,
                estimator.learning_rate,
                estimator.momentum,
                estimator.nesterovs_momentum,
                estimator.power_t,
            )
            model._optimizer.velocities = layers_from_theta(trainer.velocity, network.sizes)
        model._optimizer.learning_rate = float(trainer.hyper[optim.LEARNING_RATE])
    return model
