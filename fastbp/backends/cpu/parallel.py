"""The parallel backend: the loops of :mod:`fastbp.backends.cpu.loops` spread over threads.

Same names as the layer kernels of :mod:`fastbp.backends.cpu.serial`, with the
number of threads to split the work for as a last argument.  The forward
pass, the delta recursion and the gradients call these for every layer with
enough work when they are given more than one thread (the ``parallel``
backend gives them Numba's thread count or ``n_jobs``).

How each formula is split, so that no two threads write the same element and
the results are bitwise those of the serial backend, for any thread count
(shares of units and samples start at multiples of four, see
:func:`fastbp.backends.cpu.tuning.aligned_share`):

* input sums z^l_k: by samples ``n`` when the batch has more samples than
  the layer has units (each thread then applies sigma_l to its rows), else
  by receiving units ``k`` (rows of ``W^l``);
* deltas delta^l_j(n): by samples ``n`` (rows of ``delta^l``,
  :func:`rows_up_and_down`); and the whole forward pass with delta^L and the
  delta recursion in one parallel region, by samples, where every layer has
  more samples than units;
* layer 1 of CSR inputs (:mod:`fastbp.backends.cpu.csr`): input sums and
  gradients by receiving units ``k``, the gradients in the chunks below;
* gradients dC/dW^l_kj: by receiving units ``k`` (rows of ``dW^l``), in
  chunks of ``GRADIENT_ROWS`` rows fixed by the layer, not by the threads;
  the chunks' sums of squares (for the L2 term) are added in chunk order;
* the optimiser's update: by parameters, one share of the flat buffers per
  thread (each parameter's update reads and writes only its own entries, so
  here the split may follow the thread count).

A ``prange`` index passed on as it is would compile its callee twice: Numba
types it as an int64 in the function, then as a uint64 in the threads' part
it makes of the loop.  The loops below pass it as ``np.int64``.

The heavy loops are called through their addresses
(:mod:`fastbp.backends.cpu.by_address`), not compiled into the kernels here:
Numba would compile each again in the three code libraries it makes for a
``prange`` loop.  Each kernel first checks that the loops its threads call
are ready (:func:`fastbp.backends.cpu.by_address.ready`): a thread cannot
raise the error cleanly.
"""

import numba
import numpy as np

from fastbp.backends.cpu import csr, loops, tiles
from fastbp.backends.cpu.by_address import ready
from fastbp.backends.cpu.tuning import GRADIENT_ROWS, aligned_share, kernel, parallel_kernel, units_tile
from fastbp.numerics.optim import optimizer_step


