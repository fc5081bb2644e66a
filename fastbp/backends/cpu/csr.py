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

from fastbp.backends.cpu.loops import finish_gradient_row, load_target
from fastbp.backends.cpu.tuning import GRADIENT_ROWS, kernel


@kernel
def load_batch(X, Y, S, order, start, A0, y, s):
    """a^0 = x: copy the batch's CSR rows of ``X``, in the epoch's order, into the CSR rows ``A0``.

    ``A0`` has room for the nonzeros of any batch (:func:`fastbp.engine.inputs.batch_capacity`).
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
    """z^1_k = sum_j W^1_kj x_j + b^1_k over the nonzero x_j, for k in [k_start, k_stop) and every sample n."""
    data, indices, indptr = x.data, x.indices, x.indptr
    for k in range(k_start, k_stop):
        for n in range(z.shape[0]):
            # z^1_k(n) = b^1_k + sum over p in row n of W^1[k, indices[p]] * data[p]
            total = b[k]
            for p in range(indptr[n], indptr[n + 1]):
                total += W[k, indices[p]] * data[p]
            z[n, k] = total


@kernel
def layer_gradients(W, x, delta, inv_n, decay, dW, db, k_start, k_stop):
    """dC/dW^1_kj and dC/db^1_k for k in [k_start, k_stop); returns their sum_j (W^1_kj)^2.

    The data term comes only from the nonzero x_j(n); the weight decay, and
    with it the whole row of ``dW^1``, is dense, as scikit-learn applies it.
    """
    data, indices, indptr = x.data, x.indices, x.indptr
    n_samples, n_inputs = delta.shape[0], W.shape[1]
    squares = 0.0
    for k in range(k_start, k_stop):
        for j in range(n_inputs):
            dW[k, j] = 0.0
        # sum_n delta^1_k(n) x_j(n), scattered into row k where x_j(n) != 0
        for n in range(n_samples):
            d_n = delta[n, k]
            for p in range(indptr[n], indptr[n + 1]):
                dW[k, indices[p]] += d_n * data[p]
        # dC/dW^1_kj = (1/N) sum_n delta^1_k(n) x_j(n) + (lambda/N) W^1_kj, and dC/db^1_k
        squares += finish_gradient_row(W, delta, inv_n, decay, dW, db, k)
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
