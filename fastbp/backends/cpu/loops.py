"""The index loops of docs/notation.md, each over a range of units or samples.

Each function computes one formula, quoted in the comment above the loop
that computes it.  Indices are named as in docs/notation.md: ``l`` the layer,
``k`` a receiving unit of layer ``l``, ``j`` an emitting unit of layer
``l - 1`` and ``n`` a sample of the batch.  Arrays are the views that
:mod:`fastbp.numerics.layout` cuts out of the flat buffers: ``W`` is ``W[l]`` of shape
``(n_l, n_{l-1})``, ``a_prev`` is ``a^{l-1}`` of shape ``(N, n_{l-1})``,
``delta`` is ``delta^l`` of shape ``(N, n_l)`` (row = sample).

The heavy loops take a range of receiving units ``k`` (or, for the delta
recursion, views of a block of samples ``n``): the serial backend runs the
ranges one after the other, the parallel backend hands them to threads.
Each output element is computed by one range, in the same order either way,
so both give bitwise the same results.

The loops keep the contiguous index innermost (``j`` in ``W[k, j]`` and in
``a^{l-1}[n, j]``), so that LLVM vectorises them.
"""

from fastbp.backends.cpu.tuning import TRANSPOSE_TILE, kernel
from fastbp.numerics.formulas import (
    SIGMOID,
    SOFTMAX,
    activation,
    activation_derivative,
    cost_derivative,
    cost_term,
    is_canonical_pair,
    sigmoid,
    softmax_row,
)


@kernel
def input_sum(W, b, a_prev, z, k_start, k_stop):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for k in [k_start, k_stop) and every sample n.

    Register blocking: four samples by two units at a time, eight running
    sums that stay in registers; each ``W[k, j]`` loaded serves four samples
    and each ``a^{l-1}_j`` two units (six loads per eight multiply-adds,
    against two per one in the plain loop).  The ``j`` loops start at 0, so
    that LLVM can drop Numba's negative-index checks and vectorise them; and
    they index the 2-d arrays rather than row views, whose reference counts
    (atomic operations) cost more than a small layer's arithmetic.
    """
    n_samples, n_inputs = a_prev.shape
    pairs_stop = k_start + (k_stop - k_start) // 2 * 2
    for n in range(0, n_samples - 3, 4):
        for k in range(k_start, pairs_stop, 2):
            z0u = z1u = z2u = z3u = b[k]
            z0v = z1v = z2v = z3v = b[k + 1]
            for j in range(n_inputs):
                z0u += W[k, j] * a_prev[n, j]
                z1u += W[k, j] * a_prev[n + 1, j]
                z2u += W[k, j] * a_prev[n + 2, j]
                z3u += W[k, j] * a_prev[n + 3, j]
                z0v += W[k + 1, j] * a_prev[n, j]
                z1v += W[k + 1, j] * a_prev[n + 1, j]
                z2v += W[k + 1, j] * a_prev[n + 2, j]
                z3v += W[k + 1, j] * a_prev[n + 3, j]
            z[n, k], z[n + 1, k], z[n + 2, k], z[n + 3, k] = z0u, z1u, z2u, z3u
            z[n, k + 1], z[n + 1, k + 1], z[n + 2, k + 1], z[n + 3, k + 1] = z0v, z1v, z2v, z3v
        for k in range(pairs_stop, k_stop):
            for m in range(n, n + 4):
                total = b[k]
                for j in range(n_inputs):
                    total += W[k, j] * a_prev[m, j]
                z[m, k] = total
    for n in range(n_samples - n_samples % 4, n_samples):
        for k in range(k_start, k_stop):
            total = b[k]
            for j in range(n_inputs):
                total += W[k, j] * a_prev[n, j]
            z[n, k] = total


@kernel
def activate(code, z):
    """a^l_k = sigma_l(z^l_k), in place: on return ``z`` holds ``a``.

    A pass of its own rather than fused into :func:`input_sum`: over a whole
    block the loop of exponentials vectorises (see :mod:`fastbp.numerics.exp`), which
    saves more than a second pass over an L1-resident block costs.
    """
    if code == SOFTMAX:
        for n in range(z.shape[0]):
            softmax_row(z, n)
    elif code == SIGMOID:
        for n in range(z.shape[0]):
            for k in range(z.shape[1]):
                z[n, k] = sigmoid(z[n, k])
    else:
        for n in range(z.shape[0]):
            for k in range(z.shape[1]):
                z[n, k] = activation(code, z[n, k])


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
                delta[n, k] = (
                    s[n] * cost_derivative(cost, a[n, k], y[n, k]) * activation_derivative(output_code, a[n, k])
                )


@kernel
def backpropagate(W_next, delta_next, code, a, delta):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, for every sample n of ``a``.

    ``k`` outside and ``j`` inside, so that rows of ``W^{l+1}`` are read
    contiguously (the strided order, ``j`` outside, was several times slower).
    Register blocking: two samples by four units at a time, so each
    ``W^{l+1}_kj`` loaded serves two samples and each ``delta^l_j`` is
    loaded and stored once per four rows (six loads and two stores per eight
    multiply-adds).  The factor sigma_l' is applied in the same pass.
    """
    n_samples = a.shape[0]
    n_units, n_inputs = W_next.shape
    quads_stop = n_units // 4 * 4
    pairs_stop = n_samples // 2 * 2
    for n in range(n_samples):
        for j in range(n_inputs):
            delta[n, j] = 0.0
    for n in range(0, pairs_stop, 2):
        for k in range(0, quads_stop, 4):
            p0, p1, p2, p3 = delta_next[n, k], delta_next[n, k + 1], delta_next[n, k + 2], delta_next[n, k + 3]
            q0, q1, q2, q3 = (
                delta_next[n + 1, k],
                delta_next[n + 1, k + 1],
                delta_next[n + 1, k + 2],
                delta_next[n + 1, k + 3],
            )
            for j in range(n_inputs):
                delta[n, j] += W_next[k, j] * p0 + W_next[k + 1, j] * p1 + W_next[k + 2, j] * p2 + W_next[k + 3, j] * p3
                delta[n + 1, j] += (
                    W_next[k, j] * q0 + W_next[k + 1, j] * q1 + W_next[k + 2, j] * q2 + W_next[k + 3, j] * q3
                )
    for n in range(n_samples):
        first_k = quads_stop if n < pairs_stop else 0
        for k in range(first_k, n_units):
            d_k = delta_next[n, k]
            for j in range(n_inputs):
                delta[n, j] += W_next[k, j] * d_k
        for j in range(n_inputs):
            delta[n, j] *= activation_derivative(code, a[n, j])


