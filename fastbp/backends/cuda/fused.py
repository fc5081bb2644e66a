"""The fused epoch kernel: one thread block runs every step of every mini-batch of an epoch."""

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
    SOFTMAX,
    activation,
    softmax_row,
)
from fastbp.numerics.layout import biases, layer, parameter_start, weights

# A device function may return only an array it was given, not a view cut
# out of one; inlined at the IR level ("always"), the layout helpers return
# their views in device code as they do on the CPU.
device_layer = cuda.jit(device=True, inline="always")(layer)
device_weights = cuda.jit(device=True, inline="always")(weights)
device_biases = cuda.jit(device=True, inline="always")(biases)


@cuda.jit
def fused_epoch_kernel(
    X,
    Y,
    S,
    order,
    weight_sums,
    theta,
    sizes,
    codes,
    cost,
    l2,
    batch_size,
    optimizer,
    hypers,
    velocity,
    second_moment,
    t0,
    epoch,
    A,
    D,
    Y_batch,
    S_batch,
    grad,
    last_finite,
    losses,
    status,
):
    """Epoch ``epoch`` of mini-batch gradient descent in one thread block.

    The steps of :func:`train_epochs`, each thread striding over the elements
    of a step (``i = threadIdx.x, threadIdx.x + blockDim.x, ...``) with the
    element functions above, and the block synchronised between steps.
    ``order`` holds every epoch's shuffled order, ``weight_sums`` every
    batch's N, ``hypers[epoch]`` the optimiser's hyperparameters; ``t0`` is
    the number of updates made before this epoch.
    """
    if status[0] >= 0:
        return
    tid = cuda.threadIdx.x
    stride = cuda.blockDim.x
    partial = cuda.shared.array(THREADS, numba.float64)
    n_total = X.shape[0]
    L = sizes.shape[0] - 1
    n_batches = (n_total + batch_size - 1) // batch_size
    for batch in range(n_batches):
        start = batch * batch_size
        N = min(batch_size, n_total - start)
        a0 = device_layer(A, sizes, 0, N, 0)
        y = Y_batch[: N * sizes[L]].reshape((N, sizes[L]))
        s = S_batch[:N]
        # a^0 = x, in the shuffled order
        for i in range(tid, N * sizes[0], stride):
            a0[i // sizes[0], i % sizes[0]] = X[order[epoch * n_total + start + i // sizes[0]], i % sizes[0]]
        for i in range(tid, N * sizes[L], stride):
            y[i // sizes[L], i % sizes[L]] = Y[order[epoch * n_total + start + i // sizes[L]], i % sizes[L]]
        for n in range(tid, N, stride):
            s[n] = S[order[epoch * n_total + start + n]]
        cuda.syncthreads()
        for l in range(1, L + 1):
            a = device_layer(A, sizes, l, N, 0)
            W = device_weights(theta, sizes, l)
            b = device_biases(theta, sizes, l)
            a_prev = device_layer(A, sizes, l - 1, N, 0)
            for i in range(tid, N * sizes[l], stride):
                a[i // sizes[l], i % sizes[l]] = activation(
                    codes[l], input_sum_at(W, b, a_prev, i // sizes[l], i % sizes[l])
                )
            cuda.syncthreads()
            if codes[l] == SOFTMAX:
                for n in range(tid, N, stride):
                    softmax_row(a, n)
                cuda.syncthreads()
        a_out = device_layer(A, sizes, L, N, 0)
        # N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2
        total = 0.0
        for n in range(tid, N, stride):
            total += weighted_sample_cost(cost, a_out, y, s, n)
        if l2 != 0.0:
            for l in range(1, L + 1):
                W_start = parameter_start(sizes, l)
                for i in range(tid, sizes[l] * sizes[l - 1], stride):
                    total += 0.5 * l2 * theta[W_start + i] * theta[W_start + i]
        total = block_sum(total, partial)
        if tid == 0:
            losses[epoch] += total * N / weight_sums[epoch * n_batches + batch]
        delta_out = device_layer(D, sizes, L, N, 1)
        for i in range(tid, N * sizes[L], stride):
            delta_out[i // sizes[L], i % sizes[L]] = output_delta_at(
                cost, codes[L], a_out, y, s, i // sizes[L], i % sizes[L]
            )
        cuda.syncthreads()
        for l in range(L - 1, 0, -1):
            delta = device_layer(D, sizes, l, N, 1)
            W_next = device_weights(theta, sizes, l + 1)
            delta_next = device_layer(D, sizes, l + 1, N, 1)
            a = device_layer(A, sizes, l, N, 0)
            for i in range(tid, N * sizes[l], stride):
                delta[i // sizes[l], i % sizes[l]] = delta_at(
                    codes[l], W_next, delta_next, a, i // sizes[l], i % sizes[l]
                )
            cuda.syncthreads()
        inv_n = theta.dtype.type(1.0 / weight_sums[epoch * n_batches + batch])
        decay = theta.dtype.type(l2) * inv_n
        for l in range(1, L + 1):
            W = device_weights(theta, sizes, l)
            dW = device_weights(grad, sizes, l)
            db = device_biases(grad, sizes, l)
            delta = device_layer(D, sizes, l, N, 1)
            a_prev = device_layer(A, sizes, l - 1, N, 0)
            width = sizes[l - 1]
            for i in range(tid, sizes[l] * width, stride):
                dW[i // width, i % width] = weight_gradient_at(W, delta, a_prev, inv_n, decay, i // width, i % width)
            for k in range(tid, sizes[l], stride):
                db[k] = bias_gradient_at(delta, inv_n, k)
        cuda.syncthreads()
        for i in range(tid, theta.shape[0], stride):
            update_at(theta, grad, optimizer, hypers[epoch], velocity, second_moment, t0 + batch + 1, i)
        cuda.syncthreads()
    finite = math.isfinite(losses[epoch])
    for i in range(tid, theta.shape[0], stride):
        if finite:
            last_finite[i] = theta[i]
        else:
            theta[i] = last_finite[i]
    if tid == 0 and not finite:
        status[0] = epoch
