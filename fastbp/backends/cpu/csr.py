"""The first layer's loops for inputs stored as CSR rows: index loops over the nonzero ``x_j`` only.

``x`` is a :class:`fastbp.numerics.sparse.CSRRows`: the nonzero inputs of
sample ``n`` are ``x.data[p]`` at ``j = x.indices[p]`` for ``p`` in
``x.indptr[n] .. x.indptr[n + 1] - 1``.  Only layer 1 reads ``a^0 = x``; the
rest of the network runs the dense loops of :mod:`fastbp.backends.cpu.loops`.

Each function takes a range of receiving units ``k`` of ``W^1``, like the
dense loops: the serial backend runs the ranges one after the other, the
parallel backend hands them to threads, and each output element is computed
by one range in the same order either way (bitwise equal results).

Loop order: ``k`` outside, the batch's nonzeros inside.  ``W^1`` is stored
row by row (``W[k, j]``, ``n_0`` values a row), so for one unit ``k`` the
nonzeros of a whole batch read and write scattered entries of one row of
``W^1`` and of ``dW^1``, which stays in the L2 cache while they do (a row of
50,000 float32 inputs is 200 KB): every row comes from memory once per batch.
With samples outside and units inside, each nonzero would read a column of
``W^1``, one cache line per unit.
"""

from fastbp.backends.cpu.loops import bias_sums, finish_weight_row, load_target
from fastbp.backends.cpu.tuning import GRADIENT_ROWS, kernel


@kernel
def load_batch(X, Y, S, order, start, A0, y, s):
    """a^0 = x: copy the batch's CSR rows of ``X``, in the epoch's order, into the CSR rows ``A0``.

    ``A0`` has room for the nonzeros of any batch (:func:`fastbp.numerics.sparse.batch_capacity`).
    Returns the sum of the samples' weights.
    """
    weight_sum = 0.0
    p = 0
    A0.indptr[0] = 0
    for n in range(y.shape[0]):
        source = order[start + n]
        for q in range(X.indptr[source], X.indptr[source + 1]):
            A0.data[p] = X.data[q]
            A0.indices[p] = X.indices[q]
            p += 1
        A0.indptr[n + 1] = p
        weight_sum += load_target(Y, S, source, y, s, n)
    return weight_sum


@kernel
def input_sum(W, b, x, z, k_start, k_stop):
    """z^1_k = sum_j W^1_kj x_j + b^1_k over the nonzero x_j, for k in [k_start, k_stop) and every sample n.

    Four units at a time: each nonzero's index and value, loaded once, serve
    four rows of ``W^1`` (1.35x faster than one unit at a time on the text
    workload's batches).  Each sum runs over the nonzeros in their order
    whether or not its unit is in a block of four, so the results do not
    depend on where a thread's range starts.
    """
    data, indices, indptr = x.data, x.indices, x.indptr
    blocks_stop = k_start + (k_stop - k_start) // 4 * 4
    for k in range(k_start, blocks_stop, 4):
        for n in range(z.shape[0]):
            # z^1_k(n) = b^1_k + sum over p in row n of W^1[k, indices[p]] * data[p], for k .. k + 3
            z0, z1, z2, z3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for p in range(indptr[n], indptr[n + 1]):
                j, value = indices[p], data[p]
                z0 += W[k, j] * value
                z1 += W[k + 1, j] * value
                z2 += W[k + 2, j] * value
                z3 += W[k + 3, j] * value
            z[n, k], z[n, k + 1], z[n, k + 2], z[n, k + 3] = z0, z1, z2, z3
    for k in range(blocks_stop, k_stop):
        for n in range(z.shape[0]):
            total = b[k]
            for p in range(indptr[n], indptr[n + 1]):
                total += W[k, indices[p]] * data[p]
            z[n, k] = total


@kernel
def layer_gradients(W, x, delta, inv_n, decay, dW, db, k_start, k_stop):
    """dC/dW^1_kj and dC/db^1_k for k in [k_start, k_stop); returns their sum_j (W^1_kj)^2.

    The data term comes only from the nonzero x_j(n); the weight decay, and
    with it the whole row of ``dW^1``, is dense, as scikit-learn applies it.
    Four rows at a time, as in :func:`input_sum`; each ``dW[k, j]`` gathers
    its terms in the same order either way.
    """
    data, indices, indptr = x.data, x.indices, x.indptr
    blocks_stop = k_start + (k_stop - k_start) // 4 * 4
    bias_sums(delta, inv_n, db, k_start, k_stop)
    squares = 0.0
    # A block of four rows (or one row past the blocks) is zeroed, scattered into and finished
    # while it sits in the L2 cache.
    for first in range(k_start, k_stop, 4):
        last = first + 4 if first < blocks_stop else k_stop
        for k in range(first, last):
            for j in range(W.shape[1]):
                dW[k, j] = 0.0
        if first < blocks_stop:
            # sum_n delta^1_k(n) x_j(n), scattered into rows k .. k + 3 where x_j(n) != 0
            for n in range(delta.shape[0]):
                d0, d1, d2, d3 = delta[n, first], delta[n, first + 1], delta[n, first + 2], delta[n, first + 3]
                for p in range(indptr[n], indptr[n + 1]):
                    j, value = indices[p], data[p]
                    dW[first, j] += d0 * value
                    dW[first + 1, j] += d1 * value
                    dW[first + 2, j] += d2 * value
                    dW[first + 3, j] += d3 * value
        else:
            for k in range(first, last):
                for n in range(delta.shape[0]):
                    d_n = delta[n, k]
                    for p in range(indptr[n], indptr[n + 1]):
                        dW[k, indices[p]] += d_n * data[p]
        for k in range(first, last):
            # dC/dW^1_kj = (1/N) sum_n delta^1_k(n) x_j(n) + (lambda/N) W^1_kj
            squares += finish_weight_row(W, inv_n, decay, dW, k)
    return squares


@kernel
def gradients_by_chunks(W, x, delta, inv_n, decay, dW, db):
    """:func:`layer_gradients` of all rows on one thread, in the chunks of ``GRADIENT_ROWS`` that the threads share.

    Returns sum_kj (W^1_kj)^2, the chunks' sums added in order (as
    :func:`fastbp.backends.cpu.parallel.csr_layer_gradients` adds them).
    """
    squares = 0.0
    for k_start in range(0, W.shape[0], GRADIENT_ROWS):
        squares += layer_gradients(W, x, delta, inv_n, decay, dW, db, k_start, min(k_start + GRADIENT_ROWS, W.shape[0]))
    return squares


@kernel
def nonzeros(x):
    """How many stored values the CSR rows ``x`` hold."""
    return x.indptr[x.indptr.shape[0] - 1] - x.indptr[0]
