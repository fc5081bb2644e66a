"""The reference backend: each equation of docs/notation.md as the textbook loop, compiled with Numba.

One function per equation, named as in the notation, with the equation
quoted above the loop that computes it and nothing else in the loop: no
register blocks, no tiles, no threads, every sum in the order it is written
(compiled without fast-math, so that LLVM keeps that order).  This is the
code to read beside the derivation; the engineered kernels of
:mod:`fastbp.backends.cpu` compute the same sums in other orders and
blocks, and the tests check them against these loops as well as against
the NumPy matrix form (:mod:`fastbp.backends.numpy_ref`).

``backend="reference"`` trains with it: the contract's functions
(:mod:`fastbp.backends.contract`) string the equations together layer by
layer, and the epochs run in Python around them
(:mod:`fastbp.backends.epoch_loop`).  One thread, dense inputs only.  The
scalar formulas (sigma, sigma', the costs and their derivatives) are
:mod:`fastbp.numerics.formulas`, which every backend compiles; the output
delta, the data cost, the L2 sum and the batch's rows are the loops of
:mod:`fastbp.backends.cpu.loops`, already written as plainly as here.
"""

import sys
from functools import partial

from fastbp.backends import epoch_loop
from fastbp.backends.contract import KERNELS
from fastbp.backends.cpu import loops
from fastbp.numerics.cache import cached_jit
from fastbp.numerics.formulas import SOFTMAX, activation, activation_derivative, softmax_row
from fastbp.numerics.layout import biases, layer, weights
from fastbp.numerics.optim import UPDATES, optimizer_step
from fastbp.numerics.stopping import validation_score

# The contract's functions; the one-equation loops below them are for reading and for the tests.
__all__ = list(KERNELS)

# Strict IEEE arithmetic in the loops: each sum in the order the loop writes it.  fastmath=False
# said explicitly: a function compiled without its own setting takes the fast-math flags of the
# kernel that first compiles it (Numba's flag inheritance).  NumPy's error model: a division by
# zero gives inf or NaN, as in the other backends.
textbook = cached_jit(fastmath=False, error_model="numpy")


# The batch's rows (a^0 = x, in the epoch's order), the output delta
# delta^L_k = s_n dC_n/da^L_k * sigma_L'(z^L_k), the data cost sum_n s_n C_n and the L2 sum
# sum_l sum_kj (W^l_kj)^2 are already written as plainly as the loops below, in
# fastbp.backends.cpu.loops.
load_batch = loops.load_batch
output_delta = loops.output_delta
data_cost = loops.data_cost
squared_weights = loops.squared_weights


# ---- One equation, one loop ---------------------------------------------------------------


@textbook
def input_sum(W, b, a_prev, z):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for every sample n of the batch.

    ``W`` is ``W[l]`` (row k: the receiving unit, column j: the emitting
    one), ``a_prev`` holds ``a^{l-1}`` and ``z`` receives ``z^l``, one row
    per sample.
    """
    for n in range(a_prev.shape[0]):
        for k in range(W.shape[0]):
            # z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k
            total = b[k]
            for j in range(W.shape[1]):
                total += W[k, j] * a_prev[n, j]
            z[n, k] = total


@textbook
def activate(code, z):
    """a^l_k = sigma_l(z^l_k), in place: on return ``z`` holds ``a^l``.

    Softmax couples the units of a row: a^L_k = exp(z^L_k - m) / sum_i exp(z^L_i - m).
    """
    for n in range(z.shape[0]):
        if code == SOFTMAX:
            softmax_row(z, n)
        else:
            for k in range(z.shape[1]):
                # a^l_k = sigma_l(z^l_k)
                z[n, k] = activation(code, z[n, k])


@textbook
def backpropagate(W_next, delta_next, code, a, delta):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, for every sample n.

    ``W_next`` is ``W[l+1]``, ``delta_next`` holds ``delta^{l+1}``, ``a`` holds
    ``a^l`` (sigma' is written in terms of the activation) and ``delta``
    receives ``delta^l``.
    """
    for n in range(a.shape[0]):
        for j in range(W_next.shape[1]):
            # sum_k W^{l+1}_kj delta^{l+1}_k: unit j collects the deltas of the units k it feeds
            total = a.dtype.type(0.0)
            for k in range(W_next.shape[0]):
                total += W_next[k, j] * delta_next[n, k]
            # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k
            delta[n, j] = activation_derivative(code, a[n, j]) * total


@textbook
def weight_gradients(W, a_prev, delta, inv_n, decay, dW):
    """dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj.

    ``inv_n`` is 1/N and ``decay`` is lambda/N.
    """
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            total = W.dtype.type(0.0)
            for n in range(a_prev.shape[0]):
                total += delta[n, k] * a_prev[n, j]
            # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
            dW[k, j] = total * inv_n + decay * W[k, j]


