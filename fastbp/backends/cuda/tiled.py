"""The tiled kernels: the three products of the matrix form, through shared memory."""

from numba import cuda

from fastbp.backends.cuda.config import BLOCK, REGISTERS, TILE
from fastbp.numerics.formulas import (
    activation,
    activation_derivative,
)


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