@kernel
def online_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop):
    """:func:`layer_gradients` for a batch of one sample (online learning), in one pass per row.

    dC/dW^l_kj = delta^l_k a^{l-1}_j / N + (lambda/N) W^l_kj, with N = the sample's weight.
    """
    squares = 0.0
    for k in range(k_start, k_stop):
        d_k = delta[0, k] * inv_n
        row_squares = W.dtype.type(0.0)
        for j in range(W.shape[1]):
            dW[k, j] = d_k * a_prev[0, j] + decay * W[k, j]
            row_squares += W[k, j] * W[k, j]
        squares += row_squares
        # dC/db^l_k = delta^l_k / N
        db[k] = d_k
    return squares


@kernel
def layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop):
    """dC/dW^l_kj and dC/db^l_k for k in [k_start, k_stop); returns their sum_j (W^l_kj)^2.

    Register blocking: two units by four samples at a time, so each
    ``a^{l-1}_j`` loaded serves two rows of ``dW`` and each ``dW[k, j]`` is
    loaded and stored once per four samples (six loads and two stores per
    eight multiply-adds).  The weight decay reads ``W^l_kj`` once, and the sum
    of squares for the L2 term of the cost comes with it.
    """
    n_samples, n_inputs = a_prev.shape
    if n_samples == 1:
        return online_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)
    quads_stop = n_samples // 4 * 4
    pairs_stop = k_start + (k_stop - k_start) // 2 * 2
    for k in range(k_start, k_stop):
        for j in range(n_inputs):
            dW[k, j] = 0.0
    # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
    for k in range(k_start, pairs_stop, 2):
        for n in range(0, quads_stop, 4):
            g0, g1, g2, g3 = delta[n, k], delta[n + 1, k], delta[n + 2, k], delta[n + 3, k]
            h0, h1, h2, h3 = delta[n, k + 1], delta[n + 1, k + 1], delta[n + 2, k + 1], delta[n + 3, k + 1]
            for j in range(n_inputs):
                dW[k, j] += g0 * a_prev[n, j] + g1 * a_prev[n + 1, j] + g2 * a_prev[n + 2, j] + g3 * a_prev[n + 3, j]
                dW[k + 1, j] += (
                    h0 * a_prev[n, j] + h1 * a_prev[n + 1, j] + h2 * a_prev[n + 2, j] + h3 * a_prev[n + 3, j]
                )
    squares = 0.0
    for k in range(k_start, k_stop):
        first_n = quads_stop if k < pairs_stop else 0
        for n in range(first_n, n_samples):
            d_n = delta[n, k]
            for j in range(n_inputs):
                dW[k, j] += d_n * a_prev[n, j]
        row_squares = W.dtype.type(0.0)
        for j in range(n_inputs):
            dW[k, j] = dW[k, j] * inv_n + decay * W[k, j]
            row_squares += W[k, j] * W[k, j]
        squares += row_squares
        # dC/db^l_k = (1/N) sum_n delta^l_k(n)
        total = W.dtype.type(0.0)
        for n in range(n_samples):
            total += delta[n, k]
        db[k] = total * inv_n
    return squares


