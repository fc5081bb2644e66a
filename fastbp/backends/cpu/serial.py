"""The serial backend: the index loops of :mod:`fastbp.backends.cpu.loops`, one range after another.

This module holds the layer-by-layer structure of the derivation: the
forward pass, the delta recursion, the gradients, the update, and
``train_epochs``, the whole training loop in compiled code.  Its functions
have the same names and signatures in every backend (the NumPy oracle
:mod:`fastbp.backends.numpy_ref` included; :mod:`fastbp.backends.contract`
lists them).

Storage (see :mod:`fastbp.numerics.layout`): ``theta`` holds all parameters in one
flat buffer, ``A`` the activations ``a^0 .. a^L`` of a batch and ``D`` the
deltas ``delta^1 .. delta^L``, each layer an ``(N, n_l)`` block.  A whole
mini-batch goes through one layer before the next: each weight is loaded
once per batch, not once per sample.

The last two arguments choose the code as well as the work.  ``n_threads``
is how many threads the layer loops may use (the ``parallel`` backend gives
them Numba's thread count or ``n_jobs``), or ``None`` for one thread:
layers with enough work then go to :mod:`fastbp.backends.cpu.parallel`,
which splits the same loops over threads and gives bitwise the same results.
``tiles`` is ``True`` where some layer may be big enough for the register
tiles (:mod:`fastbp.backends.cpu.products`), ``None`` where none is.  Numba
prunes a branch under ``x is not None`` when it compiles for a ``None``,
before it types the branch: a serial fit compiles no parallel code, and a
network of small layers no tile code (each is a compiled variant of its
own, cached apart; :func:`fastbp.backends.kernel_plan` chooses them).
Inputs may be CSR rows (:mod:`fastbp.numerics.sparse`): layer 1 then runs
apart, before the dense loops start at layer 2 (:func:`csr_first_layer`,
:func:`csr_first_gradients`), chosen by the inputs' type when the caller
compiles, so that dense fits compile and run no CSR code.

A caller that passes threads from Python must start Numba's threads first
(``numba.get_num_threads()`` does), as fastbp's own entry points do:
Numba starts them when it loads a parallel function from its cache, but not
when it loads a cached caller with the parallel code linked in (Numba issue
#8578), and that caller would then crash.
"""

import math

import numpy as np

from fastbp.backends.cpu import csr, loops, parallel, products
from fastbp.backends.cpu.loops import copy, data_cost, output_delta, squared_weights
from fastbp.backends.cpu.tuning import (
    PARALLEL_MIN_PARAMETERS,
    PARALLEL_MIN_WORK,
    TILED_DELTAS,
    TILED_GRADIENTS,
    TILED_INPUT_SUMS,
    inlined_kernel,
    kernel,
    worth_csr_threads,
    worth_threads,
    worth_tiling,
)
from fastbp.numerics.layout import biases, borrowed, layer, weights
from fastbp.numerics.optim import SAMPLES_SEEN, UPDATES, end_of_epoch_schedule, optimizer_step
from fastbp.numerics.shuffling import order_samples
from fastbp.numerics.sparse import (
    activations_layer,
    borrow,
    buffer_rows,
    by_activations,
    by_inputs,
    dense_layers,
    dense_rows,
    input_block,
    row_count,
    rows,
)
from fastbp.numerics.stopping import (
    CONVERGED,
    COST_DIVERGED,
    NO_SCORE,
    RAN_ALL,
    RATE_CUTS,
    STATUS,
    patience_ran_out,
    record_loss,
    record_score,
    validation_score,
)

__all__ = [
    "accumulate_gradients",
    "apply_update",
    "backprop_deltas",
    "cost_and_gradient",
    "data_cost",
    "forward",
    "load_batch",
    "output_delta",
    "predict",
    "squared_weights",
    "train_epochs",
]


