"""The oracle: docs/notation.md's matrix form in plain NumPy.

Same function names and signatures as the compiled backends, so that one
test checks each of them against this module (``n_threads`` and ``tiles`` are ignored:
NumPy's BLAS chooses its own).  Nothing here is tuned: every
function is the matrix formula it names, with rows = samples::

    Z^l = A^{l-1} (W^l)^T + b^l          A^l = sigma(Z^l)
    Delta^L = dC/dA^L (.) sigma'(Z^L)
    Delta^l = (Delta^{l+1} W^{l+1}) (.) sigma'(Z^l)
    dC/dW^l = (1/N) (Delta^l)^T A^{l-1} + (lambda/N) W^l
    dC/db^l = (1/N) column sums of Delta^l

The activations and costs are written again here as NumPy expressions,
independently of :mod:`fastbp.numerics.formulas`, so that the oracle does not share
their mistakes.
"""

import sys
from functools import partial

import numpy as np

from fastbp.backends import epoch_loop
from fastbp.numerics.formulas import (
    ABSOLUTE_ERROR,
    BINARY_CROSS_ENTROPY,
    EXP,
    HUBER,
    LOG_COSH,
    MSE,
    POISSON,
    RELU,
    SIGMOID,
    SOFTMAX,
    TANH,
    is_canonical_pair,
)
from fastbp.numerics.layout import biases, layer, weights
from fastbp.numerics.optim import (
    ADAM,
    BETA_1,
    BETA_2,
    EPSILON,
    LEARNING_RATE,
    LEARNING_RATE_INIT,
    MOMENTUM,
    NESTEROV,
    UPDATES,
)
from fastbp.numerics.sparse import CSRRows, activations_layer, input_block, row_count
from fastbp.numerics.stopping import (
    ACCURACY_ARGMAX,
    R2,
)


def exp_normal(Z: np.ndarray) -> np.ndarray:
    """exp(Z) for Z <= 0, never below the smallest normal float (twice it): no underflow.

    The compiled exponential clamps its argument the same way (see :mod:`fastbp.numerics.exp`),
    so that a softmax of any finite input never meets a denormal or a zero.
    """
    return np.exp(np.maximum(Z, np.log(2 * np.finfo(Z.dtype).tiny)))


def positive(A: np.ndarray) -> np.ndarray:
    """A, at least the smallest normal float: the rates in the Poisson cost's log and division."""
    return np.maximum(A, np.finfo(A.dtype).tiny)


