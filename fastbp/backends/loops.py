"""The index loops of NOTATION.md, each over a range of units or samples.

Each function computes one formula, quoted in the comment above the loop
that computes it.  Indices are named as in NOTATION.md: ``l`` the layer,
``k`` a receiving unit of layer ``l``, ``j`` an emitting unit of layer
``l - 1`` and ``n`` a sample of the batch.  Arrays are the views that
:mod:`fastbp.layout` cuts out of the flat buffers: ``W`` is ``W[l]`` of shape
``(n_l, n_{l-1})``, ``a_prev`` is ``a^{l-1}`` of shape ``(N, n_{l-1})``,
``delta`` is ``delta^l`` of shape ``(N, n_l)`` (row = sample).

The heavy loops take a range of receiving units ``k`` or of samples ``n``:
the serial backend runs the ranges one after the other, the parallel backend
hands them to threads.  Each output element is computed by one range, in the
same order either way, so both give bitwise the same results.

The loops keep the contiguous index innermost (``j`` in ``W[k, j]`` and in
``a^{l-1}[n, j]``), so that LLVM vectorises them.
"""

from fastbp.backends.tuning import kernel
from fastbp.formulas import (
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
def dot(w, x):
    """sum_j w_j x_j over two rows."""
    total = w.dtype.type(0.0)
    for j in range(w.shape[0]):
        total += w[j] * x[j]
    return total


@kernel
def input_sum(W, b, a_prev, z, k_start, k_stop):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for k in [k_start, k_stop) and every sample n.

    Register blocking: four samples by two units at a time, eight running
    sums that stay in registers; each ``W[k, j]`` loaded serves four samples
    and each ``a^{l-1}_j`` two units (six loads per eight multiply-adds,
    against two per one in the plain loop).  Loops index rows cut out as 1-d
    views from 0, which lets LLVM drop its negative-index checks and vectorise.
    """
    n_samples = a_prev.shape[0]
    n_pairs_stop = k_start + (k_stop - k_start) // 2 * 2
    for n in range(0, n_samples - 3, 4):
        x0, x1, x2, x3 = a_prev[n], a_prev[n + 1], a_prev[n + 2], a_prev[n + 3]
        for k in range(k_start, n_pairs_stop, 2):
            u, v = W[k], W[k + 1]
            z0u = z1u = z2u = z3u = b[k]
            z0v = z1v = z2v = z3v = b[k + 1]
            for j in range(u.shape[0]):
                z0u += u[j] * x0[j]
                z1u += u[j] * x1[j]
                z2u += u[j] * x2[j]
                z3u += u[j] * x3[j]
                z0v += v[j] * x0[j]
                z1v += v[j] * x1[j]
                z2v += v[j] * x2[j]
                z3v += v[j] * x3[j]
            z[n, k], z[n + 1, k], z[n + 2, k], z[n + 3, k] = z0u, z1u, z2u, z3u
            z[n, k + 1], z[n + 1, k + 1], z[n + 2, k + 1], z[n + 3, k + 1] = z0v, z1v, z2v, z3v
        for k in range(n_pairs_stop, k_stop):
            for i in range(4):
                z[n + i, k] = b[k] + dot(W[k], a_prev[n + i])
    for n in range(n_samples - n_samples % 4, n_samples):
        for k in range(k_start, k_stop):
            z[n, k] = b[k] + dot(W[k], a_prev[n])


@kernel
def activate(code, z):
    """a^l_k = sigma_l(z^l_k), in place: on return ``z`` holds ``a``.

    A pass of its own rather than fused into :func:`input_sum`: over a whole
    block the loop of exponentials vectorises (see :mod:`fastbp.exp`), which
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
                delta[n, k] = s[n] * cost_derivative(cost, a[n, k], y[n, k]) * activation_derivative(output_code, a[n, k])


@kernel
def backpropagate(W_next, delta_next, code, a, delta, n_start, n_stop):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, for n in [n_start, n_stop).

    ``k`` outside and ``j`` inside, so that rows of ``W^{l+1}`` are read
    contiguously (the strided order, ``j`` outside, was 2.7x to 5x slower).
    Register blocking: two samples by four units at a time, so each
    ``W^{l+1}_kj`` loaded serves two samples and each ``delta^l_j`` is
    loaded and stored once per four rows (six loads and two stores per eight
    multiply-adds).  The factor sigma_l' is applied in the same pass.
    """
    n_units = W_next.shape[0]
    n_quads_stop = n_units // 4 * 4
    n_pairs_stop = n_start + (n_stop - n_start) // 2 * 2
    for n in range(n_start, n_stop):
        row = delta[n]
        for j in range(row.shape[0]):
            row[j] = 0.0
    for n in range(n_start, n_pairs_stop, 2):
        p, q = delta[n], delta[n + 1]
        for k in range(0, n_quads_stop, 4):
            w0, w1, w2, w3 = W_next[k], W_next[k + 1], W_next[k + 2], W_next[k + 3]
            p0, p1, p2, p3 = delta_next[n, k], delta_next[n, k + 1], delta_next[n, k + 2], delta_next[n, k + 3]
            q0, q1, q2, q3 = delta_next[n + 1, k], delta_next[n + 1, k + 1], delta_next[n + 1, k + 2], delta_next[n + 1, k + 3]
            for j in range(p.shape[0]):
                p[j] += w0[j] * p0 + w1[j] * p1 + w2[j] * p2 + w3[j] * p3
                q[j] += w0[j] * q0 + w1[j] * q1 + w2[j] * q2 + w3[j] * q3
    for n in range(n_start, n_stop):
        row = delta[n]
        first_k = n_quads_stop if n < n_pairs_stop else 0
        for k in range(first_k, n_units):
            w, d_k = W_next[k], delta_next[n, k]
            for j in range(row.shape[0]):
                row[j] += w[j] * d_k
        for j in range(row.shape[0]):
            row[j] *= activation_derivative(code, a[n, j])


@kernel
def online_gradients(W, x, delta, inv_n, decay, dW, db, k_start, k_stop):
    """:func:`layer_gradients` for a batch of one sample (online learning), in one pass per row.

    dC/dW^l_kj = delta^l_k a^{l-1}_j / N + (lambda/N) W^l_kj, with N = the sample's weight.
    """
    squares = 0.0
    for k in range(k_start, k_stop):
        row, w = dW[k], W[k]
        d_k = delta[0, k] * inv_n
        row_squares = W.dtype.type(0.0)
        for j in range(row.shape[0]):
            row[j] = d_k * x[j] + decay * w[j]
            row_squares += w[j] * w[j]
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
    n_samples = a_prev.shape[0]
    if n_samples == 1:
        return online_gradients(W, a_prev[0], delta, inv_n, decay, dW, db, k_start, k_stop)
    n_quads_stop = n_samples // 4 * 4
    n_pairs_stop = k_start + (k_stop - k_start) // 2 * 2
    for k in range(k_start, k_stop):
        row = dW[k]
        for j in range(row.shape[0]):
            row[j] = 0.0
    # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
    for k in range(k_start, n_pairs_stop, 2):
        g, h = dW[k], dW[k + 1]
        for n in range(0, n_quads_stop, 4):
            x0, x1, x2, x3 = a_prev[n], a_prev[n + 1], a_prev[n + 2], a_prev[n + 3]
            g0, g1, g2, g3 = delta[n, k], delta[n + 1, k], delta[n + 2, k], delta[n + 3, k]
            h0, h1, h2, h3 = delta[n, k + 1], delta[n + 1, k + 1], delta[n + 2, k + 1], delta[n + 3, k + 1]
            for j in range(g.shape[0]):
                g[j] += g0 * x0[j] + g1 * x1[j] + g2 * x2[j] + g3 * x3[j]
                h[j] += h0 * x0[j] + h1 * x1[j] + h2 * x2[j] + h3 * x3[j]
    squares = 0.0
    for k in range(k_start, k_stop):
        row, w = dW[k], W[k]
        first_n = n_quads_stop if k < n_pairs_stop else 0
        for n in range(first_n, n_samples):
            x, d_n = a_prev[n], delta[n, k]
            for j in range(row.shape[0]):
                row[j] += d_n * x[j]
        row_squares = W.dtype.type(0.0)
        for j in range(row.shape[0]):
            row[j] = row[j] * inv_n + decay * w[j]
            row_squares += w[j] * w[j]
        squares += row_squares
        # dC/db^l_k = (1/N) sum_n delta^l_k(n)
        total = W.dtype.type(0.0)
        for n in range(n_samples):
            total += delta[n, k]
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