@inlined_kernel
def forward(theta, sizes, codes, A, n_samples, n_threads, tiles):
    """The forward pass over the batch held in layer 0 of ``A``.

    For l = 1 .. L: z^l = W^l a^{l-1} + b^l, then a^l = sigma_l(z^l), each
    computed in the block of ``A`` that will hold ``a^l``.

    Cache blocking: the input sums go in tiles of rows of ``W^l`` (about
    256 KiB), each of which serves every sample of the batch while it sits in
    the L2 cache, so a wide layer's weights come from memory once per batch,
    not once per group of samples.  Big layers go through the register tiles
    instead (:mod:`fastbp.backends.cpu.products`), as do their deltas and
    gradients.
    """
    a_in, a_out = input_block(A, sizes, n_samples), activations_layer(A, sizes, sizes.shape[0] - 1, n_samples)
    forward_between(theta, sizes, codes, a_in, A, a_out, n_threads, tiles)


@inlined_kernel
def forward_between(theta, sizes, codes, a_in, A, a_out, n_threads, tiles):
    """:func:`forward` from the inputs ``a_in`` (``a^0``) to the outputs ``a_out`` (``a^L``), both ``(N, n_l)``.

    The layers between live in ``A``; :func:`predict` passes rows of the
    caller's inputs and outputs, so that it copies neither.  ``a_in`` may be
    CSR rows (:mod:`fastbp.numerics.sparse`): their layer 1 runs first, apart
    (:func:`csr_first_layer`), and the loop below starts at layer 2.
    """
    n_samples = row_count(a_in)
    L = sizes.shape[0] - 1
    first = first_layer_apart(theta, sizes, codes, a_in, A, a_out, n_threads)
    for l in range(first, L + 1):
        W = weights(theta, sizes, l)
        b = biases(theta, sizes, l)
        a_prev = dense_rows(a_in) if l == 1 else activations_layer(A, sizes, l - 1, n_samples)
        a = a_out if l == L else activations_layer(A, sizes, l, n_samples)
        # "n_threads is not None" and "tiles is not None" stand in each condition so that
        # Numba prunes the branch when it compiles for None (see the module's docstring).
        threaded = n_threads is not None and worth_threads(n_threads, n_samples, W)
        if tiles is not None and worth_tiling(n_samples, W, TILED_INPUT_SUMS):
            if n_threads is not None and threaded:
                parallel.tiled_input_sum(W, b, a_prev, a, n_threads)
            else:
                products.input_sum(W, b, a_prev, a)
            loops.activate(codes[l], a)
        elif n_threads is not None and threaded:
            # z^l = W^l a^{l-1} + b^l and a^l = sigma_l(z^l), each thread on its share
            parallel.forward_layer(W, b, codes[l], a_prev, a, n_threads)
        else:
            # z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, one tile of units k after another
            loops.input_sums_by_tiles(W, b, a_prev, a)
            loops.activate(codes[l], a)


@inlined_kernel
def dense_first_layer(theta, sizes, codes, a_in, A, a_out, n_threads):
    """Nothing to do apart for dense inputs: :func:`forward_between`'s loop starts at layer 1."""
    return 1


@kernel
def csr_first_layer(theta, sizes, codes, x, A, a_out, n_threads):
    """Layer 1 of CSR inputs ``x``: z^1 = W^1 x + b^1, then a^1 = sigma_1(z^1); the layer to go on from (2).

    On the threads where the batch's nonzeros make enough work.
    """
    W, b = weights(theta, sizes, 1), biases(theta, sizes, 1)
    a = a_out if sizes.shape[0] == 2 else activations_layer(A, sizes, 1, row_count(x))
    if n_threads is not None and worth_csr_threads(n_threads, csr.nonzeros(x), W):
        parallel.csr_input_sum(W, b, x, a, n_threads)
    else:
        # z^1_k = sum_j W^1_kj x_j + b^1_k over the nonzero x_j (from unit np.int64(0): see accumulate_gradients)
        csr.input_sum(W, b, x, a, np.int64(0), W.shape[0])
    loops.activate(codes[1], a)
    return 2


