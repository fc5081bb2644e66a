"""The CUDA backend: NOTATION.md's index loops as ``numba.cuda`` kernels.

The entry points have the names and signatures of :mod:`fastbp.backends.serial`
and take host NumPy arrays: each copies its inputs to the GPU, runs its
kernels and copies its outputs back.  :func:`train_epochs` keeps everything
on the device for the whole call: one copy in, one copy out, and no host
synchronisation per mini-batch (see its docstring).

Each formula is written once, as a device function computing one element,
with the formula quoted above it (``input_sum_at`` computes ``z^l_k`` for
one ``(n, k)``, ``weight_gradient_at`` computes ``dC/dW^l_kj`` for one
``(k, j)``, ...).  Three kinds of kernels call them:

* the **element kernels**: one thread per ``(n, k)`` of the input sums, per
  ``(n, j)`` of the deltas, per ``(k, j)`` of the weight gradients, per
  parameter of the update;
* the **tiled kernels**, for wide layers: the input sums, the delta recursion
  and the weight gradients are matrix products (NOTATION.md's matrix form),
  computed tile by tile through shared memory (:func:`tile_products`), each
  thread holding ``REGISTERS x REGISTERS`` outputs in registers;
* the **fused epoch kernel**, for small networks: one thread block runs every
  step of every mini-batch of an epoch, the threads striding over the same
  elements, separated by ``cuda.syncthreads()``, so that one launch per epoch
  replaces a dozen per mini-batch.

The scalar formulas of :mod:`fastbp.formulas`, the layout helpers of
:mod:`fastbp.layout` and the update rules of :mod:`fastbp.optim` are
``register_jitable`` functions; numba-cuda compiles them for the device
when a kernel calls them (it installs the "generic" overloads of Numba's
registry defined outside Numba, see ``numba_cuda/numba/cuda/typing/context.py``),
so they stay written once for every backend.

Thread blocks: ``BLOCK x BLOCK`` threads for two-dimensional kernels and
``BLOCK * BLOCK`` for one-dimensional ones; ``BLOCK`` (a power of two) is
read from the environment variable ``FASTBP_CUDA_BLOCK`` when this module is
first imported (default 16), and ``REGISTERS`` from ``FASTBP_CUDA_REGISTERS``
(default 4).  The tests set them small so that their inputs span several
blocks with ragged last blocks.

Importing this module raises :class:`ImportError` when the ``numba-cuda``
package is missing and :class:`RuntimeError` when no CUDA GPU can be used
(Numba's CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``, counts as one).
"""

import importlib.util
import math
import os

import numpy as np

if importlib.util.find_spec("numba_cuda") is None:
    raise ImportError(
        "the cuda backend needs the numba-cuda package, which is not installed: "
        "pip install 'fastbp[cuda]' (or pip install numba-cuda)"
    )

import numba  # noqa: E402
from numba import cuda  # noqa: E402

if not cuda.is_available():
    raise RuntimeError(
        "the cuda backend needs an NVIDIA GPU with a working CUDA driver, and none was found "
        "(numba.cuda.is_available() is False); use backend='serial'"
    )

from fastbp.formulas import (  # noqa: E402
    SOFTMAX,
    activation,
    activation_derivative,
    cost_derivative,
    cost_term,
    is_canonical_pair,
    softmax_row,
)
from fastbp.layout import biases, layer, parameter_start, weights  # noqa: E402
from fastbp.optim import (  # noqa: E402
    ADAM,
    N_HYPER,
    SAMPLES_SEEN,
    UPDATES,
    adam_step,
    end_of_epoch_schedule,
    sgd_step,
)
from fastbp.shuffling import shuffle  # noqa: E402

BLOCK = int(os.environ.get("FASTBP_CUDA_BLOCK", "16"))
REGISTERS = int(os.environ.get("FASTBP_CUDA_REGISTERS", "4"))
if BLOCK < 1 or BLOCK & (BLOCK - 1) or REGISTERS < 1:
    raise ValueError(f"FASTBP_CUDA_BLOCK must be a power of two and FASTBP_CUDA_REGISTERS positive, got {BLOCK}, {REGISTERS}")
