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

For big layers (:func:`fastbp.backends.cpu.tuning.worth_tiling`) the three
heavy formulas run a tile at a time instead: :func:`input_sum_tiles`,
:func:`backpropagate_tiles` and :func:`weight_gradient_tiles` take both
operands packed into panels and keep each tile of sums in registers
(:mod:`fastbp.backends.cpu.tiles`); tiles, like ranges, are computed alike
whichever thread computes them.
"""

import math

import numpy as np

from fastbp.backends.cpu.by_address import caller
from fastbp.backends.cpu.lanes import positive_part
from fastbp.backends.cpu.tiles import block_in_panel_group, panels_per_group, tile_sum
from fastbp.backends.cpu.tuning import (
    GRADIENT_ROWS,
    UNITS_PER_BLOCK,
    few_inputs,
    inlined_kernel,
    kernel,
    ordered_kernel,
    units_tile,
)
from fastbp.numerics.exp import exp
from fastbp.numerics.formulas import (
    CATEGORICAL_CROSS_ENTROPY,
    EXP,
    RELU,
    SIGMOID,
    SOFTMAX,
    TANH,
    activation_derivative,
    cost_derivative,
    cost_term,
    divide_by_row_sum,
    is_canonical_pair,
    sigmoid,
    subtract_row_max,
)
from fastbp.numerics.layout import biases, borrowed, layer, weights
from fastbp.numerics.tanh import tanh


@kernel
def input_sum(W, b, a_prev, z, k_start, k_stop):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for k in [k_start, k_stop) and every sample n.

    The samples in blocks of four, then those left over one at a time.  The
    blocks run with the inputs ``j`` innermost (:func:`input_sum_by_units`),
    or, for a layer of few inputs, with the units ``k`` innermost
    (:func:`input_sum_by_inputs`): the choice is made from the whole layer's
    shape (:func:`fastbp.backends.cpu.tuning.few_inputs`), so that every
    share of units or samples the threads take goes the same way.  The
    blocks start at ``k_start``, which callers keep a multiple of four.
    """
    n_samples, n_inputs = a_prev.shape
    # A batch of fewer than four samples (online learning) has no block, and makes no call for it.
    if n_samples >= 4 and few_inputs(n_inputs, W.shape[0]):
        input_sum_by_inputs(W, b, a_prev, z, k_start, k_stop)
    else:
        input_sum_by_units(W, b, a_prev, z, k_start, k_stop)
    # The samples left over from the blocks of four, one at a time.
    for n in range(n_samples - n_samples % 4, n_samples):
        for k in range(k_start, k_stop):
            z[n, k] = one_input_sum(W, b, a_prev, n, k)


@inlined_kernel
def one_input_sum(W, b, a_prev, n, k):
    """z^l_k of sample ``n`` alone: b^l_k + sum_j W^l_kj a^{l-1}_j, the samples and units left over from the blocks."""
    total = b[k]
    for j in range(W.shape[1]):
        total += W[k, j] * a_prev[n, j]
    return total


@inlined_kernel
def input_sum_by_units(W, b, a_prev, z, k_start, k_stop):
    """:func:`input_sum` of the blocks of four samples, the inputs ``j`` innermost.

    Register blocking: four samples by ``UNITS_PER_BLOCK`` units at a time,
    running sums that stay in registers; each ``W[k, j]`` loaded serves four
    samples and each ``a^{l-1}_j`` all the units of the block (with four
    units, eight loads per sixteen multiply-adds; with two, six per eight).
    Four units need the 32 vector registers of AVX-512; with AVX2's 16 their
    sums spill (see :data:`fastbp.backends.cpu.tuning.UNITS_PER_BLOCK`).  The
    ``j`` loops start at 0, so that LLVM can drop Numba's negative-index checks
    and vectorise them; and they index the 2-d arrays rather than row views,
    whose reference counts (atomic operations) cost more than a small layer's
    arithmetic.
    """
    n_samples, n_inputs = a_prev.shape
    blocks_stop = k_start + (k_stop - k_start) // UNITS_PER_BLOCK * UNITS_PER_BLOCK
    for n in range(0, n_samples - 3, 4):
        if UNITS_PER_BLOCK == 4:
            for k in range(k_start, blocks_stop, 4):
                # z_mu: sample n + m, unit k + u
                z00 = z10 = z20 = z30 = b[k]
                z01 = z11 = z21 = z31 = b[k + 1]
                z02 = z12 = z22 = z32 = b[k + 2]
                z03 = z13 = z23 = z33 = b[k + 3]
                for j in range(n_inputs):
                    a0, a1, a2, a3 = a_prev[n, j], a_prev[n + 1, j], a_prev[n + 2, j], a_prev[n + 3, j]
                    w0, w1, w2, w3 = W[k, j], W[k + 1, j], W[k + 2, j], W[k + 3, j]
                    z00 += w0 * a0
                    z10 += w0 * a1
                    z20 += w0 * a2
                    z30 += w0 * a3
                    z01 += w1 * a0
                    z11 += w1 * a1
                    z21 += w1 * a2
                    z31 += w1 * a3
                    z02 += w2 * a0
                    z12 += w2 * a1
                    z22 += w2 * a2
                    z32 += w2 * a3
                    z03 += w3 * a0
                    z13 += w3 * a1
                    z23 += w3 * a2
                    z33 += w3 * a3
                z[n, k], z[n, k + 1], z[n, k + 2], z[n, k + 3] = z00, z01, z02, z03
                z[n + 1, k], z[n + 1, k + 1], z[n + 1, k + 2], z[n + 1, k + 3] = z10, z11, z12, z13
                z[n + 2, k], z[n + 2, k + 1], z[n + 2, k + 2], z[n + 2, k + 3] = z20, z21, z22, z23
                z[n + 3, k], z[n + 3, k + 1], z[n + 3, k + 2], z[n + 3, k + 3] = z30, z31, z32, z33
        else:
            for k in range(k_start, blocks_stop, 2):
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
        for k in range(blocks_stop, k_stop):
            for m in range(n, n + 4):
                z[m, k] = one_input_sum(W, b, a_prev, m, k)