def sigma(code: int, Z: np.ndarray) -> np.ndarray:
    """A = sigma(Z), row-wise for softmax."""
    if code == SIGMOID:
        return 0.5 * (1.0 + np.tanh(0.5 * Z))
    if code == TANH:
        return np.tanh(Z)
    if code == RELU:
        return np.maximum(Z, 0)
    if code == SOFTMAX:
        E = exp_normal(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
    if code == EXP:
        return np.exp(Z)
    return Z.copy()


def sigma_prime(code: int, A: np.ndarray) -> np.ndarray:
    """sigma'(Z) from A = sigma(Z), for the element-wise activations."""
    if code == SIGMOID:
        return A * (1 - A)
    if code == TANH:
        return 1 - A**2
    if code == RELU:
        return (A > 0).astype(A.dtype)
    if code == EXP:
        return A.copy()
    return np.ones_like(A)


def probabilities(A: np.ndarray) -> np.ndarray:
    """A clipped to [eps, 1 - eps], as scikit-learn does before taking logs."""
    eps = np.finfo(A.dtype).eps
    return np.clip(A, eps, 1 - eps)


def dC_dA(cost: tuple, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """dC_n/dA^L, sample by sample (rows); ``cost`` is ``(code, parameter)``."""
    code, epsilon = cost
    if code == MSE:
        return A - Y
    if code == POISSON:
        return 1 - Y / positive(A)
    if code == ABSOLUTE_ERROR:
        return np.sign(A - Y)
    if code == HUBER:
        return np.clip(A - Y, -epsilon, epsilon)
    if code == LOG_COSH:
        return np.tanh(A - Y)
    P = probabilities(A)
    if code == BINARY_CROSS_ENTROPY:
        return -Y / P + (1 - Y) / (1 - P)
    return -Y / P


def robust_cost(code: int, epsilon: float, R: np.ndarray) -> np.ndarray:
    """The absolute error, Huber's cost or log-cosh of each residual a - y (log-cosh by NumPy's logaddexp)."""
    size = np.abs(R)
    if code == ABSOLUTE_ERROR:
        return size
    if code == HUBER:
        return np.where(size <= epsilon, 0.5 * R**2, epsilon * (size - 0.5 * epsilon))
    # log cosh r = log((e^r + e^-r) / 2)
    return np.logaddexp(R, -R) - np.log(2.0)


def densified(x, n_inputs: int) -> np.ndarray:
    """The rows ``x`` as a dense ``(N, n_inputs)`` array: CSR rows (:class:`CSRRows`) are written out.

    The oracle computes with the matrix form, so it densifies CSR inputs, one
    batch (or the rows predicted) at a time; the compiled backends do not.
    """
    if not isinstance(x, CSRRows):
        return x
    n_rows = row_count(x)
    first, last = x.indptr[0], x.indptr[-1]
    samples = np.repeat(np.arange(n_rows), np.diff(x.indptr))
    dense = np.zeros((n_rows, n_inputs), dtype=x.data.dtype)
    np.add.at(dense, (samples, x.indices[first:last]), x.data[first:last])
    return dense


def forward(theta, sizes, codes, A, n_samples, n_threads, tiles):
    """Z^l = A^{l-1} (W^l)^T + b^l, A^l = sigma(Z^l), for l = 1 .. L."""
    A_prev = densified(input_block(A, sizes, n_samples), sizes[0])
    for l in range(1, len(sizes)):
        Z = A_prev @ weights(theta, sizes, l).T + biases(theta, sizes, l)
        A_prev = activations_layer(A, sizes, l, n_samples)
        A_prev[:] = sigma(codes[l], Z)


def output_delta(cost, output_code, a, y, s, delta):
    """Delta^L = diag(s) dC/dA^L (.) sigma'(Z^L) (softmax: times its Jacobian, row by row)."""
    if is_canonical_pair(output_code, cost):
        delta[:] = s[:, None] * (a - y)
    elif output_code == SOFTMAX:
        G = dC_dA(cost, a, y)
        delta[:] = s[:, None] * a * (G - np.sum(G * a, axis=1, keepdims=True))
    else:
        delta[:] = s[:, None] * dC_dA(cost, a, y) * sigma_prime(output_code, a)


def backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles):
    """Delta^l = (Delta^{l+1} W^{l+1}) (.) sigma'(Z^l), for l = L-1 .. 1."""
    for l in range(len(sizes) - 2, 0, -1):
        propagated = layer(D, sizes, l + 1, n_samples, 1) @ weights(theta, sizes, l + 1)
        layer(D, sizes, l, n_samples, 1)[:] = propagated * sigma_prime(
            codes[l], activations_layer(A, sizes, l, n_samples)
        )


def accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles):
    """dC/dW^l = (1/N) Delta^T A^{l-1} + (lambda/N) W^l;  dC/db^l = (1/N) sum_n Delta^l.

    N is ``weight_sum``, the sum of the samples' weights.  Returns sum_l ||W^l||^2.
    """
    for l in range(1, len(sizes)):
        Delta = layer(D, sizes, l, n_samples, 1)
        if l == 1:
            A_prev = densified(input_block(A, sizes, n_samples), sizes[0])
        else:
            A_prev = activations_layer(A, sizes, l - 1, n_samples)
        weights(grad, sizes, l)[:] = Delta.T @ A_prev / weight_sum + l2 / weight_sum * weights(theta, sizes, l)
        biases(grad, sizes, l)[:] = Delta.sum(axis=0) / weight_sum
    return squared_weights(theta, sizes)


def apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads):
    """theta <- theta - alpha dC/dtheta, with momentum, or Adam (vector form)."""
    counters[UPDATES] += 1
    if optimizer == ADAM:
        t = counters[UPDATES]
        velocity[:] = hyper[BETA_1] * velocity + (1 - hyper[BETA_1]) * grad
        second_moment[:] = hyper[BETA_2] * second_moment + (1 - hyper[BETA_2]) * grad**2
        alpha_t = hyper[LEARNING_RATE_INIT] * np.sqrt(1 - hyper[BETA_2] ** t) / (1 - hyper[BETA_1] ** t)
        theta -= (alpha_t * velocity / (np.sqrt(second_moment) + hyper[EPSILON])).astype(theta.dtype)
        return
    velocity[:] = hyper[MOMENTUM] * velocity - hyper[LEARNING_RATE] * grad
    if hyper[NESTEROV]:
        theta += (hyper[MOMENTUM] * velocity - hyper[LEARNING_RATE] * grad).astype(theta.dtype)
    else:
        theta += velocity