# The layer forward_between's loop starts from: 1, or 2 once layer 1 of CSR inputs is done.
first_layer_apart = by_inputs(3, dense_first_layer, csr_first_layer)


@inlined_kernel
def backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles):
    """The delta recursion, from layer L - 1 down to layer 1.

    ``delta^L`` must already be in ``D`` (see :func:`output_delta`).
    """
    for l in range(sizes.shape[0] - 2, 0, -1):
        W_next = weights(theta, sizes, l + 1)
        delta_next = layer(D, sizes, l + 1, n_samples, 1)
        delta = layer(D, sizes, l, n_samples, 1)
        a = activations_layer(A, sizes, l, n_samples)
        threaded = n_threads is not None and worth_threads(n_threads, n_samples, W_next)
        if tiles is not None and worth_tiling(n_samples, W_next, TILED_DELTAS):
            if n_threads is not None and threaded:
                parallel.tiled_backpropagate(W_next, delta_next, codes[l], a, delta, n_threads)
            else:
                products.backpropagate(W_next, delta_next, codes[l], a, delta)
        elif n_threads is not None and threaded:
            # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, samples shared among the threads
            cost, y, s = unread_cost_terms(D)
            buffer, first = dense_layers(A)
            up, down = (l + 1, l), (l, l)
            parallel.rows_up_and_down(theta, sizes, codes, cost, buffer, first, D, y, s, n_samples, up, down, n_threads)
        else:
            # delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, every sample n
            loops.backpropagate(W_next, delta_next, codes[l], a, delta)


@inlined_kernel
def unread_cost_terms(D):
    """A cost, targets and samples' weights for :func:`fastbp.backends.cpu.parallel.rows_up_and_down` below delta^L.

    Only delta^L reads them: of the types the training loop passes, so that
    every call compiles the same variant.
    """
    return (np.int64(0), 0.0), D[:0].reshape((0, 1)), D[:0]


@inlined_kernel
def forward_and_deltas(theta, sizes, codes, cost, A, D, y, s, n_samples, n_threads, tiles):
    """:func:`forward`, delta^L (:func:`output_delta`) and :func:`backprop_deltas` of the batch in layer 0 of ``A``.

    Where :func:`shares_rows` says so, all three in one parallel region,
    each thread taking its share of samples up and down the network
    (:func:`fastbp.backends.cpu.parallel.rows_up_and_down`); else layer by
    layer, each layer on the threads where it has the work.  The same
    results either way, bitwise.
    """
    L = sizes.shape[0] - 1
    if n_threads is not None and shares_rows(theta, sizes, A, n_samples, n_threads, tiles):
        buffer, first = dense_layers(A)
        # Layers 1 .. L up, L .. 1 down, as int64: a literal 1 would type, and compile, a variant of its own.
        up, down = (np.int64(1), L), (L, np.int64(1))
        parallel.rows_up_and_down(theta, sizes, codes, cost, buffer, first, D, y, s, n_samples, up, down, n_threads)
    else:
        forward(theta, sizes, codes, A, n_samples, n_threads, tiles)
        a_out = activations_layer(A, sizes, L, n_samples)
        output_delta(cost, codes[L], a_out, y, s, layer(D, sizes, L, n_samples, 1))
        backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles)