@kernel
def input_sum_by_inputs(W, b, a_prev, z, k_start, k_stop):
    """:func:`input_sum` of the blocks of four samples for a layer of few inputs: the units ``k`` innermost.

    z^l_k = b^l_k + sum_j a^{l-1}_j W^l_kj, the terms added in the order of
    ``j``.  With the inputs innermost, a loop of four or thirteen ``j`` runs
    one value at a time (see :func:`input_gradient_sums`); here the rows of
    ``z^l`` fill the vectors, from a copy of ``W^l`` turned (``Wt[j, u]`` =
    ``W^l_kj``, ``u = k - k_start``, a pass over a small matrix).  Four
    samples by four inputs at a time: each row of ``Wt`` loaded serves four
    samples, and each ``z^l_k`` is loaded and stored once per four inputs.
    The rows are borrowed views indexed from 0 (see :func:`bias_sums`).  The
    figures: benchmarks/README.md, "Layers of few inputs, units innermost".
    """
    W, b, a_prev, z = borrowed(W, b, a_prev, z)
    n_samples, n_inputs = a_prev.shape
    quads_stop = n_samples // 4 * 4
    Wt = np.empty((n_inputs, k_stop - k_start), dtype=W.dtype)
    for u in range(Wt.shape[1]):
        W_row = W[k_start + u]
        for j in range(n_inputs):
            Wt[j, u] = W_row[j]
    biases = b[k_start:k_stop]
    blocks_stop = n_inputs // 4 * 4
    for n in range(0, quads_stop, 4):
        z0, z1 = z[n, k_start:k_stop], z[n + 1, k_start:k_stop]
        z2, z3 = z[n + 2, k_start:k_stop], z[n + 3, k_start:k_stop]
        for u in range(Wt.shape[1]):
            z0[u] = z1[u] = z2[u] = z3[u] = biases[u]
        for j in range(0, blocks_stop, 4):
            a0 = a_prev[n, j], a_prev[n, j + 1], a_prev[n, j + 2], a_prev[n, j + 3]
            a1 = a_prev[n + 1, j], a_prev[n + 1, j + 1], a_prev[n + 1, j + 2], a_prev[n + 1, j + 3]
            a2 = a_prev[n + 2, j], a_prev[n + 2, j + 1], a_prev[n + 2, j + 2], a_prev[n + 2, j + 3]
            a3 = a_prev[n + 3, j], a_prev[n + 3, j + 1], a_prev[n + 3, j + 2], a_prev[n + 3, j + 3]
            Wt0, Wt1, Wt2, Wt3 = Wt[j], Wt[j + 1], Wt[j + 2], Wt[j + 3]
            for u in range(Wt.shape[1]):
                # loaded before the stores to z, which LLVM cannot tell apart from Wt
                w0, w1, w2, w3 = Wt0[u], Wt1[u], Wt2[u], Wt3[u]
                z0[u] += a0[0] * w0 + a0[1] * w1 + a0[2] * w2 + a0[3] * w3
                z1[u] += a1[0] * w0 + a1[1] * w1 + a1[2] * w2 + a1[3] * w3
                z2[u] += a2[0] * w0 + a2[1] * w1 + a2[2] * w2 + a2[3] * w3
                z3[u] += a3[0] * w0 + a3[1] * w1 + a3[2] * w2 + a3[3] * w3
        # The inputs left over from the blocks, one at a time.
        for j in range(blocks_stop, n_inputs):
            a_j, Wt_j = (a_prev[n, j], a_prev[n + 1, j], a_prev[n + 2, j], a_prev[n + 3, j]), Wt[j]
            for u in range(Wt.shape[1]):
                w = Wt_j[u]
                z0[u] += a_j[0] * w
                z1[u] += a_j[1] * w
                z2[u] += a_j[2] * w
                z3[u] += a_j[3] * w


# The threads' kernels call the heavy loops through their addresses: each compiles once, in its own
# library, rather than once more in each of the libraries Numba makes for a prange loop
# (fastbp.backends.cpu.by_address).  On one thread the loops are linked into the kernel, where LLVM
# takes them into the training loop: called by address there, the epochs of the smallest networks
# (xor, online learning) ran about 1.4 times longer (benchmarks/README.md, "The threads' loops by address").
input_sum_by_address = caller(input_sum)


@inlined_kernel
def input_sums_by_tiles(W, b, a_prev, z):
    """:func:`input_sum` for every unit k, one tile of units after another (the serial order).

    The tiles are :func:`fastbp.backends.cpu.tuning.units_tile` rows of ``W``;
    the threads keep this order when they share a batch's samples
    (:func:`threads_input_sums`).
    """
    tile = units_tile(W.shape[1])
    for k_start in range(0, W.shape[0], tile):
        input_sum(W, b, a_prev, z, k_start, min(k_start + tile, W.shape[0]))


