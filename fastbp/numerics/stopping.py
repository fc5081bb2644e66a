"""scikit-learn's stopping rules and validation scores, as the compiled training loop applies them.

After each epoch scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` count
the epochs in a row that did not improve by more than ``tol`` (the training
loss C, or with ``early_stopping`` the validation score), and once that count
exceeds ``n_iter_no_change`` they stop, or (sgd with the 'adaptive' schedule)
divide the learning rate by 5 and go on until it is at most 1e-6.  The
functions below are those rules, written so that the epoch loop of every
backend runs them between two epochs without returning to Python.

The rules' state travels as one float64 array ``stopping``, indexed by the
constants below (like ``hyper`` in :mod:`fastbp.numerics.optim`), so that
the training loop compiles to one signature whichever rules are on.
"""

import math

import numpy as np
from numba.extending import register_jitable

from fastbp.numerics.optim import LEARNING_RATE

# Indices into ``stopping``.
TOL = 0
# n_iter_no_change; negative: the rule is off (Network.fit trains every epoch asked for).
PATIENCE = 1
# 1.0: when patience runs out, divide the learning rate instead of stopping (sgd, 'adaptive').
ADAPTIVE = 2
BEST_LOSS = 3
BEST_SCORE = 4
NO_IMPROVEMENT = 5
# How the last call of the epoch loop ended: one of the codes below.
STATUS = 6
# How many times the last call divided the learning rate.
RATE_CUTS = 7
N_STOPPING = 8

# STATUS codes.
RAN_ALL = 0
CONVERGED = 1
COST_DIVERGED = 2
# (set by the trainer, which checks the weights once per call of the loop)
WEIGHTS_DIVERGED = 3

# What the validation score is (score_kind), as scikit-learn's ``score`` computes it.  None for
# none: a compiled training loop then leaves the scoring code out (Numba prunes ``is None``).
NO_SCORE = None
# Classifier with a softmax output: accuracy of the class of the largest output.
ACCURACY_ARGMAX = 1
# Classifier with logistic outputs (binary, multilabel): accuracy of outputs above 0.5, all of a row right.
ACCURACY_THRESHOLD = 2
# Regressor: the coefficient of determination R^2, averaged over the outputs.
R2 = 3

# scikit-learn's 'adaptive' schedule: the divisor, and the rate at or below which it stops instead.
ADAPTIVE_DIVISOR = 5.0
MIN_ADAPTIVE_RATE = 1e-6


def stopping_state(tol: float = 0.0, n_iter_no_change: int = -1, adaptive: bool = False) -> np.ndarray:
    """A fresh ``stopping`` array: no epoch seen yet, the best loss +inf and the best score -inf."""
    stopping = np.zeros(N_STOPPING, dtype=np.float64)
    stopping[TOL] = tol
    stopping[PATIENCE] = n_iter_no_change
    stopping[ADAPTIVE] = float(adaptive)
    stopping[BEST_LOSS] = np.inf
    stopping[BEST_SCORE] = -np.inf
    return stopping


@register_jitable
def record_loss(stopping, loss):
    """Count an epoch whose training loss is not below the best by more than ``tol``; keep the best."""
    # (written as scikit-learn's test, so that a NaN counts the same way)
    if loss > stopping[BEST_LOSS] - stopping[TOL]:
        stopping[NO_IMPROVEMENT] += 1
    else:
        stopping[NO_IMPROVEMENT] = 0
    if loss < stopping[BEST_LOSS]:
        stopping[BEST_LOSS] = loss


@register_jitable
def record_score(stopping, score):
    """Count an epoch whose validation score is not above the best by ``tol``; True if it is a new best.

    The caller keeps the weights of a new best (scikit-learn's ``_best_coefs``).
    """
    if score < stopping[BEST_SCORE] + stopping[TOL]:
        stopping[NO_IMPROVEMENT] += 1
    else:
        stopping[NO_IMPROVEMENT] = 0
    if score > stopping[BEST_SCORE]:
        stopping[BEST_SCORE] = score
        return True
    return False


@register_jitable
def patience_ran_out(stopping, hyper):
    """Whether to stop: more than ``n_iter_no_change`` epochs without improvement, and no rate to divide.

    With the adaptive schedule and a rate above MIN_ADAPTIVE_RATE, the rate is
    divided by ADAPTIVE_DIVISOR instead and the count starts again.
    """
    if stopping[PATIENCE] < 0 or stopping[NO_IMPROVEMENT] <= stopping[PATIENCE]:
        return False
    if stopping[ADAPTIVE] != 0 and hyper[LEARNING_RATE] > MIN_ADAPTIVE_RATE:
        hyper[LEARNING_RATE] /= ADAPTIVE_DIVISOR
        stopping[NO_IMPROVEMENT] = 0
        stopping[RATE_CUTS] += 1
        return False
    return True


@register_jitable
def row_is_right(kind, P, Y, n):
    """Whether sample n is classified right: the class of its largest output, or every output's side of 0.5."""
    if kind == ACCURACY_ARGMAX:
        predicted = 0
        target = 0
        for k in range(1, P.shape[1]):
            if P[n, k] > P[n, predicted]:
                predicted = k
            if Y[n, k] > Y[n, target]:
                target = k
        return predicted == target
    for k in range(P.shape[1]):
        if (P[n, k] > 0.5) != (Y[n, k] > 0.5):
            return False
    return True


@register_jitable
def accuracy(kind, P, Y, S):
    """sum_n s_n [row n right] / sum_n s_n: scikit-learn's ``accuracy_score`` with sample weights ``S``."""
    right = 0.0
    total = 0.0
    for n in range(P.shape[0]):
        if row_is_right(kind, P, Y, n):
            right += S[n]
        total += S[n]
    return right / total


@register_jitable
def r2(P, Y, S):
    """R^2 = 1 - sum_n s_n (y_nk - p_nk)^2 / sum_n s_n (y_nk - ybar_k)^2, averaged over the outputs k.

    As scikit-learn's ``r2_score``: an output whose targets are all equal
    scores 1 when predicted exactly and 0 otherwise.
    """
    total_weight = 0.0
    for n in range(P.shape[0]):
        total_weight += S[n]
    score_sum = 0.0
    for k in range(P.shape[1]):
        mean = 0.0
        for n in range(P.shape[0]):
            mean += S[n] * Y[n, k]
        mean /= total_weight
        residual = 0.0
        spread = 0.0
        for n in range(P.shape[0]):
            residual += S[n] * (Y[n, k] - P[n, k]) ** 2
            spread += S[n] * (Y[n, k] - mean) ** 2
        if residual == 0:
            score_sum += 1.0
        elif spread != 0:
            score_sum += 1.0 - residual / spread
    return score_sum / P.shape[1]


@register_jitable
def validation_score(kind, P, Y, S):
    """The score of the predictions ``P`` against the targets ``Y`` (NaN if some prediction is not finite)."""
    for n in range(P.shape[0]):
        for k in range(P.shape[1]):
            if not math.isfinite(P[n, k]):
                return np.nan
    if kind == R2:
        return r2(P, Y, S)
    return accuracy(kind, P, Y, S)
