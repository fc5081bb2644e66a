"""The serial backend: NOTATION.md's derivation as index loops, compiled by Numba.

Each function computes one formula, quoted in the comment above the loop
that computes it.  Indices are named as in NOTATION.md: ``l`` the layer,
``k`` a receiving unit of layer ``l``, ``j`` an emitting unit of layer
``l - 1`` and ``n`` a sample of the batch.

Storage (shared by every backend, see :mod:`fastbp.layout`):

* ``theta`` holds all parameters in one flat buffer, layer after layer:
  ``W[l]`` of shape ``(n_l, n_{l-1})`` (row = receiving unit ``k``) and
  then ``b[l]`` of shape ``(n_l,)``;
* ``A`` holds the activations ``a^0 .. a^L`` of a batch of ``N`` samples,
  layer after layer, each layer an ``(N, n_l)`` block (row = sample);
* ``D`` holds the deltas ``delta^1 .. delta^L`` the same way.

The loops run over C-contiguous views of these buffers with the contiguous
index innermost (``j`` in ``W[l][k, j]`` and in ``a^{l-1}[n, j]``), so that
the compiler vectorises them.  A whole mini-batch goes through one layer
before the next: each weight is loaded once per batch, not once per sample.
"""

import math

import numba
import numpy as np

from fastbp.formulas import (
    SOFTMAX,
    activation,
    activation_derivative,
    cost_derivative,
    cost_term,
    is_canonical_pair,
    softmax_row,
)
from fastbp.layout import biases, layer, weights
from fastbp.optim import ADAM, SAMPLES_SEEN, UPDATES, adam_step, end_of_epoch_schedule, sgd_step
from fastbp.shuffling import shuffle

# "reassoc" lets LLVM reorder the sums of the inner loops so it can vectorise
# them (without it the epochs ran 2x to 6.5x slower); "contract" allows fused
# multiply-add.  The "nnan"/"ninf" flags of fastmath=True are left out on
# purpose: the divergence check relies on ``math.isfinite``.
FASTMATH = {"reassoc", "contract", "nsz"}


def kernel(function):
    """Compile ``function`` for the CPU, cached on disk between processes."""
    return numba.njit(cache=True, fastmath=FASTMATH)(function)




