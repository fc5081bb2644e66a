"""The state of a fitted MLP, converted between scikit-learn's form and fastbp's: same weights, same predictions.

The parameters, the fitted attributes and the optimiser's state (SGD's
velocities and learning rate, Adam's moments and step count) are carried
over, so that a model can be continued (``partial_fit``, ``warm_start``)
or served by either library.  scikit-learn keeps some of that state in
private attributes (``_label_binarizer``, ``_optimizer``, ``_best_coefs``,
``_no_improvement_count``); they are read and written here, and only here.
This module works on scikit-learn's models and on fastbp's engine objects
(:class:`~fastbp.Network`, :class:`~fastbp.engine.training.Trainer`); the
estimators call it, and it imports none of them.

Layout: scikit-learn lists ``coefs_`` (``(n_in, n_out)`` each) and then
``intercepts_``; fastbp's flat buffer holds ``W[l] = coefs_[l - 1].T`` and
``b[l] = intercepts_[l - 1]`` layer after layer (see :mod:`fastbp.numerics.layout`).
"""

import copy
from dataclasses import dataclass

import numpy as np
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils.validation import check_is_fitted

from fastbp.engine.network import Network
from fastbp.engine.training import Trainer
from fastbp.numerics import layout, optim

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
FASTBP_ONLY_PARAMETERS = ("backend", "n_jobs", "dtype", "callback", "huber_epsilon", "class_weight")


@dataclass
class FittedModel:
    """What a fitted scikit-learn MLP holds, read by :func:`read_sklearn_model`.

    Attributes
    ----------
    parameters : dict
        Its constructor parameters (``get_params()``).
    attributes : dict
        Copies of its fitted attributes of :data:`SHARED_ATTRIBUTES`.
    sizes : list of int
        The layer sizes ``n_0 .. n_L``.
    dtype : numpy.dtype
        The dtype of its ``coefs_``.
    coefs, intercepts, best_coefs, best_intercepts : list of ndarray
        Its parameters, and the best ones (early stopping) or the same.
    optimizer : SGDOptimizer, AdamOptimizer or None
        Its optimiser (None after L-BFGS).
    samples_seen : int
        ``t_``: the samples its optimiser has seen.
    """

    parameters: dict
    attributes: dict
    sizes: list
    dtype: np.dtype
    coefs: list
    intercepts: list
    best_coefs: list
    best_intercepts: list
    optimizer: object
    samples_seen: int


def theta_from_layers(coefs, intercepts, sizes, dtype) -> np.ndarray:
    """The flat buffer of ``W[l] = coefs[l - 1].T`` and ``b[l] = intercepts[l - 1]``."""
    theta = np.empty(layout.parameter_count(sizes), dtype=dtype)
    for l in range(1, len(sizes)):
        layout.weights(theta, sizes, l)[:] = coefs[l - 1].T
        layout.biases(theta, sizes, l)[:] = intercepts[l - 1]
    return theta


def layers_from_theta(theta, sizes) -> tuple[list, list]:
    """scikit-learn's ``(coefs, intercepts)`` (copies) from a flat buffer."""
    L = len(sizes) - 1
    coefs = [layout.weights(theta, sizes, l).T.copy() for l in range(1, L + 1)]
    return coefs, [layout.biases(theta, sizes, l).copy() for l in range(1, L + 1)]


def fitted_attributes(source) -> dict:
    """Copies of the fitted attributes of :data:`SHARED_ATTRIBUTES` that ``source`` has."""
    return {name: copy.deepcopy(getattr(source, name)) for name in SHARED_ATTRIBUTES if hasattr(source, name)}


def read_sklearn_model(model) -> FittedModel:
    """The state of a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

    Raises
    ------
    NotFittedError
        If ``model`` is not fitted.
    ValueError
        If its parameters hold NaN or infinite values (a fastbp estimator never holds them).
    """
    check_is_fitted(model)
    for name in ("coefs_", "intercepts_"):
        if not all(np.all(np.isfinite(array)) for array in getattr(model, name)):
            raise ValueError(f"model.{name} contains NaN or infinite values; a fastbp estimator never holds them")
    best_coefs = getattr(model, "_best_coefs", model.coefs_)
    best_intercepts = getattr(model, "_best_intercepts", model.intercepts_)
    return FittedModel(
        parameters=model.get_params(),
        attributes=fitted_attributes(model),
        sizes=[model.coefs_[0].shape[0]] + [intercept.shape[0] for intercept in model.intercepts_],
        dtype=model.coefs_[0].dtype,
        coefs=model.coefs_,
        intercepts=model.intercepts_,
        best_coefs=best_coefs,
        best_intercepts=best_intercepts,
        optimizer=getattr(model, "_optimizer", None),
        samples_seen=int(model.t_) if hasattr(model, "t_") else 0,
    )


def load_optimizer_state(optimizer, samples_seen: int, trainer: Trainer) -> None:
    """Put the state of scikit-learn's ``optimizer`` into a fastbp ``trainer`` of the same network."""
    network = trainer.network
    sizes, dtype, L = network.sizes, network.dtype, network.L
    trainer.hyper[optim.LEARNING_RATE] = optimizer.learning_rate
    if isinstance(optimizer, AdamOptimizer):
        trainer.velocity[:] = theta_from_layers(optimizer.ms[:L], optimizer.ms[L:], sizes, dtype)
        trainer.second_moment[:] = theta_from_layers(optimizer.vs[:L], optimizer.vs[L:], sizes, dtype)
        trainer.counters[optim.UPDATES] = optimizer.t
    else:
        velocities = optimizer.velocities
        trainer.velocity[:] = theta_from_layers(velocities[:L], velocities[L:], sizes, dtype)
    trainer.counters[optim.SAMPLES_SEEN] = samples_seen


def sklearn_optimizer(trainer: Trainer, parameters: list, settings: dict):
    """scikit-learn's optimiser over ``parameters`` (its ``coefs_ + intercepts_``) holding ``trainer``'s state.

    ``settings`` are the estimator's constructor parameters.
    """
    sizes = trainer.network.sizes
    if trainer.optimizer == optim.ADAM:
        optimizer = AdamOptimizer(
            parameters, settings["learning_rate_init"], settings["beta_1"], settings["beta_2"], settings["epsilon"]
        )
        optimizer.ms = sum(layers_from_theta(trainer.velocity, sizes), [])
        optimizer.vs = sum(layers_from_theta(trainer.second_moment, sizes), [])
        optimizer.t = int(trainer.counters[optim.UPDATES])
    else:
        optimizer = SGDOptimizer(
            parameters,
            settings["learning_rate_init"],
            settings["learning_rate"],
            settings["momentum"],
            settings["nesterovs_momentum"],
            settings["power_t"],
        )
        optimizer.velocities = sum(layers_from_theta(trainer.velocity, sizes), [])
    optimizer.learning_rate = float(trainer.hyper[optim.LEARNING_RATE])
    return optimizer


def sklearn_model(model, attributes: dict, network: Network, best_theta: np.ndarray, trainer: Trainer | None):
    """The unfitted scikit-learn ``model``, given a fitted state: ``attributes``, the weights, the optimiser's state."""
    for name, value in attributes.items():
        setattr(model, name, value)
    model.coefs_, model.intercepts_ = layers_from_theta(network.theta, network.sizes)
    model._best_coefs, model._best_intercepts = layers_from_theta(best_theta, network.sizes)
    if trainer is not None:
        model._optimizer = sklearn_optimizer(trainer, model.coefs_ + model.intercepts_, model.get_params())
    return model