@inlined_kernel
def threads_input_sums(W, b, a_prev, z):
    """:func:`input_sums_by_tiles` for a thread's share of samples: each tile's loop called by address."""
    tile = units_tile(W.shape[1])
    for k_start in range(0, W.shape[0], tile):
        input_sum_by_address(W, b, a_prev, z, k_start, min(k_start + tile, W.shape[0]))


@kernel
def activate(code, z):
    """a^l_k = sigma_l(z^l_k), in place: on return ``z`` holds ``a``.

    A pass of its own rather than fused into :func:`input_sum`: over a whole
    block the loop of exponentials vectorises (see :mod:`fastbp.numerics.exp`), which
    saves more than a second pass over an L1-resident block costs.  A loop
    of its own for each common activation: in one loop over a run-time code
    the branches of them all kept LLVM from vectorising any, once the
    vectorisable tanh was among them (benchmarks/README.md, "tanh").  (Not
    through :func:`fastbp.numerics.formulas.activation` either: the formulas
    it calls would compile a second time, under its compile options.)
    """
    if code == SOFTMAX:
        # a^L_k = exp(z^L_k - m) / sum_i exp(z^L_i - m), m = max_i z^L_i: the steps of
        # formulas.softmax_row, but the exponentials of the whole block in one loop, which
        # vectorises where a row's 3 or 10 outputs do not fill a vector (benchmarks/README.md,
        # "Small networks").
        for n in range(z.shape[0]):
            subtract_row_max(z, n)
        shifted = z.reshape(z.size)
        for i in range(shifted.shape[0]):
            shifted[i] = exp(shifted[i])
        for n in range(z.shape[0]):
            divide_by_row_sum(z, n)
    elif code == SIGMOID:
        # One loop over the whole contiguous block, as for softmax's exponentials: row by row, each
        # row's leftover values (a row of 10 units is a vector and two) ran one at a time, and
        # the block's sigmoids and tanhs took 1.1x to 3x longer (benchmarks/README.md, "relu in place").
        values = z.reshape(z.size)
        for i in range(values.shape[0]):
            values[i] = sigmoid(values[i])
    elif code == TANH:
        values = z.reshape(z.size)
        for i in range(values.shape[0]):
            values[i] = tanh(values[i])
    elif code == RELU:
        # relu(z) = max(z, 0), as LLVM's maxnum (see fastbp.backends.cpu.lanes): whole vectors stored
        for n in range(z.shape[0]):
            for k in range(z.shape[1]):
                z[n, k] = positive_part(z[n, k])
    elif code == EXP:
        for n in range(z.shape[0]):
            for k in range(z.shape[1]):
                z[n, k] = math.exp(z[n, k])


activate_by_address = caller(activate)


@ordered_kernel
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


output_delta_by_address = caller(output_delta)