@textbook
def bias_gradients(delta, inv_n, db):
    """dC/db^l_k = (1/N) sum_n delta^l_k(n): the biases get no decay."""
    for k in range(delta.shape[1]):
        total = delta.dtype.type(0.0)
        for n in range(delta.shape[0]):
            total += delta[n, k]
        # dC/db^l_k = (1/N) sum_n delta^l_k(n)
        db[k] = total * inv_n


# ---- The layers in order: the contract of fastbp.backends.contract ------------------------


@textbook
def forward(theta, sizes, codes, A, n_samples, n_threads, tiles):
    """The forward pass: z^l = W^l a^{l-1} + b^l, then a^l = sigma_l(z^l), for l = 1 .. L.

    ``a^0`` is layer 0 of ``A``; each ``a^l`` is written into layer ``l`` of
    ``A``, where its ``z^l`` was first.
    """
    for l in range(1, sizes.shape[0]):
        a = layer(A, sizes, l, n_samples, 0)
        input_sum(weights(theta, sizes, l), biases(theta, sizes, l), layer(A, sizes, l - 1, n_samples, 0), a)
        activate(codes[l], a)


@textbook
def backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles):
    """The delta recursion, from the top down: delta^l from delta^{l+1}, for l = L-1 .. 1.

    ``delta^L`` is in the top layer of ``D`` already (:func:`output_delta`).
    """
    for l in range(sizes.shape[0] - 2, 0, -1):
        backpropagate(
            weights(theta, sizes, l + 1),
            layer(D, sizes, l + 1, n_samples, 1),
            codes[l],
            layer(A, sizes, l, n_samples, 0),
            layer(D, sizes, l, n_samples, 1),
        )


@textbook
def accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles):
    """dC/dW^l and dC/db^l of every layer into ``grad``; returns sum_l sum_kj (W^l_kj)^2.

    N is ``weight_sum`` (the sum of the batch's sample weights), lambda is ``l2``.
    """
    inv_n = 1.0 / weight_sum
    for l in range(1, sizes.shape[0]):
        delta = layer(D, sizes, l, n_samples, 1)
        W = weights(theta, sizes, l)
        weight_gradients(W, layer(A, sizes, l - 1, n_samples, 0), delta, inv_n, l2 * inv_n, weights(grad, sizes, l))
        bias_gradients(delta, inv_n, biases(grad, sizes, l))
    return squared_weights(theta, sizes)


@textbook
def cost_and_gradient(theta, sizes, codes, cost, l2, A, D, y, s, n_samples, weight_sum, grad, n_threads, tiles):
    """Backpropagation on one batch: dC/dtheta into ``grad``; returns N C.

    N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2, after the
    forward pass, the output delta and the delta recursion.
    """
    L = sizes.shape[0] - 1
    forward(theta, sizes, codes, A, n_samples, n_threads, tiles)
    a_out = layer(A, sizes, L, n_samples, 0)
    batch_cost = data_cost(cost, a_out, y, s)
    output_delta(cost, codes[L], a_out, y, s, layer(D, sizes, L, n_samples, 1))
    backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles)
    squares = accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles)
    return batch_cost + 0.5 * l2 * squares


@textbook
def apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads):
    """One step of the optimiser on every parameter: theta_i <- theta_i - alpha g_i, or momentum, or Adam.

    The rules are those of :mod:`fastbp.numerics.optim`, one entry of theta at a time.
    """
    counters[UPDATES] += 1
    optimizer_step(theta, grad, optimizer, hyper, velocity, second_moment, counters[UPDATES])


@textbook
def predict(theta, sizes, codes, X, A, outputs, n_threads, tiles):
    """a^L of every row of ``X`` into ``outputs``: the forward pass, as many rows at a time as ``A`` holds."""
    L = sizes.shape[0] - 1
    chunk = A.shape[0] // sizes.sum()
    for start in range(0, X.shape[0], chunk):
        n_samples = min(chunk, X.shape[0] - start)
        a0 = layer(A, sizes, 0, n_samples, 0)
        for n in range(n_samples):
            for j in range(X.shape[1]):
                a0[n, j] = X[start + n, j]
        forward(theta, sizes, codes, A, n_samples, n_threads, tiles)
        a_out = layer(A, sizes, L, n_samples, 0)
        for n in range(n_samples):
            for k in range(a_out.shape[1]):
                outputs[start + n, k] = a_out[n, k]


# The validation score of early stopping: accuracy or R^2 (fastbp.numerics.stopping).
score = textbook(validation_score)

# The epochs, in Python around the steps above.
train_epochs = partial(epoch_loop.train_epochs, sys.modules[__name__])