@kernel
def dense_shares_rows(theta, sizes, A, n_samples, n_threads, tiles):
    """Whether :func:`forward_and_deltas` shares the batch among ``n_threads`` threads by samples, in one region.

    Where every layer has more samples than units (so that a thread reads
    less of ``W^l`` than of its share of activations, as
    :func:`fastbp.backends.cpu.parallel.forward_layer` splits), none goes
    through the register tiles, and the forward pass has the work of one
    threaded layer (:data:`PARALLEL_MIN_WORK` multiply-adds).
    """
    work = 0
    for l in range(1, sizes.shape[0]):
        W = weights(theta, sizes, l)
        if n_samples <= sizes[l]:
            return False
        if tiles is not None and worth_tiling(n_samples, W, TILED_INPUT_SUMS):
            return False
        if tiles is not None and l > 1 and worth_tiling(n_samples, W, TILED_DELTAS):
            return False
        work += n_samples * sizes[l] * sizes[l - 1]
    return n_threads > 1 and work >= PARALLEL_MIN_WORK


@inlined_kernel
def sparse_shares_rows(theta, sizes, A, n_samples, n_threads, tiles):
    """Never for CSR inputs, whose layer 1 is shared by units (:func:`csr_first_layer`)."""
    return False


# Whether the batch's forward pass and deltas go in one parallel region: dense inputs only.
shares_rows = by_activations(2, dense_shares_rows, sparse_shares_rows)


@inlined_kernel
def accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles):
    """The gradients of the batch cost C, written into ``grad`` (laid out as ``theta``).

    N in the formulas is ``weight_sum``, the sum of the samples' weights
    (the number of samples when they all weigh 1).  Returns
    sum_l sum_kj (W^l_kj)^2, which the L2 term of the cost needs.

    The rows of ``dW^l`` go in chunks of ``GRADIENT_ROWS``, whose sums of
    squares are added in order, as the parallel backend adds them, then the
    layer's sum to those of the layers before.  Layer 1
    of CSR inputs runs first, apart (:func:`csr_first_gradients`).
    """
    inv_n = theta.dtype.type(1.0 / weight_sum)
    decay = theta.dtype.type(l2 / weight_sum)
    a_in = input_block(A, sizes, n_samples)
    squares, first = first_gradients_apart(theta, sizes, a_in, D, n_samples, inv_n, decay, grad, n_threads)
    for l in range(first, sizes.shape[0]):
        W = weights(theta, sizes, l)
        a_prev = dense_rows(a_in) if l == 1 else activations_layer(A, sizes, l - 1, n_samples)
        delta = layer(D, sizes, l, n_samples, 1)
        dW = weights(grad, sizes, l)
        db = biases(grad, sizes, l)
        threaded = n_threads is not None and worth_threads(n_threads, n_samples, W)
        if tiles is not None and worth_tiling(n_samples, W, TILED_GRADIENTS):
            if n_threads is not None and threaded:
                squares += parallel.tiled_layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, n_threads)
            else:
                squares += products.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db)
        elif n_threads is not None and threaded:
            squares += parallel.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db)
        else:
            # dC/dW^l_kj and dC/db^l_k, one chunk of units k after another.  The first unit as an
            # int64, as the threads pass theirs: a literal 0 would type, and compile, a variant of its own.
            squares += loops.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, np.int64(0), W.shape[0])
    return squares


@inlined_kernel
def dense_first_gradients(theta, sizes, a_in, D, n_samples, inv_n, decay, grad, n_threads):
    """Nothing to do apart for dense inputs: ``(0.0, 1)``, :func:`accumulate_gradients`' loop starts at layer 1."""
    return 0.0, 1


@kernel
def csr_first_gradients(theta, sizes, x, D, n_samples, inv_n, decay, grad, n_threads):
    """dC/dW^1 and dC/db^1 of CSR inputs ``x``: ``(sum_kj (W^1_kj)^2, 2)``, the layer to go on from.

    The data term only where x_j(n) is not zero, the weight decay everywhere
    (:func:`fastbp.backends.cpu.csr.layer_gradients`), on the threads where
    the nonzeros make enough work.
    """
    W, delta = weights(theta, sizes, 1), layer(D, sizes, 1, n_samples, 1)
    dW, db = weights(grad, sizes, 1), biases(grad, sizes, 1)
    if n_threads is not None and worth_csr_threads(n_threads, csr.nonzeros(x), W):
        return parallel.csr_layer_gradients(W, x, delta, inv_n, decay, dW, db), 2
    return csr.gradients_by_chunks(W, x, delta, inv_n, decay, dW, db), 2