@ordered_kernel
def backpropagate(W_next, delta_next, code, a, delta):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, for every sample n of ``a``.

    ``k`` outside and ``j`` inside, so that rows of ``W^{l+1}`` are read
    contiguously (the strided order, ``j`` outside, was several times slower).
    Register blocking: four samples by four units at a time, so each
    ``W^{l+1}_kj`` loaded serves four samples and each ``delta^l_j`` is
    loaded and stored once per four rows (eight loads and four stores per
    sixteen multiply-adds; two samples by four units ran slower with AVX-512
    and AVX2 alike).  Through a layer of one to three units each row gets
    its whole sum in one pass, which ran faster than the passes for the
    units left over from blocks (benchmarks/README.md, "Deltas through small
    layers").  The factor sigma_l' is applied in a last pass over each row,
    while it sits in the L1 cache.
    """
    n_samples = a.shape[0]
    n_units, n_inputs = W_next.shape
    quads_stop = n_units // 4 * 4
    blocks_stop = n_samples // 4 * 4
    # One to three units (an output layer, mostly) have a pass of their own below; the others' sums
    # start at zero.
    few_units = n_units < 4
    if not few_units:
        for n in range(n_samples):
            for j in range(n_inputs):
                delta[n, j] = 0.0
    for n in range(0, blocks_stop, 4):
        for k in range(0, quads_stop, 4):
            d0 = delta_next[n, k], delta_next[n, k + 1], delta_next[n, k + 2], delta_next[n, k + 3]
            d1 = delta_next[n + 1, k], delta_next[n + 1, k + 1], delta_next[n + 1, k + 2], delta_next[n + 1, k + 3]
            d2 = delta_next[n + 2, k], delta_next[n + 2, k + 1], delta_next[n + 2, k + 2], delta_next[n + 2, k + 3]
            d3 = delta_next[n + 3, k], delta_next[n + 3, k + 1], delta_next[n + 3, k + 2], delta_next[n + 3, k + 3]
            for j in range(n_inputs):
                w0, w1, w2, w3 = W_next[k, j], W_next[k + 1, j], W_next[k + 2, j], W_next[k + 3, j]
                # added to the running sum one product at a time: four fused multiply-adds
                delta[n, j] = delta[n, j] + w0 * d0[0] + w1 * d0[1] + w2 * d0[2] + w3 * d0[3]
                delta[n + 1, j] = delta[n + 1, j] + w0 * d1[0] + w1 * d1[1] + w2 * d1[2] + w3 * d1[3]
                delta[n + 2, j] = delta[n + 2, j] + w0 * d2[0] + w1 * d2[1] + w2 * d2[2] + w3 * d2[3]
                delta[n + 3, j] = delta[n + 3, j] + w0 * d3[0] + w1 * d3[1] + w2 * d3[2] + w3 * d3[3]
    # Then each row's remaining units, and sigma_l' while the row is in the L1 cache.
    k1, k2 = min(1, n_units - 1), min(2, n_units - 1)
    zero = delta.dtype.type(0.0)
    for n in range(n_samples):
        if few_units:
            # All one to three terms in one pass: the passes below (pairs, then one) cost more than so
            # few terms' arithmetic.  A missing second or third unit weighs zero (its row is read
            # again, times 0).
            d0 = delta_next[n, 0]
            d1 = delta_next[n, k1] if n_units > 1 else zero
            d2 = delta_next[n, k2] if n_units > 2 else zero
            for j in range(n_inputs):
                delta[n, j] = W_next[0, j] * d0 + W_next[k1, j] * d1 + W_next[k2, j] * d2
        else:
            # The units left over from the blocks two at a time, and the samples left over from them
            # with every unit.
            first_k = quads_stop if n < blocks_stop else 0
            for k in range(first_k, n_units - 1, 2):
                d0, d1 = delta_next[n, k], delta_next[n, k + 1]
                for j in range(n_inputs):
                    delta[n, j] = delta[n, j] + W_next[k, j] * d0 + W_next[k + 1, j] * d1
            if (n_units - first_k) % 2 == 1:
                d_k = delta_next[n, n_units - 1]
                for j in range(n_inputs):
                    delta[n, j] += W_next[n_units - 1, j] * d_k
        multiply_by_derivative(code, a, delta, n)


backpropagate_by_address = caller(backpropagate)


@inlined_kernel
def multiply_by_derivative(code, a, delta, n):
    """delta^l_j *= sigma_l'(z^l_j) along row ``n``, with sigma_l' written in terms of a^l_j.

    A loop of its own for each activation, as in :func:`activate`: in one
    loop, the run-time code chose the formula element by element (a jump
    table per element, no vectors), which took about a tenth of an
    iris-sized epoch (benchmarks/README.md, "One call per layer").  The
    identity's factor is 1: nothing to do.
    """
    if code == RELU:
        multiply_row_by_derivative(RELU, a, delta, n)
    elif code == SIGMOID:
        multiply_row_by_derivative(SIGMOID, a, delta, n)
    elif code == TANH:
        multiply_row_by_derivative(TANH, a, delta, n)
    elif code == EXP:
        multiply_row_by_derivative(EXP, a, delta, n)


@inlined_kernel
def multiply_row_by_derivative(code, a, delta, n):
    """delta^l_j *= sigma_l'(z^l_j) along row ``n``, for a ``code`` that is a constant where it is inlined."""
    for j in range(delta.shape[1]):
        delta[n, j] *= activation_derivative(code, a[n, j])


@kernel
def rows_up_and_down(theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, start, stop, up, down):
    """Samples ``start .. stop - 1`` of a batch forward through layers ``up``, then their deltas through ``down``.

    ``up = (first, last)`` and ``down = (top, bottom)``.  For l = first ..
    last: z^l = W^l a^{l-1} + b^l, then a^l = sigma_l(z^l).  Then for l =
    top .. bottom, downwards: delta^L from the cost where l = L
    (:func:`output_delta`), else delta^l = sigma_l'(z^l) (W^{l+1})^T
    delta^{l+1} (:func:`backpropagate`).  An empty range (first > last, top <
    bottom) skips its half.  ``A`` holds the batch's activations from layer
    ``first_layer`` on (0, or 1 for CSR inputs, whose ``a^0`` is not dense:
    their forward range starts at 2).  ``y`` and ``s`` (the batch's targets
    and weights) and ``cost`` are read for delta^L only.

    Every formula here reads and writes its own samples' rows only, so the
    threads can each take a share of rows through them
    (:func:`fastbp.backends.cpu.parallel.rows_up_and_down`); the loops are
    those the layer-by-layer steps run, which block samples from the start
    of their range, called by address (as the threads call this function).
    """
    L = sizes.shape[0] - 1
    for l in range(up[0], up[1] + 1):
        # z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, then a^l_k = sigma_l(z^l_k)
        a_prev = layer(A, sizes, l - 1, n_samples, first_layer)[start:stop]
        a = layer(A, sizes, l, n_samples, first_layer)[start:stop]
        threads_input_sums(weights(theta, sizes, l), biases(theta, sizes, l), a_prev, a)
        activate_by_address(codes[l], a)
    for l in range(down[0], down[1] - 1, -1):
        a, delta = layer(A, sizes, l, n_samples, first_layer)[start:stop], layer(D, sizes, l, n_samples, 1)[start:stop]
        if l == L:
            output_delta_by_address(cost, codes[L], a, y[start:stop], s[start:stop], delta)
        else:
            # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k
            delta_next = layer(D, sizes, l + 1, n_samples, 1)[start:stop]
            backpropagate_by_address(weights(theta, sizes, l + 1), delta_next, codes[l], a, delta)


rows_up_and_down_by_address = caller(rows_up_and_down)


@inlined_kernel
def online_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop):
    """:func:`layer_gradients` for a batch of one sample (online learning), in one pass per row.

    dC/dW^l_kj = delta^l_k a^{l-1}_j / N + (lambda/N) W^l_kj, with N = the sample's weight.
    One loop over the rows, not a loop of chunks: the rows' sums of squares
    are still added chunk by chunk (``GRADIENT_ROWS`` rows from ``k_start``),
    in the same order, so that the result is bitwise that of the threads'
    chunks; the loop of chunks took 1.2 to 1.6 times as long over layers of
    a few inputs (benchmarks/README.md, "One sample's gradients").
    """
    total = 0.0
    chunk_squares = 0.0
    for k in range(k_start, k_stop):
        d_k = delta[0, k] * inv_n
        row_squares = W.dtype.type(0.0)
        for j in range(W.shape[1]):
            dW[k, j] = d_k * a_prev[0, j] + decay * W[k, j]
            row_squares += W[k, j] * W[k, j]
        chunk_squares += row_squares
        # dC/db^l_k = delta^l_k / N
        db[k] = d_k
        if (k - k_start) % GRADIENT_ROWS == GRADIENT_ROWS - 1 or k == k_stop - 1:
            total += chunk_squares
            chunk_squares = 0.0
    return total