@kernel
def transpose(source, target):
    """target[j, n] = source[n, j]: an ``(N, n_l)`` block of a layer turned into ``(n_l, N)``.

    In square tiles, so that the rows read and the rows written stay in the
    L1 cache while a tile is copied.
    """
    n_rows, n_columns = source.shape
    for n_start in range(0, n_rows, TRANSPOSE_TILE):
        for j_start in range(0, n_columns, TRANSPOSE_TILE):
            for n in range(n_start, min(n_start + TRANSPOSE_TILE, n_rows)):
                for j in range(j_start, min(j_start + TRANSPOSE_TILE, n_columns)):
                    target[j, n] = source[n, j]


@kernel
def sample_sum(deltaT, k, aT, j):
    """sum_n delta^l_k(n) a^{l-1}_j(n), from the transposed deltas and activations."""
    total = deltaT.dtype.type(0.0)
    for n in range(deltaT.shape[1]):
        total += deltaT[k, n] * aT[j, n]
    return total


@kernel
def layer_gradients_transposed(W, aT, deltaT, inv_n, decay, dW, db, k_start, k_stop):
    """:func:`layer_gradients` from the transposed operands ``aT[j, n]`` and ``deltaT[k, n]``.

    Each dC/dW^l_kj is a dot product over the samples ``n``, contiguous in
    both operands.  Register blocking: two units by four inputs, eight running
    sums over ``n`` that stay in registers (six loads per eight multiply-adds),
    and each ``dW[k, j]`` is written once, where :func:`layer_gradients` loads
    and stores it once per four samples.  Used for big layers and batches
    (see :func:`fastbp.backends.cpu.tuning.worth_transposing`).
    """
    n_inputs = aT.shape[0]
    n_samples = aT.shape[1]
    pairs_stop = k_start + (k_stop - k_start) // 2 * 2
    quads_stop = n_inputs // 4 * 4
    # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
    for k in range(k_start, pairs_stop, 2):
        for j in range(0, quads_stop, 4):
            s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = W.dtype.type(0.0)
            for n in range(n_samples):
                s0 += deltaT[k, n] * aT[j, n]
                s1 += deltaT[k, n] * aT[j + 1, n]
                s2 += deltaT[k, n] * aT[j + 2, n]
                s3 += deltaT[k, n] * aT[j + 3, n]
                t0 += deltaT[k + 1, n] * aT[j, n]
                t1 += deltaT[k + 1, n] * aT[j + 1, n]
                t2 += deltaT[k + 1, n] * aT[j + 2, n]
                t3 += deltaT[k + 1, n] * aT[j + 3, n]
            dW[k, j], dW[k, j + 1] = s0 * inv_n + decay * W[k, j], s1 * inv_n + decay * W[k, j + 1]
            dW[k, j + 2], dW[k, j + 3] = s2 * inv_n + decay * W[k, j + 2], s3 * inv_n + decay * W[k, j + 3]
            dW[k + 1, j], dW[k + 1, j + 1] = t0 * inv_n + decay * W[k + 1, j], t1 * inv_n + decay * W[k + 1, j + 1]
            dW[k + 1, j + 2], dW[k + 1, j + 3] = (
                t2 * inv_n + decay * W[k + 1, j + 2],
                t3 * inv_n + decay * W[k + 1, j + 3],
            )
    for k in range(k_start, k_stop):
        first_j = quads_stop if k < pairs_stop else 0
        for j in range(first_j, n_inputs):
            dW[k, j] = sample_sum(deltaT, k, aT, j) * inv_n + decay * W[k, j]
    squares = 0.0
    for k in range(k_start, k_stop):
        row_squares = W.dtype.type(0.0)
        for j in range(n_inputs):
            row_squares += W[k, j] * W[k, j]
        squares += row_squares
        # dC/db^l_k = (1/N) sum_n delta^l_k(n)
        total = W.dtype.type(0.0)
        for n in range(n_samples):
            total += deltaT[k, n]
        db[k] = total * inv_n
    return squares


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
def copy(source, destination):
    """destination_i = source_i, element by element (no broadcasting machinery to compile)."""
    for i in range(source.shape[0]):
        destination[i] = source[i]