THREADS = BLOCK * BLOCK
# A tiled kernel's block computes a TILE x TILE tile of outputs.
TILE = BLOCK * REGISTERS
# The squared weights are summed in at most this many partial sums (one per
# block of THREADS weights), then in one block.
PARTIAL_SUMS = 128

# Choice of kernels (module settings, so that tests can force each kind):
# a product whose output and depth are all at least TILED_MIN_WIDTH uses the
# tiled kernels; an epoch whose batch size times parameter count is at most
# FUSED_MAX_WORK runs as one fused kernel in one block.
TILED_MIN_WIDTH = 128
FUSED_MAX_WORK = 2**18


def blocks(count: int, per_block: int) -> int:
    """The number of blocks of ``per_block`` threads that cover ``count`` items (at least 1)."""
    return max(1, -(-count // per_block))


def grid_2d(rows: int, columns: int, per_thread: int = 1) -> tuple:
    """``(grid, block)`` for one thread per ``per_thread x per_thread`` elements of a ``rows x columns`` output.

    ``x`` runs along the columns (the contiguous index), ``y`` along the rows.
    """
    edge = BLOCK * per_thread
    return (blocks(columns, edge), blocks(rows, edge)), (BLOCK, BLOCK)


def grid_1d(count: int) -> tuple:
    """``(grid, block)`` for one thread per item."""
    return blocks(count, THREADS), THREADS


# ---------------------------------------------------------------------------
# The formulas, one element each.
# ---------------------------------------------------------------------------


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
    """The optimiser's rule (:mod:`fastbp.optim`) on parameter i, update number t.

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


# ---------------------------------------------------------------------------
# Element kernels: one thread per element.
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Tiled kernels: the three products of the matrix form, through shared memory.
# ---------------------------------------------------------------------------


@cuda.jit(device=True)
def tile_products(X, Y, acc):
    """acc[r, c] += sum_q X[m, q] Y[q, p] for this thread's REGISTERS x REGISTERS outputs.

    The block computes the TILE x TILE tile of outputs starting at row
    ``blockIdx.y * TILE`` and column ``blockIdx.x * TILE``; thread (x, y)
    holds rows ``y + r BLOCK`` and columns ``x + c BLOCK`` of it.  The depth
    ``q`` advances BLOCK at a time: the block copies a TILE x BLOCK slice of
    X and a BLOCK x TILE slice of Y into shared memory (zeros past the
    edges), then each thread multiplies from there, so that every value read
    from global memory serves TILE products, and every value read from
    shared memory REGISTERS of them.
    """
    Xs = cuda.shared.array((TILE, BLOCK), dtype=X.dtype)
    Ys = cuda.shared.array((BLOCK, TILE), dtype=Y.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m0 = cuda.blockIdx.y * TILE
    p0 = cuda.blockIdx.x * TILE
    zero = X.dtype.type(0.0)
    for q0 in range(0, X.shape[1], BLOCK):
        for r in range(REGISTERS):
            m = m0 + ty + r * BLOCK
            Xs[ty + r * BLOCK, tx] = X[m, q0 + tx] if m < X.shape[0] and q0 + tx < X.shape[1] else zero
            p = p0 + tx + r * BLOCK
            Ys[ty, tx + r * BLOCK] = Y[q0 + ty, p] if q0 + ty < Y.shape[0] and p < Y.shape[1] else zero
        cuda.syncthreads()
        for q in range(BLOCK):
            for r in range(REGISTERS):
                x = Xs[ty + r * BLOCK, q]
                for c in range(REGISTERS):
                    acc[r, c] += x * Ys[q, tx + c * BLOCK]
        cuda.syncthreads()


@cuda.jit(device=True)
def clear(acc):
    """acc[r, c] = 0 for the REGISTERS x REGISTERS accumulators of a thread."""
    for r in range(REGISTERS):
        for c in range(REGISTERS):
            acc[r, c] = 0


@cuda.jit
def tiled_input_sum_kernel(code, W, b, a_prev, a):
    """Z^l = A^{l-1} (W^l)^T + b^l tile by tile, then a^l_k = sigma_l(z^l_k) (softmax: z^L_k)."""
    acc = cuda.local.array((REGISTERS, REGISTERS), dtype=a.dtype)
    clear(acc)
    tile_products(a_prev, W.T, acc)
    for r in range(REGISTERS):
        n = cuda.blockIdx.y * TILE + cuda.threadIdx.y + r * BLOCK
        for c in range(REGISTERS):
            k = cuda.blockIdx.x * TILE + cuda.threadIdx.x + c * BLOCK
            if n < a.shape[0] and k < a.shape[1]:
                # z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k
                a[n, k] = activation(code, acc[r, c] + b[k])


@cuda.jit
def tiled_delta_kernel(code, W_next, delta_next, a, delta):
    """Delta^l = (Delta^{l+1} W^{l+1}) (.) sigma'(Z^l) tile by tile."""
    acc = cuda.local.array((REGISTERS, REGISTERS), dtype=a.dtype)
    clear(acc)
    tile_products(delta_next, W_next, acc)
    for r in range(REGISTERS):
        n = cuda.blockIdx.y * TILE + cuda.threadIdx.y + r * BLOCK
        for c in range(REGISTERS):
            j = cuda.blockIdx.x * TILE + cuda.threadIdx.x + c * BLOCK
            if n < delta.shape[0] and j < delta.shape[1]:
                # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k
                delta[n, j] = activation_derivative(code, a[n, j]) * acc[r, c]


@cuda.jit
def tiled_weight_gradient_kernel(W, delta, a_prev, weight_sums, batch, l2, dW):
    """dC/dW^l = (1/N) (Delta^l)^T A^{l-1} + (lambda/N) W^l tile by tile; N is ``weight_sums[batch]``."""
    acc = cuda.local.array((REGISTERS, REGISTERS), dtype=W.dtype)
    clear(acc)
    tile_products(delta.T, a_prev, acc)
    inv_n = W.dtype.type(1.0 / weight_sums[batch])
    decay = W.dtype.type(l2) * inv_n
    for r in range(REGISTERS):
        k = cuda.blockIdx.y * TILE + cuda.threadIdx.y + r * BLOCK
        for c in range(REGISTERS):
            j = cuda.blockIdx.x * TILE + cuda.threadIdx.x + c * BLOCK
            if k < dW.shape[0] and j < dW.shape[1]:
                # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
                dW[k, j] = acc[r, c] * inv_n + decay * W[k, j]


# ---------------------------------------------------------------------------
# The fused epoch kernel: one block, every step of every mini-batch.
# ---------------------------------------------------------------------------

# A device function may return only an array it was given, not a view cut
# out of one; inlined at the IR level ("always"), the layout helpers return
# their views in device code as they do on the CPU.
device_layer = cuda.jit(device=True, inline="always")(layer)
device_weights = cuda.jit(device=True, inline="always")(weights)
device_biases = cuda.jit(device=True, inline="always")(biases)


@cuda.jit
def fused_epoch_kernel(X, Y, S, order, weight_sums, theta, sizes, codes, cost, l2, batch_size, optimizer, hypers,
                       velocity, second_moment, t0, epoch, A, D, Y_batch, S_batch, grad, last_finite, losses, status):
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
                a[i // sizes[l], i % sizes[l]] = activation(codes[l], input_sum_at(W, b, a_prev, i // sizes[l], i % sizes[l]))
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
            delta_out[i // sizes[L], i % sizes[L]] = output_delta_at(cost, codes[L], a_out, y, s, i // sizes[L], i % sizes[L])
        cuda.syncthreads()
        for l in range(L - 1, 0, -1):
            delta = device_layer(D, sizes, l, N, 1)
            W_next = device_weights(theta, sizes, l + 1)
            delta_next = device_layer(D, sizes, l + 1, N, 1)
            a = device_layer(A, sizes, l, N, 0)
            for i in range(tid, N * sizes[l], stride):
                delta[i // sizes[l], i % sizes[l]] = delta_at(codes[l], W_next, delta_next, a, i // sizes[l], i % sizes[l])
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


# ---------------------------------------------------------------------------
# Host side: launches over device arrays, and the entry points.
# ---------------------------------------------------------------------------


def use_tiles(*dimensions: int) -> bool:
    """Whether a product with these output and depth dimensions goes to the tiled kernels."""
    return min(dimensions) >= TILED_MIN_WIDTH


def layer_views(d_theta, d_grad, d_A, d_D, sizes, n_samples: int) -> list:
    """Per layer l = 1 .. L: ``(W, b, dW, db, a_prev, a, delta)``, views of the device buffers."""
    return [None] + [
        (
            weights(d_theta, sizes, l),
            biases(d_theta, sizes, l),
            None if d_grad is None else weights(d_grad, sizes, l),
            None if d_grad is None else biases(d_grad, sizes, l),
            layer(d_A, sizes, l - 1, n_samples, 0),
            layer(d_A, sizes, l, n_samples, 0),
            None if d_D is None else layer(d_D, sizes, l, n_samples, 1),
        )
        for l in range(1, len(sizes))
    ]


def launch_forward(views, sizes, codes, n_samples: int) -> None:
    """a^l = sigma_l(W^l a^{l-1} + b^l) for l = 1 .. L."""
    for l in range(1, len(sizes)):
        W, b, _, _, a_prev, a, _ = views[l]
        if use_tiles(n_samples, sizes[l], sizes[l - 1]):
            grid, block = grid_2d(n_samples, sizes[l], REGISTERS)
            tiled_input_sum_kernel[grid, block](codes[l], W, b, a_prev, a)
        else:
            grid, block = grid_2d(n_samples, sizes[l])
            input_sum_kernel[grid, block](codes[l], W, b, a_prev, a)
        if codes[l] == SOFTMAX:
            grid, block = grid_1d(n_samples)
            softmax_kernel[grid, block](a)


def launch_backprop(views, sizes, codes, n_samples: int) -> None:
    """delta^l from delta^{l+1}, for l = L-1 .. 1."""
    for l in range(len(sizes) - 2, 0, -1):
        a, delta = views[l][5], views[l][6]
        W_next, delta_next = views[l + 1][0], views[l + 1][6]
        if use_tiles(n_samples, sizes[l], sizes[l + 1]):
            grid, block = grid_2d(n_samples, sizes[l], REGISTERS)
            tiled_delta_kernel[grid, block](codes[l], W_next, delta_next, a, delta)
        else:
            grid, block = grid_2d(n_samples, sizes[l])
            delta_kernel[grid, block](codes[l], W_next, delta_next, a, delta)


def launch_gradients(views, sizes, n_samples: int, d_weight_sums, batch: int, l2: float) -> None:
    """dC/dW^l and dC/db^l for l = 1 .. L; N is ``d_weight_sums[batch]``."""
    for l in range(1, len(sizes)):
        W, _, dW, db, a_prev, _, delta = views[l]
        if use_tiles(sizes[l], sizes[l - 1], n_samples):
            grid, block = grid_2d(sizes[l], sizes[l - 1], REGISTERS)
            tiled_weight_gradient_kernel[grid, block](W, delta, a_prev, d_weight_sums, batch, l2, dW)
        else:
            grid, block = grid_2d(sizes[l], sizes[l - 1])
            weight_gradient_kernel[grid, block](W, delta, a_prev, d_weight_sums, batch, l2, dW)
        grid, block = grid_1d(sizes[l])
        bias_gradient_kernel[grid, block](delta, d_weight_sums, batch, db)


def partial_sum_count(sizes) -> int:
    """How many partial sums :func:`squared_weight_partials` makes: one per block, at most PARTIAL_SUMS."""
    return min(PARTIAL_SUMS, blocks(sum(int(sizes[l]) * int(sizes[l - 1]) for l in range(1, len(sizes))), THREADS))


def launch_squared_weights(d_theta, d_sizes, d_partials) -> None:
    """d_partials receives partial sums of sum_l sum_kj (W^l_kj)^2."""
    squared_weight_partials[d_partials.shape[0], THREADS](d_theta, d_sizes, d_partials)


def forward(theta, sizes, codes, A, n_samples, n_threads):
    """The forward pass over the batch held in layer 0 of ``A`` (see the serial backend)."""
    d_theta, d_A = cuda.to_device(theta), cuda.to_device(A)
    launch_forward(layer_views(d_theta, None, d_A, None, sizes, n_samples), sizes, codes, n_samples)
    d_A.copy_to_host(A)


def output_delta(cost, output_code, a, y, s, delta):
    """delta^L_k = s_n dC_n/da^L_k * sigma_L'(z^L_k), for every sample n."""
    d_delta = cuda.to_device(delta)
    grid, block = grid_2d(a.shape[0], a.shape[1])
    output_delta_kernel[grid, block](cost, output_code, cuda.to_device(a), cuda.to_device(y), cuda.to_device(s), d_delta)
    d_delta.copy_to_host(delta)


def backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads):
    """The delta recursion, from layer L - 1 down to layer 1 (``delta^L`` already in ``D``)."""
    d_D = cuda.to_device(D)
    views = layer_views(cuda.to_device(theta), None, cuda.to_device(A), d_D, sizes, n_samples)
    launch_backprop(views, sizes, codes, n_samples)
    d_D.copy_to_host(D)


def accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads):
    """The gradients of the batch cost C into ``grad``; N is ``weight_sum``.  Returns sum_l sum_kj (W^l_kj)^2."""
    d_grad = cuda.to_device(grad)
    views = layer_views(cuda.to_device(theta), d_grad, cuda.to_device(A), cuda.to_device(D), sizes, n_samples)
    launch_gradients(views, sizes, n_samples, cuda.to_device(np.array([weight_sum], dtype=np.float64)), 0, l2)
    d_grad.copy_to_host(grad)
    return squared_weights(theta, sizes)


def apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads):
    """One step of the optimiser (see :mod:`fastbp.optim`) on all parameters at once."""
    counters[UPDATES] += 1
    d_theta, d_velocity, d_second = cuda.to_device(theta), cuda.to_device(velocity), cuda.to_device(second_moment)
    grid, block = grid_1d(theta.shape[0])
    update_kernel[grid, block](d_theta, cuda.to_device(grad), optimizer, cuda.to_device(hyper.reshape(1, -1)), 0,
                               d_velocity, d_second, counters[UPDATES], cuda.to_device(np.array([-1], dtype=np.int64)))
    d_theta.copy_to_host(theta)
    d_velocity.copy_to_host(velocity)
    if optimizer == ADAM:
        d_second.copy_to_host(second_moment)


def data_cost(cost, a, y, s):
    """sum_n s_n C_n over the batch."""
    d_total = cuda.to_device(np.zeros(1, dtype=np.float64))
    n_samples = np.array([a.shape[0]], dtype=np.float64)
    batch_cost_kernel[1, THREADS](cost, cuda.to_device(a), cuda.to_device(y), cuda.to_device(s), 0.0,
                                  cuda.to_device(np.zeros(1)), cuda.to_device(n_samples), 0, d_total, 0)
    return float(d_total.copy_to_host()[0])


def squared_weights(theta, sizes):
    """sum_l sum_kj (W^l_kj)^2."""
    d_partials = cuda.device_array(partial_sum_count(sizes), dtype=np.float64)
    launch_squared_weights(cuda.to_device(theta), cuda.to_device(sizes), d_partials)
    return float(np.sum(d_partials.copy_to_host()))


def batch_weight_sums(S, orders, batch_size: int) -> np.ndarray:
    """N of every batch of every epoch: the sums of the sample weights, in float64."""
    starts = np.arange(0, orders.shape[1], batch_size)
    return np.add.reduceat(S[orders].astype(np.float64), starts, axis=1).ravel()


def load_batch(X, Y, S, order, start, A0, y, s):
    """a^0 = x: the batch's samples, in the shuffled order, into layer 0; the sum of their weights."""
    d_A0, d_y, d_s = cuda.to_device(A0), cuda.to_device(y), cuda.to_device(s)
    grid, block = grid_2d(A0.shape[0], max(A0.shape[1], y.shape[1]))
    load_batch_kernel[grid, block](cuda.to_device(X), cuda.to_device(Y), cuda.to_device(S), cuda.to_device(order),
                                   start, d_A0, d_y, d_s)
    d_A0.copy_to_host(A0)
    d_y.copy_to_host(y)
    d_s.copy_to_host(s)
    return float(batch_weight_sums(S, order[None, start : start + A0.shape[0]], A0.shape[0])[0])


def epoch_plans(rng_state, hyper, counters, n_total: int, epochs: int, do_shuffle: bool) -> tuple:
    """On the host, before training: every epoch's order, and the state after each epoch.

    Returns ``(orders, states, hypers, hypers_after)``: ``orders[e]`` is epoch
    e's order of the samples (drawn with :func:`fastbp.shuffling.shuffle`,
    as the serial backend draws it), ``states[e]`` the generator state after
    it, ``hypers[e]`` the hyperparameters during epoch e and
    ``hypers_after[e]`` after its end-of-epoch schedule.
    """
    orders = np.empty((epochs, n_total), dtype=np.int64)
    states = np.empty(epochs, dtype=np.uint64)
    hypers = np.empty((epochs, N_HYPER), dtype=np.float64)
    hypers_after = np.empty((epochs, N_HYPER), dtype=np.float64)
    current = hyper.copy()
    for e in range(epochs):
        orders[e] = np.arange(n_total)
        if do_shuffle:
            shuffle(orders[e], rng_state)
        states[e] = rng_state[0]
        hypers[e] = current
        end_of_epoch_schedule(current, counters[SAMPLES_SEEN] + (e + 1) * n_total)
        hypers_after[e] = current
    return orders, states, hypers, hypers_after


def train_epochs(X, Y, S, theta, sizes, codes, cost, l2, batch_size, do_shuffle, optimizer, hyper,
                 velocity, second_moment, counters, order, rng_state, A, D, Y_batch, S_batch, grad,
                 last_finite, losses, n_threads):
    """Mini-batch gradient descent for ``losses.shape[0]`` epochs, on the GPU.

    The contract of the serial backend's ``train_epochs`` (same arguments,
    same results, same return value; ``n_threads``, the CPU thread count, is
    not used).  The host draws every epoch's shuffled
    order first (the same generator, so the same orders as the CPU backends)
    and copies the data, the orders, the batches' weight sums, the parameters
    and the optimiser's state to the device once.  The epochs then run as
    kernel launches queued on one stream with no synchronisation: the fused
    epoch kernel for small networks, else a dozen kernels per mini-batch.
    The epoch's cost is summed on the device; at the end of each epoch a
    kernel keeps the weights (cost finite) or restores the last finite ones
    and sets a stop flag that turns every later update into nothing.  One
    copy back brings the parameters (and ``last_finite``), the optimiser's
    state, the costs and the flag.  ``A``, ``D``, ``Y_batch``, ``S_batch``
    and ``grad`` are the caller's work buffers and are not written back.
    """
    n_total = X.shape[0]
    epochs = losses.shape[0]
    L = len(sizes) - 1
    n_batches = -(-n_total // batch_size)
    orders, states, hypers, hypers_after = epoch_plans(rng_state, hyper, counters, n_total, epochs, do_shuffle)
    d_X, d_Y, d_S = cuda.to_device(X), cuda.to_device(Y), cuda.to_device(S)
    d_order = cuda.to_device(orders.ravel())
    d_weight_sums = cuda.to_device(batch_weight_sums(S, orders, batch_size))
    d_hypers = cuda.to_device(hypers)
    d_theta, d_velocity, d_second = cuda.to_device(theta), cuda.to_device(velocity), cuda.to_device(second_moment)
    d_last = cuda.to_device(last_finite)
    d_sizes = cuda.to_device(sizes)
    d_A, d_D, d_Y_batch, d_S_batch, d_grad = (cuda.device_array_like(buffer) for buffer in (A, D, Y_batch, S_batch, grad))
    d_losses = cuda.to_device(np.zeros(epochs, dtype=np.float64))
    d_status = cuda.to_device(np.array([-1], dtype=np.int64))
    if batch_size * theta.shape[0] <= FUSED_MAX_WORK:
        d_codes = cuda.to_device(codes)
        for e in range(epochs):
            fused_epoch_kernel[1, THREADS](
                d_X, d_Y, d_S, d_order, d_weight_sums, d_theta, d_sizes, d_codes, cost, l2, batch_size, optimizer,
                d_hypers, d_velocity, d_second, counters[UPDATES] + e * n_batches, e, d_A, d_D, d_Y_batch,
                d_S_batch, d_grad, d_last, d_losses, d_status,
            )
    else:
        d_partials = cuda.to_device(np.zeros(partial_sum_count(sizes), dtype=np.float64))
        last_size = n_total - (n_batches - 1) * batch_size
        views = {N: layer_views(d_theta, d_grad, d_A, d_D, sizes, N) for N in {batch_size, last_size}}
        targets = {N: (d_Y_batch[: N * sizes[L]].reshape((N, sizes[L])), d_S_batch[:N]) for N in views}
        grid_p, block_p = grid_1d(theta.shape[0])
        for e in range(epochs):
            for batch in range(n_batches):
                N = min(batch_size, n_total - batch * batch_size)
                layers, (y, s) = views[N], targets[N]
                grid, block = grid_2d(N, max(sizes[0], sizes[L]))
                load_batch_kernel[grid, block](d_X, d_Y, d_S, d_order, e * n_total + batch * batch_size,
                                               layers[1][4], y, s)
                launch_forward(layers, sizes, codes, N)
                if l2 != 0.0:
                    launch_squared_weights(d_theta, d_sizes, d_partials)
                a_out = layers[L][5]
                batch_cost_kernel[1, THREADS](cost, a_out, y, s, l2, d_partials, d_weight_sums,
                                              e * n_batches + batch, d_losses, e)
                grid, block = grid_2d(N, sizes[L])
                output_delta_kernel[grid, block](cost, codes[L], a_out, y, s, layers[L][6])
                launch_backprop(layers, sizes, codes, N)
                launch_gradients(layers, sizes, N, d_weight_sums, e * n_batches + batch, l2)
                update_kernel[grid_p, block_p](d_theta, d_grad, optimizer, d_hypers, e, d_velocity, d_second,
                                               counters[UPDATES] + e * n_batches + batch + 1, d_status)
            keep_finite_kernel[grid_p, block_p](d_theta, d_last, d_losses, e, d_status)
            stop_if_diverged_kernel[1, 1](d_losses, e, d_status)
    # The one copy back.
    status = int(d_status.copy_to_host()[0])
    losses[:] = d_losses.copy_to_host() / n_total
    d_theta.copy_to_host(theta)
    d_last.copy_to_host(last_finite)
    d_velocity.copy_to_host(velocity)
    d_second.copy_to_host(second_moment)
    completed = epochs if status < 0 else status
    last = min(completed, epochs - 1)
    order[:] = orders[last]
    rng_state[0] = states[last]
    hyper[:] = hypers_after[last]
    counters[UPDATES] += (last + 1) * n_batches
    counters[SAMPLES_SEEN] += (last + 1) * n_total
    return completed
