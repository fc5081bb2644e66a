"""The heavy products of one big layer, tiled, on one thread: the operands packed, then every tile.

Each function computes one formula of the derivation with the register
tiles of :mod:`fastbp.backends.cpu.tiles`: it packs both operands into
panels, then runs the tile loop of :mod:`fastbp.backends.cpu.loops` over
every tile.  :mod:`fastbp.backends.cpu.parallel` has the same steps shared
among threads; each tile is computed in the same order either way, so both
give bitwise the same results.  Which layers are tiled:
:func:`fastbp.backends.cpu.tuning.worth_tiling`.  The ranges of blocks and
tiles start at ``np.int64(0)``: a literal 0 would type, and compile, a
variant of each packing and tile loop of its own beside the threads'.
"""

import numpy as np

from fastbp.backends.cpu import loops, tiles
from fastbp.backends.cpu.tuning import GRADIENT_ROWS, kernel


@kernel
def input_sum(W, b, a_prev, z):
    """z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k, for every unit k and sample n."""
    Ap = tiles.row_block_panels(a_prev, tiles.tile_shape_of(z)[0])
    Bp = tiles.row_block_panels(W, tiles.tile_shape_of(z)[1])
    first = np.int64(0)
    tiles.pack_row_blocks(a_prev, Ap, first, Ap.shape[0])
    tiles.pack_row_blocks(W, Bp, first, Bp.shape[0])
    loops.input_sum_tiles(b, z, Ap, Bp, first, Ap.shape[0] * Bp.shape[0])


@kernel
def backpropagate(W_next, delta_next, code, a, delta):
    """delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k, for every unit j and sample n."""
    Ap = tiles.row_block_panels(delta_next, tiles.tile_shape_of(delta)[0])
    Bp = tiles.column_block_panels(W_next, tiles.tile_shape_of(delta)[1])
    first = np.int64(0)
    tiles.pack_row_blocks(delta_next, Ap, first, Ap.shape[0])
    tiles.pack_column_blocks(W_next, Bp, first, Bp.shape[0])
    loops.backpropagate_tiles(code, a, delta, Ap, Bp, first, Ap.shape[0] * Bp.shape[0])


@kernel
def layer_gradients(W, a_prev, delta, inv_n, decay, dW, db):
    """dC/dW^l_kj and dC/db^l_k of every unit k and input j; returns sum_kj (W^l_kj)^2.

    The sum of squares is added in chunks of ``GRADIENT_ROWS`` rows, then
    the chunks' sums in order, as the parallel backend adds them (summed in
    one running total, LLVM may regroup the additions differently).
    """
    Ap = tiles.column_block_panels(delta, tiles.tile_shape_of(dW)[0])
    Bp = tiles.column_block_panels(a_prev, tiles.tile_shape_of(dW)[1])
    first = np.int64(0)
    tiles.pack_column_blocks(delta, Ap, first, Ap.shape[0])
    tiles.pack_column_blocks(a_prev, Bp, first, Bp.shape[0])
    loops.weight_gradient_tiles(W, inv_n, decay, dW, Ap, Bp, first, Ap.shape[0] * Bp.shape[0])
    n_chunks = -(-W.shape[0] // GRADIENT_ROWS)
    chunk_squares = np.empty(n_chunks)
    for chunk in range(n_chunks):
        k_start = chunk * GRADIENT_ROWS
        chunk_squares[chunk] = loops.bias_gradients(
            W, delta, inv_n, db, k_start, min(k_start + GRADIENT_ROWS, W.shape[0])
        )
    return loops.chunks_total(chunk_squares)