@kernel
def layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop):
    """dC/dW^l_kj and dC/db^l_k for k in [k_start, k_stop), chunk by chunk; returns their sum_j (W^l_kj)^2.

    The chunks are ``GRADIENT_ROWS`` rows from ``k_start`` (a multiple of
    four), each computed by :func:`chunk_gradients`, the biases' gradients
    of the whole range by :func:`bias_sums`; the chunks' sums of squares are
    added in order, one after the other, as :func:`chunks_total` adds those
    of the threads' chunks.  A batch of one sample goes to
    :func:`online_gradients`, and a layer of few inputs to
    :func:`gradients_by_inputs`, which add them alike.  One call computes a whole layer on one thread, so that
    a network of small layers pays one call per layer rather than one per
    chunk: each call passes about fifty words of array fields and numbers
    on the stack (benchmarks/README.md, "One call per layer").
    """
    if a_prev.shape[0] == 1:
        return online_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)
    bias_sums(delta, inv_n, db, k_start, k_stop)
    if few_inputs(W.shape[1], k_stop - k_start):
        return gradients_by_inputs(W, a_prev, delta, inv_n, decay, dW, k_start, k_stop)
    total = 0.0
    for chunk_start in range(k_start, k_stop, GRADIENT_ROWS):
        chunk_stop = min(chunk_start + GRADIENT_ROWS, k_stop)
        total += chunk_gradients(W, a_prev, delta, inv_n, decay, dW, chunk_start, chunk_stop)
    return total


layer_gradients_by_address = caller(layer_gradients)


@inlined_kernel
def chunk_gradients(W, a_prev, delta, inv_n, decay, dW, k_start, k_stop):
    """dC/dW^l_kj for k in [k_start, k_stop); returns their sum_j (W^l_kj)^2.

    Register blocking: four units by four samples at a time, so each
    ``a^{l-1}_j`` loaded serves four rows of ``dW`` and each ``dW[k, j]`` is
    loaded and stored once per four samples (eight loads and four stores per
    sixteen multiply-adds; two units by four samples, twelve and four per
    eight, ran slower with AVX-512 and AVX2 alike).  The blocks
    start at ``k_start``, which the threads' chunks keep a multiple of four.
    The weight decay reads ``W^l_kj`` once, and the sum of squares for the L2
    term of the cost comes with it.
    """
    n_samples, n_inputs = a_prev.shape
    quads_stop = n_samples // 4 * 4
    blocks_stop = k_start + (k_stop - k_start) // 4 * 4
    for k in range(k_start, k_stop):
        for j in range(n_inputs):
            dW[k, j] = 0.0
    # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
    for k in range(k_start, blocks_stop, 4):
        for n in range(0, quads_stop, 4):
            d0 = delta[n, k], delta[n + 1, k], delta[n + 2, k], delta[n + 3, k]
            d1 = delta[n, k + 1], delta[n + 1, k + 1], delta[n + 2, k + 1], delta[n + 3, k + 1]
            d2 = delta[n, k + 2], delta[n + 1, k + 2], delta[n + 2, k + 2], delta[n + 3, k + 2]
            d3 = delta[n, k + 3], delta[n + 1, k + 3], delta[n + 2, k + 3], delta[n + 3, k + 3]
            for j in range(n_inputs):
                a0, a1, a2, a3 = a_prev[n, j], a_prev[n + 1, j], a_prev[n + 2, j], a_prev[n + 3, j]
                dW[k, j] += d0[0] * a0 + d0[1] * a1 + d0[2] * a2 + d0[3] * a3
                dW[k + 1, j] += d1[0] * a0 + d1[1] * a1 + d1[2] * a2 + d1[3] * a3
                dW[k + 2, j] += d2[0] * a0 + d2[1] * a1 + d2[2] * a2 + d2[3] * a3
                dW[k + 3, j] += d3[0] * a0 + d3[1] * a1 + d3[2] * a2 + d3[3] * a3
    # The units left over from the blocks (an output layer of 1 to 3 units is nothing else), four samples at a time.
    for k in range(blocks_stop, k_stop):
        for n in range(0, quads_stop, 4):
            d0, d1, d2, d3 = delta[n, k], delta[n + 1, k], delta[n + 2, k], delta[n + 3, k]
            for j in range(n_inputs):
                dW[k, j] += d0 * a_prev[n, j] + d1 * a_prev[n + 1, j] + d2 * a_prev[n + 2, j] + d3 * a_prev[n + 3, j]
    squares = 0.0
    for k in range(k_start, k_stop):
        for n in range(quads_stop, n_samples):
            d_n = delta[n, k]
            for j in range(n_inputs):
                dW[k, j] += d_n * a_prev[n, j]
        squares += finish_weight_row(W, inv_n, decay, dW, k)
    return squares


