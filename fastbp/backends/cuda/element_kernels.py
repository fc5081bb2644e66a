"""The element kernels: one thread per element of each formula."""

import math

import numba
from numba import cuda

from fastbp.backends.cuda.config import THREADS
from fastbp.backends.cuda.elements import (
    bias_gradient_at,
    block_sum,
    delta_at,
    input_sum_at,
    output_delta_at,
    update_at,
    weight_gradient_at,
    weighted_sample_cost,
)
from fastbp.numerics.formulas import (
    activation,
    softmax_row,
)
from fastbp.numerics.layout import parameter_start


@cuda.jit
def input_sum_kernel(code, W, b, a_prev, a):
    """One thread per (n, k): a^l_k = sigma_l(z^l_k) (softmax: z^L_k, see :func:`softmax_kernel`)."""
    k, n = cuda.grid(2)
    if n < a.shape[0] and k < a.shape[1]:
        a[n, k] = activation(code, input_sum_at(W, b, a_prev, n, k))


@cuda.jit
def softmax_kernel(a):
    """One thread per sample n: the softmax couples the units of a row."""
    n = cuda.grid(1)
    if n < a.shape[0]:
        softmax_row(a, n)


@cuda.jit
def output_delta_kernel(cost, output_code, a, y, s, delta):
    """One thread per (n, k): delta^L_k."""
    k, n = cuda.grid(2)
    if n < a.shape[0] and k < a.shape[1]:
        delta[n, k] = output_delta_at(cost, output_code, a, y, s, n, k)


@cuda.jit
def delta_kernel(code, W_next, delta_next, a, delta):
    """One thread per (n, j): delta^l_j."""
    j, n = cuda.grid(2)
    if n < delta.shape[0] and j < delta.shape[1]:
        delta[n, j] = delta_at(code, W_next, delta_next, a, n, j)


@cuda.jit
def weight_gradient_kernel(W, delta, a_prev, weight_sums, batch, l2, dW):
    """One thread per (k, j): dC/dW^l_kj; N is ``weight_sums[batch]``."""
    j, k = cuda.grid(2)
    if k < dW.shape[0] and j < dW.shape[1]:
        inv_n = W.dtype.type(1.0 / weight_sums[batch])
        dW[k, j] = weight_gradient_at(W, delta, a_prev, inv_n, W.dtype.type(l2) * inv_n, k, j)


@cuda.jit
def bias_gradient_kernel(delta, weight_sums, batch, db):
    """One thread per k: dC/db^l_k; N is ``weight_sums[batch]``."""
    k = cuda.grid(1)
    if k < db.shape[0]:
        db[k] = bias_gradient_at(delta, db.dtype.type(1.0 / weight_sums[batch]), k)


@cuda.jit
def update_kernel(theta, grad, optimizer, hypers, epoch, velocity, second_moment, t, status):
    """One thread per parameter: the optimiser's update number t (none once training has stopped)."""
    i = cuda.grid(1)
    if i < theta.shape[0] and status[0] < 0:
        update_at(theta, grad, optimizer, hypers[epoch], velocity, second_moment, t, i)


@cuda.jit
def load_batch_kernel(X, Y, S, order, start, A0, y, s):
    """One thread per (n, j): a^0_j = x_j of the batch's n-th sample in the shuffled order (and its y, s)."""
    j, n = cuda.grid(2)
    if n < A0.shape[0]:
        source = order[start + n]
        if j < A0.shape[1]:
            A0[n, j] = X[source, j]
        if j < y.shape[1]:
            y[n, j] = Y[source, j]
        if j == 0:
            s[n] = S[source]


@cuda.jit
def squared_weight_partials(theta, sizes, partials):
    """Partial sums of sum_l sum_kj (W^l_kj)^2, one per block, each thread striding over the weights."""
    total = 0.0
    for l in range(1, sizes.shape[0]):
        start = parameter_start(sizes, l)
        for i in range(cuda.grid(1), sizes[l] * sizes[l - 1], cuda.gridsize(1)):
            total += theta[start + i] * theta[start + i]
    partial = cuda.shared.array(THREADS, numba.float64)
    total = block_sum(total, partial)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = total


@cuda.jit
def batch_cost_kernel(cost, a, y, s, l2, partials, weight_sums, batch, losses, epoch):
    """One block: losses[epoch] += C n_batch / N, with N C = sum_n s_n C_n + (lambda/2) sum (W^l_kj)^2."""
    total = 0.0
    for n in range(cuda.threadIdx.x, a.shape[0], cuda.blockDim.x):
        total += weighted_sample_cost(cost, a, y, s, n)
    for i in range(cuda.threadIdx.x, partials.shape[0], cuda.blockDim.x):
        total += 0.5 * l2 * partials[i]
    partial = cuda.shared.array(THREADS, numba.float64)
    total = block_sum(total, partial)
    if cuda.threadIdx.x == 0:
        losses[epoch] += total * a.shape[0] / weight_sums[batch]


@cuda.jit
def keep_finite_kernel(theta, last_finite, losses, epoch, status):
    """One thread per parameter, at the end of an epoch: keep theta if its cost is finite, else restore it."""
    i = cuda.grid(1)
    if i < theta.shape[0] and status[0] < 0:
        if math.isfinite(losses[epoch]):
            last_finite[i] = theta[i]
        else:
            theta[i] = last_finite[i]


@cuda.jit
def stop_if_diverged_kernel(losses, epoch, status):
    """One thread: ``status[0] = epoch`` at the first epoch whose cost is not finite."""
    if cuda.grid(1) == 0 and status[0] < 0 and not math.isfinite(losses[epoch]):
        status[0] = epoch
