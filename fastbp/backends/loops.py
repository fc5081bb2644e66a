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

from fastbp.backends.tuning import INPUTS_TILE, kernel
from fastbp.exp import exp
from fastbp.formulas import (
    SIGMOID,
    SOFTMAX,
    activation,
    activation_derivative,
    cost_derivative,
    cost_term,
    is_canonical_pair,
    sigmoid,
)


@kernel
def input_sum(W, b, a_prev, z, k_start, k_stop):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for k in [k_start, k_stop) and every sample n.

    Register blocking: four samples share each load of ``W[k, j]`` (four
    running sums: five loads per four multiply-adds instead of eight).
    """
    n_samples, n_inputs = a_prev.shape
    for n in range(0, n_samples - 3, 4):
        for k in range(k_start, k_stop):
            z0 = z1 = z2 = z3 = b[k]
            for j in range(n_inputs):
                z0 += W[k, j] * a_prev[n, j]
                z1 += W[k, j] * a_prev[n + 1, j]
                z2 += W[k, j] * a_prev[n + 2, j]
                z3 += W[k, j] * a_prev[n + 3, j]
            z[n, k] = z0
            z[n + 1, k] = z1
            z[n + 2, k] = z2
            z[n + 3, k] = z3
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
    block the loop of exponentials vectorises (see :mod:`fastbp.exp`), which
    saves more than a second pass over an L1-resident block costs.
    """
    if code == SOFTMAX:
        # a^L_k = exp(z^L_k - m) / sum_i exp(z^L_i - m), m = max_i z^L_i
        for n in range(z.shape[0]):
            m = z[n, 0]
            for k in range(1, z.shape[1]):
                m = max(m, z[n, k])
            total = z.dtype.type(0.0)
            for k in range(z.shape[1]):
                z[n, k] = exp(z[n, k] - m)
                total += z[n, k]
            for k in range(z.shape[1]):
                z[n, k] /= total
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
    Register blocking: four receiving units at a time, so each
    ``delta^l_j`` is loaded and stored once per four rows of ``W^{l+1}``.
    Cache blocking: the sum runs over tiles of ``INPUTS_TILE`` columns ``j``,
    so a tile of ``W^{l+1}`` stays in cache for all the samples.  The factor
    sigma_l' is applied in the same pass.
    """
    n_units, n_inputs = W_next.shape
    for j_start in range(0, n_inputs, INPUTS_TILE):
        j_stop = min(j_start + INPUTS_TILE, n_inputs)
        for n in range(n_start, n_stop):
            for j in range(j_start, j_stop):
                delta[n, j] = 0.0
            for k in range(0, n_units - 3, 4):
                d0 = delta_next[n, k]
                d1 = delta_next[n, k + 1]
                d2 = delta_next[n, k + 2]
                d3 = delta_next[n, k + 3]
                for j in range(j_start, j_stop):
                    delta[n, j] += W_next[k, j] * d0 + W_next[k + 1, j] * d1 + W_next[k + 2, j] * d2 + W_next[k + 3, j] * d3
            for k in range(n_units - n_units % 4, n_units):
                d_k = delta_next[n, k]
                for j in range(j_start, j_stop):
                    delta[n, j] += W_next[k, j] * d_k
            for j in range(j_start, j_stop):
                delta[n, j] *= activation_derivative(code, a[n, j])


@kernel
def layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop):
    """dC/dW^l_kj and dC/db^l_k for k in [k_start, k_stop); returns their sum_j (W^l_kj)^2.

    Register blocking: four samples per pass over a row of ``dW``, so each
    ``dW[k, j]`` is loaded and stored once per four samples.  Cache blocking:
    tiles of ``INPUTS_TILE`` columns, so the batch's tile of ``a^{l-1}`` stays
    in the L1 cache while every row ``k`` uses it.  The weight decay reads
    ``W^l_kj`` once, and the sum of squares for the L2 term of the cost comes
    with it.
    """
    n_samples, n_inputs = a_prev.shape
    squares = 0.0
    for j_start in range(0, n_inputs, INPUTS_TILE):
        j_stop = min(j_start + INPUTS_TILE, n_inputs)
        for k in range(k_start, k_stop):
            # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
            for j in range(j_start, j_stop):
                dW[k, j] = 0.0
            for n in range(0, n_samples - 3, 4):
                d0 = delta[n, k]
                d1 = delta[n + 1, k]
                d2 = delta[n + 2, k]
                d3 = delta[n + 3, k]
                for j in range(j_start, j_stop):
                    dW[k, j] += d0 * a_prev[n, j] + d1 * a_prev[n + 1, j] + d2 * a_prev[n + 2, j] + d3 * a_prev[n + 3, j]
            for n in range(n_samples - n_samples % 4, n_samples):
                d_n = delta[n, k]
                for j in range(j_start, j_stop):
                    dW[k, j] += d_n * a_prev[n, j]
            row_squares = W.dtype.type(0.0)
            for j in range(j_start, j_stop):
                dW[k, j] = dW[k, j] * inv_n + decay * W[k, j]
                row_squares += W[k, j] * W[k, j]
            squares += row_squares
    for k in range(k_start, k_stop):
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
