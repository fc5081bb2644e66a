"""The formulas of the derivation, one element each, as CUDA device functions."""

from numba import cuda

from fastbp.numerics.formulas import (
    SOFTMAX,
    activation_derivative,
    cost_derivative,
    cost_term,
    is_canonical_pair,
)
from fastbp.numerics.optim import (
    ADAM,
    adam_step,
    sgd_step,
)


@cuda.jit(device=True)
def input_sum_at(W, b, a_prev, n, k):
    """z^l_k for sample n."""
    # z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k
    total = b[k]
    for j in range(W.shape[1]):
        total += W[k, j] * a_prev[n, j]
    return total


@cuda.jit(device=True)
def output_delta_at(cost, output_code, a, y, s, n, k):
    """delta^L_k for sample n, weighted by s_n."""
    if is_canonical_pair(output_code, cost):
        # delta^L_k = s_n (a^L_k - y_k): the factors cancel
        return s[n] * (a[n, k] - y[n, k])
    if output_code == SOFTMAX:
        # delta^L_k = s_n a^L_k (dC_n/da^L_k - sum_i dC_n/da^L_i a^L_i)
        weighted = a.dtype.type(0.0)
        for i in range(a.shape[1]):
            weighted += cost_derivative(cost, a[n, i], y[n, i]) * a[n, i]
        return s[n] * a[n, k] * (cost_derivative(cost, a[n, k], y[n, k]) - weighted)
    # delta^L_k = s_n dC_n/da^L_k sigma_L'(z^L_k)
    return s[n] * cost_derivative(cost, a[n, k], y[n, k]) * activation_derivative(output_code, a[n, k])


@cuda.jit(device=True)
def delta_at(code, W_next, delta_next, a, n, j):
    """delta^l_j for sample n."""
    # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k
    total = a.dtype.type(0.0)
    for k in range(W_next.shape[0]):
        total += W_next[k, j] * delta_next[n, k]
    return activation_derivative(code, a[n, j]) * total


@cuda.jit(device=True)
def weight_gradient_at(W, delta, a_prev, inv_n, decay, k, j):
    """dC/dW^l_kj over the batch."""
    # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
    total = W.dtype.type(0.0)
    for n in range(delta.shape[0]):
        total += delta[n, k] * a_prev[n, j]
    return total * inv_n + decay * W[k, j]


@cuda.jit(device=True)
def bias_gradient_at(delta, inv_n, k):
    """dC/db^l_k over the batch."""
    # dC/db^l_k = (1/N) sum_n delta^l_k(n)
    total = delta.dtype.type(0.0)
    for n in range(delta.shape[0]):
        total += delta[n, k]
    return total * inv_n


@cuda.jit(device=True)
def weighted_sample_cost(cost, a, y, s, n):
    """s_n C_n, in float64."""
    # C_n = sum_k (the cost term of output unit k)
    total = 0.0
    for k in range(a.shape[1]):
        total += cost_term(cost, a[n, k], y[n, k])
    return s[n] * total


@cuda.jit(device=True)
def update_at(theta, grad, optimizer, hyper, velocity, second_moment, t, i):
    """The optimiser's rule (:mod:`fastbp.numerics.optim`) on parameter i, update number t.

    The rules loop over their arrays; given one-element views they update
    parameter i alone, so they stay written once.
    """
    if optimizer == ADAM:
        adam_step(theta[i : i + 1], grad[i : i + 1], velocity[i : i + 1], second_moment[i : i + 1], hyper, t)
    else:
        sgd_step(theta[i : i + 1], grad[i : i + 1], velocity[i : i + 1], hyper)


@cuda.jit(device=True)
def block_sum(value, partial):
    """The sum of ``value`` over the threads of the block, to every thread.

    A tree in shared memory (``partial``, one float64 per thread): the order of
    the additions is fixed by the block size, so results are reproducible.
    """
    i = cuda.threadIdx.x
    partial[i] = value
    cuda.syncthreads()
    width = cuda.blockDim.x // 2
    while width > 0:
        if i < width:
            partial[i] += partial[i + width]
        cuda.syncthreads()
        width //= 2
    total = partial[0]
    cuda.syncthreads()
    return total