@parallel_kernel
def forward_layer(W, b, code, a_prev, a, n_threads):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, then a^l_k = sigma_l(z^l_k), shared among the threads.

    A batch of more samples than the layer has units is shared by samples:
    each thread reads all of ``W^l`` and its share of ``a^{l-1}``, the
    smaller of the two splits' traffic (and a layer of 10 units is not cut
    into shares of 8 and 2), and applies sigma_l to its share of rows while
    they sit in its cache (softmax couples a row, which a share holds whole).
    Each share runs the serial backend's tiles of units, and starts at a
    multiple of four samples, so every sample is blocked as the serial loop
    blocks it.  Shared by rows of ``W``, the threads' shares are columns of
    ``a^l``, and sigma_l follows on one thread.
    """
    if not ready(W, "input_sum", "activate"):
        raise RuntimeError("fastbp.backends.cpu.by_address.prepare(dtype) must run before the threads' forward pass")
    n_units, n_inputs = W.shape
    n_samples = a_prev.shape[0]
    by_samples = n_samples > n_units
    count = n_samples if by_samples else n_units
    share = aligned_share(count, n_threads)
    if not by_samples:
        share = min(units_tile(n_inputs), share)
    # One prange loop for both splits: each loop is a parallel region that Numba compiles apart.
    for c in numba.prange(-(-count // share)):
        start = c * share
        stop = min(start + share, count)
        if by_samples:
            loops.threads_input_sums(W, b, a_prev[start:stop], a[start:stop])
            loops.activate_by_address(code, a[start:stop])
        else:
            loops.input_sum_by_address(W, b, a_prev, a, np.int64(start), np.int64(stop))
    if not by_samples:
        loops.activate_by_address(code, a)


@parallel_kernel
def rows_up_and_down(theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, up, down, n_threads):
    """:func:`fastbp.backends.cpu.loops.rows_up_and_down` of a whole batch, its samples shared among the threads.

    Forward through layers ``up = (first, last)``, then the deltas of layers
    ``down = (top, bottom)``: each formula reads and writes its own samples'
    rows only, so each thread takes its share of samples up the network and
    back down without waiting for the others.  The delta recursion goes this
    way layer by layer; the forward pass and all the deltas of a batch whose
    every layer has more samples than units go in one parallel region
    (:func:`fastbp.backends.cpu.serial.shares_rows`), where the
    layer-by-layer steps enter one per threaded layer and step and leave
    the layers too small for the threads on one (benchmarks/README.md, "One
    parallel region for the forward pass and the deltas").  Each share starts
    at a multiple of four samples: bitwise the serial results.
    """
    if not ready(theta, "rows_up_and_down", "input_sum", "activate", "output_delta", "backpropagate"):
        raise RuntimeError("fastbp.backends.cpu.by_address.prepare(dtype) must run before the threads' delta recursion")
    share = aligned_share(n_samples, n_threads)
    for c in numba.prange(-(-n_samples // share)):
        start, stop = np.int64(c * share), np.int64(min((c + 1) * share, n_samples))
        # loops.rows_up_and_down called through its address, not compiled in here (by_address.py)
        loops.rows_up_and_down_by_address(
            theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, start, stop, up, down
        )


@parallel_kernel
def layer_gradients(W, a_prev, delta, inv_n, decay, dW, db):
    """dC/dW^l and dC/db^l of one layer, rows shared among the threads; returns sum_kj (W^l_kj)^2."""
    if not ready(W, "layer_gradients"):
        raise RuntimeError("fastbp.backends.cpu.by_address.prepare(dtype) must run before the threads' gradients")
    n_units = W.shape[0]
    n_chunks = -(-n_units // GRADIENT_ROWS)
    chunk_squares = np.empty(n_chunks)
    for c in numba.prange(n_chunks):
        k_start, k_stop = np.int64(c * GRADIENT_ROWS), np.int64(min((c + 1) * GRADIENT_ROWS, n_units))
        # loops.layer_gradients called through its address, not compiled in here (by_address.py)
        chunk_squares[c] = loops.layer_gradients_by_address(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)
    return loops.chunks_total(chunk_squares)


@parallel_kernel
def csr_input_sum(W, b, x, z, n_threads):
    """:func:`fastbp.backends.cpu.csr.input_sum` (CSR inputs), rows of ``W^1`` shared among the threads."""
    n_units = W.shape[0]
    share = aligned_share(n_units, n_threads)
    for c in numba.prange(-(-n_units // share)):
        csr.input_sum(W, b, x, z, c * share, min((c + 1) * share, n_units))


@parallel_kernel
def csr_layer_gradients(W, x, delta, inv_n, decay, dW, db):
    """:func:`fastbp.backends.cpu.csr.layer_gradients` (CSR inputs), rows shared among the threads.

    Returns sum_kj (W^1_kj)^2, the chunks' sums added in chunk order.
    """
    n_chunks = -(-W.shape[0] // GRADIENT_ROWS)
    chunk_squares = np.empty(n_chunks)
    for c in numba.prange(n_chunks):
        k_start, k_stop = c * GRADIENT_ROWS, min((c + 1) * GRADIENT_ROWS, W.shape[0])
        chunk_squares[c] = csr.layer_gradients(W, x, delta, inv_n, decay, dW, db, k_start, k_stop)
    return loops.chunks_total(chunk_squares)


@kernel
def thread_share(c, count, n_threads):
    """Tiles [start, stop) of ``count`` for thread ``c`` of ``n_threads``: consecutive, as even as can be."""
    return c * count // n_threads, (c + 1) * count // n_threads


@parallel_kernel
def tiled_input_sum(W, b, a_prev, z, n_threads):
    """:func:`fastbp.backends.cpu.products.input_sum`, its packing and tiles shared among the threads.

    The packing loops run over blocks (or passes of blocks, :func:`fastbp.backends.cpu.tiles.column_block_passes`)
    and the tile loop over threads: loops
    of different lengths, so that Numba never fuses the tile loop into the
    packing that must end before it.
    """
    Ap = tiles.row_block_panels(a_prev, tiles.tile_shape_of(z)[0])
    Bp = tiles.row_block_panels(W, tiles.tile_shape_of(z)[1])
    for block in numba.prange(Ap.shape[0]):
        tiles.pack_row_blocks(a_prev, Ap, np.int64(block), block + 1)
    for panel in numba.prange(Bp.shape[0]):
        tiles.pack_row_blocks(W, Bp, np.int64(panel), panel + 1)
    for c in numba.prange(n_threads):
        loops.input_sum_tiles(b, z, Ap, Bp, *thread_share(np.int64(c), Ap.shape[0] * Bp.shape[0], n_threads))


@parallel_kernel
def tiled_backpropagate(W_next, delta_next, code, a, delta, n_threads):
    """:func:`fastbp.backends.cpu.products.backpropagate`, its packing and tiles shared among the threads."""
    Ap = tiles.row_block_panels(delta_next, tiles.tile_shape_of(delta)[0])
    Bp = tiles.column_block_panels(W_next, tiles.tile_shape_of(delta)[1])
    for block in numba.prange(Ap.shape[0]):
        tiles.pack_row_blocks(delta_next, Ap, np.int64(block), block + 1)
    for i in numba.prange(tiles.column_block_passes(Bp)):
        tiles.pack_column_blocks(W_next, Bp, *tiles.column_pass_blocks(np.int64(i), Bp))
    for c in numba.prange(n_threads):
        tile_range = thread_share(np.int64(c), Ap.shape[0] * Bp.shape[0], n_threads)
        loops.backpropagate_tiles(code, a, delta, Ap, Bp, *tile_range)


@parallel_kernel
def tiled_layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, n_threads):
    """:func:`fastbp.backends.cpu.products.layer_gradients`, shared among the threads.

    The sums of squares of the chunks of ``GRADIENT_ROWS`` rows are added in
    chunk order, as the serial backend adds them.
    """
    Ap = tiles.column_block_panels(delta, tiles.tile_shape_of(dW)[0])
    Bp = tiles.column_block_panels(a_prev, tiles.tile_shape_of(dW)[1])
    for i in numba.prange(tiles.column_block_passes(Ap)):
        tiles.pack_column_blocks(delta, Ap, *tiles.column_pass_blocks(np.int64(i), Ap))
    for i in numba.prange(tiles.column_block_passes(Bp)):
        tiles.pack_column_blocks(a_prev, Bp, *tiles.column_pass_blocks(np.int64(i), Bp))
    n_chunks = -(-W.shape[0] // GRADIENT_ROWS)
    chunk_squares = np.empty(n_chunks)
    for c in numba.prange(n_threads):
        thread = np.int64(c)
        tile_range = thread_share(thread, Ap.shape[0] * Bp.shape[0], n_threads)
        loops.weight_gradient_tiles(W, inv_n, decay, dW, Ap, Bp, *tile_range)
        chunk_start, chunk_stop = thread_share(thread, n_chunks, n_threads)
        for chunk in range(chunk_start, chunk_stop):
            k_start = chunk * GRADIENT_ROWS
            k_stop = min(k_start + GRADIENT_ROWS, W.shape[0])
            chunk_squares[chunk] = loops.bias_gradients(W, delta, inv_n, db, k_start, k_stop)
    return loops.chunks_total(chunk_squares)


@parallel_kernel
def apply_optimizer(theta, grad, optimizer, hyper, velocity, second_moment, t, n_threads):
    """Update number t of the optimiser on all parameters, the flat buffers shared among the threads."""
    n_parameters = theta.shape[0]
    share = -(-n_parameters // n_threads)
    for c in numba.prange(-(-n_parameters // share)):
        part = slice(c * share, min((c + 1) * share, n_parameters))
        optimizer_step(theta[part], grad[part], optimizer, hyper, velocity[part], second_moment[part], t)
