"""The parallel backend: the loops of :mod:`fastbp.backends.cpu.loops` spread over threads.

Same names as the layer kernels of :mod:`fastbp.backends.cpu.serial`, with the
number of threads to split the work for as a last argument.  The forward
pass, the delta recursion and the gradients call these for every layer with
enough work when they are given more than one thread (the ``parallel``
backend gives them Numba's thread count or ``n_jobs``).

How each formula is split, so that no two threads write the same element and
the results are bitwise those of the serial backend, for any thread count
(shares of units and samples start at even indices, see
:func:`fastbp.backends.cpu.tuning.even_share`):

* input sums z^l_k: by receiving units ``k`` (rows of ``W^l``);
* deltas delta^l_j(n): by samples ``n`` (rows of ``delta^l``);
* gradients dC/dW^l_kj: by receiving units ``k`` (rows of ``dW^l``), in
  chunks of ``GRADIENT_ROWS`` rows fixed by the layer, not by the threads;
  the chunks' sums of squares (for the L2 term) are added in chunk order;
* the optimiser's update: by parameters, one share of the flat buffers per
  thread (each parameter's update reads and writes only its own entries, so
  here the split may follow the thread count).
"""

import numba
import numpy as np

from fastbp.backends.cpu import loops
from fastbp.backends.cpu.tuning import GRADIENT_ROWS, even_share, parallel_kernel, units_tile
from fastbp.numerics.optim import optimizer_step


@parallel_kernel
def input_sum(W, b, a_prev, z, n_threads):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, rows of ``W`` shared among the threads."""
    n_units, n_inputs = W.shape
    tile = min(units_tile(n_inputs), even_share(n_units, n_threads))
    n_tiles = -(-n_units // tile)
    for t in numba.prange(n_tiles):
        loops.input_sum(W, b, a_prev, z, t * tile, min((t + 1) * tile, n_units))


@parallel_kernel
def backpropagate(W_next, delta_next, code, a, delta, n_threads):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, samples shared among the threads."""
    n_samples = a.shape[0]
    chunk = even_share(n_samples, n_threads)
    for c in numba.prange(-(-n_samples // chunk)):
        rows = slice(c * chunk, min((c + 1) * chunk, n_samples))
        loops.backpropagate(W_next, delta_next[rows], code, a[rows], delta[rows])


@parallel_kernel
def layer_gradients(W, a_prev, delta, transposed, inv_n, decay, dW, db):
    """dC/dW^l and dC/db^l of one layer, rows shared among the threads; returns sum_kj (W^l_kj)^2.

    With ``transposed``, ``a_prev`` and ``delta`` hold a^{l-1} and delta^l
    transposed (see :func:`fastbp.backends.cpu.loops.layer_gradients_transposed`).
    """
    n_units = W.shape[0]
    n_chunks = -(-n_units // GRADIENT_ROWS)
    chunk_squares = np.empty(n_chunks)
    for c in numba.prange(n_chunks):
        k_start, k_stop = c * GRADIENT_ROWS, min((c + 1) * GRADIENT_ROWS, n_units)
        if transposed:
            chunk_squares[c] = loops.layer_gradients_transposed(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)
        else:
            chunk_squares[c] = loops.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)
    squares = 0.0
    for c in range(n_chunks):
        squares += chunk_squares[c]
    return squares


@parallel_kernel
def apply_optimizer(theta, grad, optimizer, hyper, velocity, second_moment, t, n_threads):
    """Update number t of the optimiser on all parameters, the flat buffers shared among the threads."""
    n_parameters = theta.shape[0]
    share = -(-n_parameters // n_threads)
    for c in numba.prange(-(-n_parameters // share)):
        part = slice(c * share, min((c + 1) * share, n_parameters))
        optimizer_step(theta[part], grad[part], optimizer, hyper, velocity[part], second_moment[part], t)