# What accumulate_gradients' loop starts from: (0.0, 1), or layer 1's sum of squares and 2 for CSR inputs.
first_gradients_apart = by_inputs(2, dense_first_gradients, csr_first_gradients)


@inlined_kernel
def apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads):
    """One step of the optimiser (see :mod:`fastbp.numerics.optim`) on all parameters at once.

    Plain gradient descent: W^l_kj <- W^l_kj - alpha dC/dW^l_kj, b^l_k <- b^l_k - alpha dC/db^l_k.
    The step is counted in ``counters``.
    """
    counters[UPDATES] += 1
    if n_threads is not None and n_threads > 1 and theta.shape[0] >= PARALLEL_MIN_PARAMETERS[optimizer]:
        parallel.apply_optimizer(theta, grad, optimizer, hyper, velocity, second_moment, counters[UPDATES], n_threads)
    else:
        optimizer_step(theta, grad, optimizer, hyper, velocity, second_moment, counters[UPDATES])


@inlined_kernel
def cost_and_gradient(theta, sizes, codes, cost, l2, A, D, y, s, n_samples, weight_sum, grad, n_threads, tiles):
    """Backpropagation on one batch: N C into the return value, dC/dtheta into ``grad``.

    The batch is in layer 0 of ``A`` (inputs), ``y`` (targets, ``(N, n_L)``)
    and ``s`` (the samples' weights); N is ``weight_sum``.  In order: the
    forward pass, the data term of the cost, the output delta, the delta
    recursion and the gradients.  Returns

        N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2

    with the sum of squares that the gradient pass computes on the way.
    """
    L = sizes.shape[0] - 1
    forward_and_deltas(theta, sizes, codes, cost, A, D, y, s, n_samples, n_threads, tiles)
    batch_cost = data_cost(cost, activations_layer(A, sizes, L, n_samples), y, s)
    squares = accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles)
    return batch_cost + 0.5 * l2 * squares


# a^0 = x: the batch's samples, in the epoch's order, into layer 0 (dense rows, or CSR rows).
load_batch = by_inputs(0, loops.load_batch, csr.load_batch)


@kernel
def predict(theta, sizes, codes, X, A, outputs, n_threads, tiles):
    """``a^L`` of every row of ``X`` into ``outputs``: the forward pass, as many rows at a time as ``A`` holds.

    The rows of ``X`` are read where they are, and ``a^L`` is written straight into ``outputs``.
    """
    theta, sizes, codes, outputs = borrowed(theta, sizes, codes, outputs)
    X, A = borrow(X), borrow(A)
    n_rows = row_count(X)
    chunk = buffer_rows(A, sizes)
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        forward_between(theta, sizes, codes, rows(X, start, stop), A, outputs[start:stop], n_threads, tiles)