@inlined_kernel
def finish_weight_row(W, inv_n, decay, dW, k):
    """Row ``k`` of dC/dW^l from the sums over the samples in ``dW[k]``; returns sum_j (W^l_kj)^2.

    The weight decay reads ``W^l_kj`` once, and the sum of squares for the L2
    term of the cost comes with it.
    """
    # dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj
    row_squares = W.dtype.type(0.0)
    for j in range(W.shape[1]):
        dW[k, j] = dW[k, j] * inv_n + decay * W[k, j]
        row_squares += W[k, j] * W[k, j]
    return row_squares


@inlined_kernel
def bias_sums(delta, inv_n, db, k_start, k_stop):
    """dC/db^l_k = (1/N) sum_n delta^l_k(n), for k in [k_start, k_stop).

    Row by row of ``delta^l``, ``k`` innermost: each sum runs in the order of
    the samples, and the units' sums side by side fill vectors.  Summed
    unit by unit, down a column of ``delta^l``, each was one chain of
    dependent additions (an addition's latency per sample and unit), which
    took about a seventh of an iris-sized epoch (benchmarks/README.md, "One
    call per layer").  The rows are borrowed views from ``k_start`` on, indexed
    from 0: indexed from ``k_start``, Numba's check for a negative index kept
    the loop from vectorising.
    """
    delta, db = borrowed(delta, db)
    sums = db[k_start:k_stop]
    for u in range(sums.shape[0]):
        sums[u] = 0.0
    for n in range(delta.shape[0]):
        delta_row = delta[n, k_start:k_stop]
        for u in range(sums.shape[0]):
            sums[u] += delta_row[u]
    for u in range(sums.shape[0]):
        sums[u] *= inv_n


@inlined_kernel
def gradients_by_inputs(W, a_prev, delta, inv_n, decay, dW, k_start, k_stop):
    """:func:`chunk_gradients` of every chunk in [k_start, k_stop), for a layer of few inputs; returns the squares.

    The sums over the samples come from :func:`input_gradient_sums`, turned
    (``S[j, k - k_start]``), then each row is finished by
    :func:`finish_weight_row` and the rows' sums of squares added chunk by
    chunk, as :func:`layer_gradients` adds those of :func:`chunk_gradients`.
    Each sum adds the same products in the same order as
    :func:`chunk_gradients` (four samples' at a time), so that either gives
    bitwise the same ``dW`` (``tests/test_kernels.py``): the threads' chunks
    of four rows keep to :func:`chunk_gradients`.
    """
    S = np.empty((W.shape[1], k_stop - k_start), dtype=dW.dtype)
    input_gradient_sums(a_prev, delta, k_start, S)
    dW, S = borrowed(dW, S)
    for u in range(S.shape[1]):
        dW_row = dW[k_start + u]
        for j in range(S.shape[0]):
            dW_row[j] = S[j, u]
    total = 0.0
    for chunk_start in range(k_start, k_stop, GRADIENT_ROWS):
        squares = 0.0
        for k in range(chunk_start, min(chunk_start + GRADIENT_ROWS, k_stop)):
            squares += finish_weight_row(W, inv_n, decay, dW, k)
        total += squares
    return total