def data_cost(cost, a, y, s):
    """sum_n s_n C_n over the batch; ``cost`` is ``(code, parameter)``."""
    code, epsilon = cost
    if code == MSE:
        return float(s @ (0.5 * np.sum((a - y) ** 2, axis=1)))
    if code == POISSON:
        # y log(y / a), taken as 0 where y = 0
        y_log = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / positive(a)), 0)
        return float(s @ np.sum(y_log - y + a, axis=1))
    if code in (ABSOLUTE_ERROR, HUBER, LOG_COSH):
        return float(s @ np.sum(robust_cost(code, epsilon, a - y), axis=1))
    P = probabilities(a)
    if code == BINARY_CROSS_ENTROPY:
        return float(s @ -np.sum(y * np.log(P) + (1 - y) * np.log(1 - P), axis=1))
    return float(s @ -np.sum(y * np.log(P), axis=1))


def squared_weights(theta, sizes):
    """sum_l ||W^l||_F^2."""
    return float(sum(np.sum(weights(theta, sizes, l) ** 2) for l in range(1, len(sizes))))


def load_batch(X, Y, S, order, start, A0, y, s):
    """A^0 = the batch's rows of X, in the shuffled order; the sum of their weights.

    CSR rows are gathered into the CSR rows ``A0``, row after row.
    """
    rows = order[start : start + y.shape[0]]
    if isinstance(X, CSRRows):
        A0.indptr[0] = 0
        for n, source in enumerate(rows):
            first, last = X.indptr[source], X.indptr[source + 1]
            A0.indptr[n + 1] = A0.indptr[n] + last - first
            A0.data[A0.indptr[n] : A0.indptr[n + 1]] = X.data[first:last]
            A0.indices[A0.indptr[n] : A0.indptr[n + 1]] = X.indices[first:last]
    else:
        A0[:] = X[rows]
    y[:] = Y[rows]
    s[:] = S[rows]
    return float(np.sum(S[rows]))


def cost_and_gradient(theta, sizes, codes, cost, l2, A, D, y, s, n_samples, weight_sum, grad, n_threads, tiles):
    """N C = sum_n s_n C_n + (lambda / 2) sum_l ||W^l||^2 of the batch, and dC/dtheta into ``grad``."""
    L = len(sizes) - 1
    forward(theta, sizes, codes, A, n_samples, n_threads, tiles)
    a_out = activations_layer(A, sizes, L, n_samples)
    total = data_cost(cost, a_out, y, s) + 0.5 * l2 * squared_weights(theta, sizes)
    output_delta(cost, codes[L], a_out, y, s, layer(D, sizes, L, n_samples, 1))
    backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles)
    accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles)
    return total


def predict(theta, sizes, codes, X, A, outputs, n_threads, tiles):
    """A^L of every row of X into ``outputs`` (``A`` is not needed: NumPy allocates)."""
    activations = densified(X, sizes[0])
    for l in range(1, len(sizes)):
        activations = sigma(codes[l], activations @ weights(theta, sizes, l).T + biases(theta, sizes, l))
    outputs[:] = activations


def score(score_kind, P, Y, S):
    """The validation score of the predictions P: weighted accuracy or R^2, NaN if some P is not finite."""
    if not np.all(np.isfinite(P)):
        return np.nan
    if score_kind == R2:
        mean = np.sum(S[:, None] * Y, axis=0) / np.sum(S)
        residual = np.sum(S[:, None] * (Y - P) ** 2, axis=0)
        spread = np.sum(S[:, None] * (Y - mean) ** 2, axis=0)
        per_output = np.where(
            residual == 0, 1.0, np.where(spread == 0, 0.0, 1 - residual / np.where(spread == 0, 1, spread))
        )
        return float(np.mean(per_output))
    if score_kind == ACCURACY_ARGMAX:
        right = np.argmax(P, axis=1) == np.argmax(Y, axis=1)
    else:
        right = np.all((P > 0.5) == (Y > 0.5), axis=1)
    return float(np.sum(S * right) / np.sum(S))


# The epochs, in Python around the steps above.
train_epochs = partial(epoch_loop.train_epochs, sys.modules[__name__])
