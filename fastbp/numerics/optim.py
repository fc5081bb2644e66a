"""Update rules: gradient descent with (Nesterov) momentum, and Adam.

They update the flat parameter buffer ``theta`` (all ``W^l_kj`` and ``b^l_k``)
from the flat gradient ``grad`` index by index, so one loop serves every layer.
The rules and their hyperparameters are scikit-learn's, so that a fastbp
estimator follows the same trajectory step for step.

State lives in arrays that the caller owns and passes in: ``velocity`` (the
momentum, or Adam's first moment ``m``), ``second_moment`` (Adam's ``v``) and
``counters`` (``[updates made, samples seen]``).  The hyperparameters travel
as one float64 array ``hyper``, indexed by the constants below, so that every
optimiser compiles to one signature.
"""

import math

import numpy as np
from numba.extending import register_jitable

SGD = 0
ADAM = 1
OPTIMIZERS = {"sgd": SGD, "adam": ADAM}

CONSTANT = 0
INVSCALING = 1

# Indices into ``hyper``.
LEARNING_RATE = 0
LEARNING_RATE_INIT = 1
MOMENTUM = 2
NESTEROV = 3
BETA_1 = 4
BETA_2 = 5
EPSILON = 6
POWER_T = 7
SCHEDULE = 8
N_HYPER = 9

# Indices into ``counters``.
UPDATES = 0
SAMPLES_SEEN = 1


def hyperparameters(
    learning_rate: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    power_t: float = 0.5,
    schedule: int = CONSTANT,
) -> np.ndarray:
    """The ``hyper`` array of an optimiser."""
    hyper = np.zeros(N_HYPER, dtype=np.float64)
    hyper[LEARNING_RATE] = hyper[LEARNING_RATE_INIT] = learning_rate
    hyper[MOMENTUM] = momentum
    hyper[NESTEROV] = float(nesterov)
    hyper[BETA_1] = beta_1
    hyper[BETA_2] = beta_2
    hyper[EPSILON] = epsilon
    hyper[POWER_T] = power_t
    hyper[SCHEDULE] = schedule
    return hyper


@register_jitable
def sgd_step(theta, grad, velocity, hyper):
    """Gradient descent with momentum mu (plain gradient descent when mu = 0).

    v <- mu v - alpha dC/dtheta;  theta <- theta + v
    (Nesterov: theta <- theta + mu v - alpha dC/dtheta, with the new v)
    """
    alpha = theta.dtype.type(hyper[LEARNING_RATE])
    mu = theta.dtype.type(hyper[MOMENTUM])
    if mu == 0:
        for i in range(theta.shape[0]):
            theta[i] -= alpha * grad[i]
    elif hyper[NESTEROV] != 0:
        for i in range(theta.shape[0]):
            velocity[i] = mu * velocity[i] - alpha * grad[i]
            theta[i] += mu * velocity[i] - alpha * grad[i]
    else:
        for i in range(theta.shape[0]):
            velocity[i] = mu * velocity[i] - alpha * grad[i]
            theta[i] += velocity[i]


@register_jitable
def adam_step(theta, grad, m, v, hyper, t):
    """Adam (Kingma and Ba, 2015), update number t (from 1).

    m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2
    alpha_t = alpha sqrt(1 - beta_2^t) / (1 - beta_1^t)
    theta <- theta - alpha_t m / (sqrt(v) + epsilon)
    """
    beta_1 = hyper[BETA_1]
    beta_2 = hyper[BETA_2]
    alpha_t = theta.dtype.type(hyper[LEARNING_RATE_INIT] * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t))
    b1 = theta.dtype.type(beta_1)
    b2 = theta.dtype.type(beta_2)
    one = theta.dtype.type(1.0)
    epsilon = theta.dtype.type(hyper[EPSILON])
    for i in range(theta.shape[0]):
        m[i] = b1 * m[i] + (one - b1) * grad[i]
        v[i] = b2 * v[i] + (one - b2) * (grad[i] * grad[i])
        theta[i] -= alpha_t * m[i] / (math.sqrt(v[i]) + epsilon)


@register_jitable
def optimizer_step(theta, grad, optimizer, hyper, velocity, second_moment, t):
    """Update number t of ``optimizer`` (:func:`sgd_step` or :func:`adam_step`) on the given parameters."""
    if optimizer == ADAM:
        adam_step(theta, grad, velocity, second_moment, hyper, t)
    else:
        sgd_step(theta, grad, velocity, hyper)


@register_jitable
def end_of_epoch_schedule(hyper, samples_seen):
    """The 'invscaling' schedule, after each epoch: alpha = alpha_0 / (t + 1)^power_t.

    t counts the samples seen so far, as in scikit-learn.
    """
    if hyper[SCHEDULE] == INVSCALING:
        hyper[LEARNING_RATE] = hyper[LEARNING_RATE_INIT] / (samples_seen + 1.0) ** hyper[POWER_T]