@kernel
def train_epochs(
    X, Y, S, theta, sizes, codes, cost, l2, batch_size, shuffling, optimizer, hyper, velocity, second_moment,
    counters, order, rng_state, A, D, Y_batch, S_batch, grad, last_finite, losses,
    X_val, Y_val, S_val, P_val, score_kind, stopping, best_theta, scores, n_threads, tiles,
):  # fmt: skip
    """Mini-batch gradient descent for up to ``losses.shape[0]`` epochs, with scikit-learn's stopping rules.

    Each epoch orders the samples (``shuffling``: see
    :mod:`fastbp.numerics.shuffling`), then for each batch of ``batch_size``
    samples (the last one may be smaller) runs the steps of
    :func:`cost_and_gradient` and the optimiser's update.  ``batch_size = N``
    is batch gradient descent, ``1`` is online learning.  ``S`` holds the
    samples' weights (all 1 for the plain formulas).  The arguments are
    described in :mod:`fastbp.backends.contract`.

    ``losses[e]`` receives the epoch's cost: the batch costs C weighted by
    their size and averaged over the samples, as scikit-learn reports it.
    Then the rules of :mod:`fastbp.numerics.stopping` run: with a
    ``score_kind``, ``scores[e]`` receives the score of the predictions for
    ``X_val`` (``P_val`` holds them) against ``Y_val`` and ``best_theta`` the
    weights of the best score so far.  Returns the number of epochs
    completed, and ``stopping[STATUS]`` says why it stopped.  If an epoch's
    cost is not finite, ``theta`` is restored from ``last_finite`` (the
    weights after the epoch before) and that epoch is not counted as
    completed.  (Weights that became NaN or infinite with a finite cost are
    caught by the caller after the call, as :meth:`fastbp.engine.training.Trainer.run` does.)
    """
    # The steps below take these arrays for every mini-batch: borrowed, they pass without
    # counting references (see fastbp.numerics.layout.borrowed).
    Y, S, theta, sizes, codes, hyper, velocity, second_moment, counters, order, rng_state = borrowed(
        Y, S, theta, sizes, codes, hyper, velocity, second_moment, counters, order, rng_state
    )
    D, Y_batch, S_batch, grad, last_finite, losses = borrowed(D, Y_batch, S_batch, grad, last_finite, losses)
    Y_val, S_val, P_val, stopping, best_theta, scores = borrowed(Y_val, S_val, P_val, stopping, best_theta, scores)
    X, A, X_val = borrow(X), borrow(A), borrow(X_val)
    n_total = row_count(X)
    L = sizes.shape[0] - 1
    stopping[STATUS] = RAN_ALL
    stopping[RATE_CUTS] = 0
    for epoch in range(losses.shape[0]):
        order_samples(order, shuffling, rng_state)
        epoch_cost = 0.0
        for start in range(0, n_total, batch_size):
            n_samples = min(batch_size, n_total - start)
            # Y_batch holds the batch's targets laid out as layer L: an (N, n_L) block.
            y = layer(Y_batch, sizes, L, n_samples, L)
            s = S_batch[:n_samples]
            weight_sum = load_batch(X, Y, S, order, start, input_block(A, sizes, n_samples), y, s)
            # The steps of cost_and_gradient, written out: calling it here (inlined) compiled
            # the loop a little slower and ran mnistlike epochs 4 to 9% slower (benchmarks/README.md).
            forward_and_deltas(theta, sizes, codes, cost, A, D, y, s, n_samples, n_threads, tiles)
            batch_cost = data_cost(cost, activations_layer(A, sizes, L, n_samples), y, s)
            squares = accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles)
            # N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2, with the
            # sum of squares that the gradient pass computed on the way.
            batch_cost += 0.5 * l2 * squares
            # The epoch's cost weighs each batch's C by its number of samples.
            epoch_cost += batch_cost * n_samples / weight_sum
            apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads)
        counters[SAMPLES_SEEN] += n_total
        end_of_epoch_schedule(hyper, counters[SAMPLES_SEEN])
        losses[epoch] = epoch_cost / n_total
        if not math.isfinite(losses[epoch]):
            stopping[STATUS] = COST_DIVERGED
            copy(last_finite, theta)
            return epoch
        copy(theta, last_finite)
        if score_kind is NO_SCORE:
            record_loss(stopping, losses[epoch])
        else:
            predict(theta, sizes, codes, X_val, A, P_val, n_threads, tiles)
            scores[epoch] = validation_score(score_kind, P_val, Y_val, S_val)
            if record_score(stopping, scores[epoch]):
                copy(theta, best_theta)
        if patience_ran_out(stopping, hyper):
            stopping[STATUS] = CONVERGED
            return epoch + 1
    return losses.shape[0]