@inlined_kernel
def input_gradient_sums(a_prev, delta, k_start, S):
    """S[j, k - k_start] = sum_n a^{l-1}_j(n) delta^l_k(n): the gradients' sums with ``k`` innermost.

    :func:`chunk_gradients` keeps ``j`` innermost, and its loops run scalar
    where a layer has fewer inputs than LLVM's vector loop takes at a time
    (four vectors of ``j``): iris' four inputs, wine's thirteen.  Here four
    inputs by four samples at a time, and the units ``k`` along a row of
    ``delta^l`` fill the vectors; each sum adds four samples' products at a
    time, in the order of :func:`chunk_gradients`.  Rows of ``delta^l`` and
    ``S`` are borrowed views indexed from 0 (see :func:`bias_sums`).  The
    figures: benchmarks/README.md, "Layers of few inputs, units innermost".
    """
    a_prev, delta, S = borrowed(a_prev, delta, S)
    n_samples, n_inputs = a_prev.shape
    k_stop = k_start + S.shape[1]
    quads_stop = n_samples // 4 * 4
    blocks_stop = n_inputs // 4 * 4
    for j in range(n_inputs):
        for u in range(S.shape[1]):
            S[j, u] = 0.0
    for j in range(0, blocks_stop, 4):
        S0, S1, S2, S3 = S[j], S[j + 1], S[j + 2], S[j + 3]
        for n in range(0, quads_stop, 4):
            a0 = a_prev[n, j], a_prev[n + 1, j], a_prev[n + 2, j], a_prev[n + 3, j]
            a1 = a_prev[n, j + 1], a_prev[n + 1, j + 1], a_prev[n + 2, j + 1], a_prev[n + 3, j + 1]
            a2 = a_prev[n, j + 2], a_prev[n + 1, j + 2], a_prev[n + 2, j + 2], a_prev[n + 3, j + 2]
            a3 = a_prev[n, j + 3], a_prev[n + 1, j + 3], a_prev[n + 2, j + 3], a_prev[n + 3, j + 3]
            rows = delta[n, k_start:k_stop], delta[n + 1, k_start:k_stop]
            more_rows = delta[n + 2, k_start:k_stop], delta[n + 3, k_start:k_stop]
            for u in range(S.shape[1]):
                # loaded before the stores to S, which LLVM cannot tell apart from delta^l
                d0, d1, d2, d3 = rows[0][u], rows[1][u], more_rows[0][u], more_rows[1][u]
                S0[u] += d0 * a0[0] + d1 * a0[1] + d2 * a0[2] + d3 * a0[3]
                S1[u] += d0 * a1[0] + d1 * a1[1] + d2 * a1[2] + d3 * a1[3]
                S2[u] += d0 * a2[0] + d1 * a2[1] + d2 * a2[2] + d3 * a2[3]
                S3[u] += d0 * a3[0] + d1 * a3[1] + d2 * a3[2] + d3 * a3[3]
    # The inputs left over from the blocks, four samples at a time; then the samples left over.
    for j in range(blocks_stop, n_inputs):
        S_j = S[j]
        for n in range(0, quads_stop, 4):
            a0, a1, a2, a3 = a_prev[n, j], a_prev[n + 1, j], a_prev[n + 2, j], a_prev[n + 3, j]
            d0, d1 = delta[n, k_start:k_stop], delta[n + 1, k_start:k_stop]
            d2, d3 = delta[n + 2, k_start:k_stop], delta[n + 3, k_start:k_stop]
            for u in range(S.shape[1]):
                S_j[u] += d0[u] * a0 + d1[u] * a1 + d2[u] * a2 + d3[u] * a3
    for j in range(n_inputs):
        S_j = S[j]
        for n in range(quads_stop, n_samples):
            a_n, d_n = a_prev[n, j], delta[n, k_start:k_stop]
            for u in range(S.shape[1]):
                S_j[u] += d_n[u] * a_n


@kernel
def input_sum_tiles(b, z, Ap, Bp, tile_start, tile_stop):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for the tiles [tile_start, tile_stop) of samples by units.

    ``Ap`` holds a^{l-1} and ``Bp`` holds W^l, each packed in blocks of rows
    (:func:`fastbp.backends.cpu.tiles.pack_row_blocks`): ``Ap[block, j, r]``
    is a^{l-1}_j of sample ``block * TILE_ROWS + r`` and ``Bp[panel, j, u]``
    is W^l_kj of unit ``k = panel * TILE_UNITS + u``.  Tile ``i`` is samples'
    block ``i % n_blocks`` by units' panel ``i // n_blocks``, so consecutive
    tiles reuse one panel of W^l while it sits in the L2 cache.  The sum over
    ``j`` runs in :func:`fastbp.backends.cpu.tiles.tile_sum`, in registers.

    The arrays are borrowed (:func:`fastbp.numerics.layout.borrowed`): each
    tile takes views of the panels and rows of ``z``, whose reference counts
    (atomic operations) cost a tenth of a tile over a layer of 64 inputs.
    """
    b, z, Ap, Bp = borrowed(b, z, Ap, Bp)
    rows, units, n_blocks = Ap.shape[2], Bp.shape[2], Ap.shape[0]
    tile = np.empty((rows, units), dtype=z.dtype)
    for i in range(tile_start, tile_stop):
        panel, block = i // n_blocks, i % n_blocks
        tile_sum(Ap[block], Bp[panel], tile)
        first_n, first_k = block * rows, panel * units
        count = min(units, z.shape[1] - first_k)
        # Row views, indexed from 0: Numba's check for negative indices on first_k + u kept
        # this loop from vectorising (benchmarks/README.md, "Deltas through small layers").
        bias = b[first_k : first_k + count]
        for r in range(min(rows, z.shape[0] - first_n)):
            z_row = z[first_n + r, first_k : first_k + count]
            for u in range(count):
                z_row[u] = tile[r, u] + bias[u]


@kernel
def backpropagate_tiles(code, a, delta, Ap, Bp, tile_start, tile_stop):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, for tiles of samples by units j.

    ``Ap`` holds delta^{l+1} packed in blocks of rows (samples, ``k``
    outermost) and ``Bp`` holds W^{l+1} packed in blocks of columns
    (:func:`fastbp.backends.cpu.tiles.pack_column_blocks`: ``Bp[panel, k, u]``
    is W^{l+1}_kj of ``j = panel * TILE_UNITS + u``).  Tiles are numbered as
    in :func:`input_sum_tiles`; the factor sigma_l' is applied as each tile is
    stored.  The arrays are borrowed, as in :func:`input_sum_tiles`.
    """
    a, delta, Ap, Bp = borrowed(a, delta, Ap, Bp)
    rows, units, n_blocks = Ap.shape[2], Bp.shape[2], Ap.shape[0]
    tile = np.empty((rows, units), dtype=delta.dtype)
    for i in range(tile_start, tile_stop):
        panel, block = i // n_blocks, i % n_blocks
        tile_sum(Ap[block], Bp[panel], tile)
        first_n, first_j = block * rows, panel * units
        count = min(units, delta.shape[1] - first_j)
        for r in range(min(rows, delta.shape[0] - first_n)):
            # Row views, indexed from 0, as in input_sum_tiles.
            delta_row = delta[first_n + r, first_j : first_j + count]
            a_row = a[first_n + r, first_j : first_j + count]
            for u in range(count):
                delta_row[u] = tile[r, u] * activation_derivative(code, a_row[u])