@kernel
def input_sum(W, b, a_prev, z):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for every sample n of the batch."""
    for n in range(a_prev.shape[0]):
        for k in range(W.shape[0]):
            total = b[k]
            for j in range(W.shape[1]):
                total += W[k, j] * a_prev[n, j]
            z[n, k] = total


@kernel
def activate(code, z):
    """a^l_k = sigma_l(z^l_k), in place: on return ``z`` holds ``a``."""
    if code == SOFTMAX:
        for n in range(z.shape[0]):
            softmax_row(z, n)
        return
    for n in range(z.shape[0]):
        for k in range(z.shape[1]):
            z[n, k] = activation(code, z[n, k])


@kernel
def forward(theta, sizes, codes, A, n_samples):
    """The forward pass over the batch held in layer 0 of ``A``.

    For l = 1 .. L: z^l = W^l a^{l-1} + b^l, then a^l = sigma_l(z^l), each
    computed in the block of ``A`` that will hold ``a^l``.
    """
    for l in range(1, sizes.shape[0]):
        a = layer(A, sizes, l, n_samples, 0)
        input_sum(weights(theta, sizes, l), biases(theta, sizes, l), layer(A, sizes, l - 1, n_samples, 0), a)
        activate(codes[l], a)


@kernel
def output_delta(cost, output_code, a, y, s, delta):
    """delta^L_k = s_n dC_n/da^L_k * sigma_L'(z^L_k), for every sample n.

    ``s`` holds the samples' weights s_n (all 1 unless the caller weights them).
    """
    if is_canonical_pair(output_code, cost):
        # The factors cancel: delta^L_k = s_n (a^L_k - y_k).
        for n in range(a.shape[0]):
            for k in range(a.shape[1]):
                delta[n, k] = s[n] * (a[n, k] - y[n, k])
    elif output_code == SOFTMAX:
        # Softmax couples the outputs (d a_i / d z_k = a_i (1[i = k] - a_k)):
        # delta^L_k = s_n a^L_k (dC_n/da^L_k - sum_i dC_n/da^L_i a^L_i).
        for n in range(a.shape[0]):
            weighted = a.dtype.type(0.0)
            for i in range(a.shape[1]):
                weighted += cost_derivative(cost, a[n, i], y[n, i]) * a[n, i]
            for k in range(a.shape[1]):
                delta[n, k] = s[n] * a[n, k] * (cost_derivative(cost, a[n, k], y[n, k]) - weighted)
    else:
        for n in range(a.shape[0]):
            for k in range(a.shape[1]):
                delta[n, k] = s[n] * cost_derivative(cost, a[n, k], y[n, k]) * activation_derivative(output_code, a[n, k])


@kernel
def backprop_deltas(theta, sizes, codes, A, D, n_samples):
    """The delta recursion, from layer L - 1 down to layer 1.

    ``delta^L`` must already be in ``D`` (see :func:`output_delta`).
    """
    for l in range(sizes.shape[0] - 2, 0, -1):
        W_next = weights(theta, sizes, l + 1)
        delta_next = layer(D, sizes, l + 1, n_samples, 1)
        delta = layer(D, sizes, l, n_samples, 1)
        a = layer(A, sizes, l, n_samples, 0)
        # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k
        # k outside, j inside: a row of W^{l+1} is read contiguously.
        for n in range(n_samples):
            for j in range(delta.shape[1]):
                delta[n, j] = 0.0
            for k in range(W_next.shape[0]):
                d_k = delta_next[n, k]
                for j in range(W_next.shape[1]):
                    delta[n, j] += W_next[k, j] * d_k
            for j in range(delta.shape[1]):
                delta[n, j] *= activation_derivative(codes[l], a[n, j])


@kernel
def accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad):
    """The gradients of the batch cost C, written into ``grad`` (laid out as ``theta``).

    N in the formulas is ``weight_sum``, the sum of the samples' weights
    (the number of samples when they all weigh 1).
    """
    inv_n = theta.dtype.type(1.0 / weight_sum)
    decay = theta.dtype.type(l2) * inv_n
    for l in range(1, sizes.shape[0]):
        W = weights(theta, sizes, l)
        dW = weights(grad, sizes, l)
        db = biases(grad, sizes, l)
        a_prev = layer(A, sizes, l - 1, n_samples, 0)
        delta = layer(D, sizes, l, n_samples, 1)
        for k in range(W.shape[0]):
            # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
            for j in range(W.shape[1]):
                dW[k, j] = 0.0
            for n in range(n_samples):
                d_k = delta[n, k]
                for j in range(W.shape[1]):
                    dW[k, j] += d_k * a_prev[n, j]
            for j in range(W.shape[1]):
                dW[k, j] = dW[k, j] * inv_n + decay * W[k, j]
            # dC/db^l_k = (1/N) sum_n delta^l_k(n)
            total = theta.dtype.type(0.0)
            for n in range(n_samples):
                total += delta[n, k]
            db[k] = total * inv_n


@kernel
def apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters):
    """One step of the optimiser (see :mod:`fastbp.optim`) on all parameters at once.

    Plain gradient descent: W^l_kj <- W^l_kj - alpha dC/dW^l_kj, b^l_k <- b^l_k - alpha dC/db^l_k.
    """
    counters[UPDATES] += 1
    if optimizer == ADAM:
        adam_step(theta, grad, velocity, second_moment, hyper, counters[UPDATES])
    else:
        sgd_step(theta, grad, velocity, hyper)


@kernel
def data_cost(cost, a, y, s):
    """sum_n s_n C_n over the batch (the data term of C before the 1/N)."""
    total = 0.0
    for n in range(a.shape[0]):
        sample = 0.0
        for k in range(a.shape[1]):
            sample += cost_term(cost, a[n, k], y[n, k])
        total += s[n] * sample
    return total


@kernel
def squared_weights(theta, sizes):
    """sum_l sum_kj (W^l_kj)^2, the sum in the L2 term (biases excluded)."""
    total = 0.0
    for l in range(1, sizes.shape[0]):
        W = weights(theta, sizes, l)
        for k in range(W.shape[0]):
            for j in range(W.shape[1]):
                total += W[k, j] * W[k, j]
    return total


@kernel
def load_batch(X, Y, S, order, start, A0, y, s):
    """a^0 = x: copy the batch's samples, in the shuffled order, into layer 0.

    Returns the sum of their weights.
    """
    weight_sum = 0.0
    for n in range(A0.shape[0]):
        source = order[start + n]
        for j in range(X.shape[1]):
            A0[n, j] = X[source, j]
        for k in range(Y.shape[1]):
            y[n, k] = Y[source, k]
        s[n] = S[source]
        weight_sum += S[source]
    return weight_sum


@kernel
def train_epochs(X, Y, S, theta, sizes, codes, cost, l2, batch_size, do_shuffle, optimizer, hyper,
                 velocity, second_moment, counters, order, rng_state, A, D, Y_batch, S_batch, grad,
                 last_finite, losses):
    """Mini-batch gradient descent for ``losses.shape[0]`` epochs.

    Each epoch sets ``order`` to ``0 .. N-1`` and shuffles it (if
    ``do_shuffle``), then for each batch of ``batch_size`` samples (the last
    one may be smaller) runs the forward pass, the output delta, the delta
    recursion, the gradients and the optimiser's update.  ``batch_size = N``
    is batch gradient descent, ``1`` is online learning.  ``S`` holds the
    samples' weights (all 1 for the plain formulas).

    ``losses[e]`` receives the epoch's cost: the batch costs C weighted by
    their size and averaged over the samples, as scikit-learn reports it.
    If it is not finite the run stops, ``theta`` is restored from
    ``last_finite`` (the weights after the last epoch with a finite cost) and
    the number of epochs completed before is returned; else ``losses.shape[0]``.
    """
    n_total = X.shape[0]
    L = sizes.shape[0] - 1
    for epoch in range(losses.shape[0]):
        # Each epoch's order depends on the generator state alone, so that
        # one fit of 2E epochs equals two fits of E epochs.
        for n in range(n_total):
            order[n] = n
        if do_shuffle:
            shuffle(order, rng_state)
        epoch_cost = 0.0
        for start in range(0, n_total, batch_size):
            n_samples = min(batch_size, n_total - start)
            y = Y_batch[: n_samples * sizes[L]].reshape((n_samples, sizes[L]))
            s = S_batch[:n_samples]
            weight_sum = load_batch(X, Y, S, order, start, layer(A, sizes, 0, n_samples, 0), y, s)
            forward(theta, sizes, codes, A, n_samples)
            a_out = layer(A, sizes, L, n_samples, 0)
            # N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2
            batch_cost = data_cost(cost, a_out, y, s)
            if l2 != 0.0:
                batch_cost += 0.5 * l2 * squared_weights(theta, sizes)
            # The epoch's cost weighs each batch's C by its number of samples.
            epoch_cost += batch_cost * n_samples / weight_sum
            output_delta(cost, codes[L], a_out, y, s, layer(D, sizes, L, n_samples, 1))
            backprop_deltas(theta, sizes, codes, A, D, n_samples)
            accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad)
            apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters)
        counters[SAMPLES_SEEN] += n_total
        end_of_epoch_schedule(hyper, counters[SAMPLES_SEEN])
        losses[epoch] = epoch_cost / n_total
        if not math.isfinite(losses[epoch]):
            theta[:] = last_finite
            return epoch
        last_finite[:] = theta
    return losses.shape[0]