@kernel
def weight_gradient_tiles(W, inv_n, decay, dW, Ap, Bp, tile_start, tile_stop):
    """dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj, for tiles of units k by j.

    ``Ap`` holds delta^l and ``Bp`` holds a^{l-1}, each packed in blocks of
    columns (:func:`fastbp.backends.cpu.tiles.pack_column_blocks`):
    ``Ap[block, n, r]`` is delta^l_k(n) of ``k = block * TILE_ROWS + r`` and
    ``Bp[panel, n, u]`` is a^{l-1}_j(n) of ``j = panel * TILE_UNITS + u``.
    Tiles go units' block by block within a group of inputs' panels
    (:func:`fastbp.backends.cpu.tiles.block_in_panel_group`): consecutive
    tiles run along the same rows of ``dW`` and ``W`` while the block of
    delta^l stays in the L1 cache (panel by panel, as the other two products
    go, was slower), and the group's panels of a^{l-1} stay in the L2 cache
    for every block.  The biases' gradients and the sum of squares come from
    :func:`bias_gradients`.  The arrays are borrowed, as in :func:`input_sum_tiles`.
    """
    W, dW, Ap, Bp = borrowed(W, dW, Ap, Bp)
    rows, units = Ap.shape[2], Bp.shape[2]
    tile = np.empty((rows, units), dtype=dW.dtype)
    per_group = panels_per_group(Bp)
    for i in range(tile_start, tile_stop):
        block, panel = block_in_panel_group(i, Ap.shape[0], Bp.shape[0], per_group)
        tile_sum(Ap[block], Bp[panel], tile)
        first_k, first_j = block * rows, panel * units
        count = min(units, dW.shape[1] - first_j)
        for r in range(min(rows, dW.shape[0] - first_k)):
            # Row views, indexed from 0, as in input_sum_tiles.
            dW_row = dW[first_k + r, first_j : first_j + count]
            W_row = W[first_k + r, first_j : first_j + count]
            for u in range(count):
                dW_row[u] = tile[r, u] * inv_n + decay * W_row[u]


@kernel
def bias_gradients(W, delta, inv_n, db, k_start, k_stop):
    """dC/db^l_k = (1/N) sum_n delta^l_k(n) for k in [k_start, k_stop); returns their sum_j (W^l_kj)^2.

    The companion of :func:`weight_gradient_tiles`, in chunks of rows as
    :func:`layer_gradients` works, so that the sums of squares add up alike.
    The sums over ``n`` run row by row of ``delta^l`` (``k`` innermost, each
    in the order of the samples), reading it contiguously.
    """
    bias_sums(delta, inv_n, db, k_start, k_stop)
    squares = 0.0
    for k in range(k_start, k_stop):
        row_squares = W.dtype.type(0.0)
        for j in range(W.shape[1]):
            row_squares += W[k, j] * W[k, j]
        squares += row_squares
    return squares


@ordered_kernel
def chunks_total(chunk_sums):
    """The sum of the chunks' sums of squares, one after the other in chunk order, as :func:`layer_gradients` adds them.

    Ordered (no reassociation): a vectorised sum would group them otherwise
    than the running sum of one thread's chunks.
    """
    total = 0.0
    for c in range(chunk_sums.shape[0]):
        total += chunk_sums[c]
    return total


@kernel
def data_cost(cost, a, y, s):
    """sum_n s_n C_n over the batch (the data term of C before the 1/N).

    Categorical cross-entropy, softmax's cost, has a loop of its own, in
    which its code is a constant where :func:`fastbp.numerics.formulas.cost_term`
    is taken in: with the code known at run time only, each output value
    was a call of the whole formula.
    """
    if cost[0] == CATEGORICAL_CROSS_ENTROPY:
        return weighted_cost_sum((CATEGORICAL_CROSS_ENTROPY, cost[1]), a, y, s)
    return weighted_cost_sum(cost, a, y, s)


@inlined_kernel
def weighted_cost_sum(cost, a, y, s):
    """sum_n s_n sum_k C_n,k, for :func:`data_cost`."""
    total = 0.0
    for n in range(a.shape[0]):
        sample = 0.0
        for k in range(a.shape[1]):
            sample += cost_term(cost, a[n, k], y[n, k])
        total += s[n] * sample
    return total


@kernel
def squared_weights(theta, sizes):
    """sum_l sum_kj (W^l_kj)^2, the sum in the L2 term (biases excluded)."""
    total = 0.0
    for l in range(1, sizes.shape[0]):
        W = weights(theta, sizes, l)
        for k in range(W.shape[0]):
            for j in range(W.shape[1]):
                total += W[k, j] * W[k, j]
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
        weight_sum += load_target(Y, S, source, y, s, n)
    return weight_sum


@inlined_kernel
def load_target(Y, S, source, y, s, n):
    """Row ``n`` of the batch's targets ``y`` and weights ``s``: those of sample ``source``; returns its weight."""
    for k in range(Y.shape[1]):
        y[n, k] = Y[source, k]
    s[n] = S[source]
    return S[source]


@inlined_kernel
def copy(source, destination):
    """destination_i = source_i, element by element (no broadcasting machinery to compile).

    Inlined where it is called, rather than a compilation of its own in every first fit.
    """
    for i in range(source.shape[0]):
        destination[i] = source[i]
