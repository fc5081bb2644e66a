"""The weight gradients of a layer of few inputs: rows of dC/dW^l held in registers over the whole batch.

    dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj

:func:`fastbp.backends.cpu.loops.chunk_gradients` runs ``j``, the inputs,
innermost, with each dW^l_kj loaded and stored again for every four samples.
For a layer of a few inputs (the four of the iris data) that loop is shorter
than LLVM's vectorised one and runs one value at a time.  Here a row of
a^{l-1} fits in one or two vectors: the sums of four rows of dW^l (or of one)
stay in registers (:func:`fastbp.backends.cpu.tiles.register_tile`) while
``n`` runs over the batch, each step broadcasting delta^l_k(n) and multiplying
it by the vector a^{l-1}(n) read where it is, contiguous in its row (the
register tiles' outer product, without panels).  Each sum runs over the
samples in order, one fused multiply-add per sample, the same in every copy
of the code: one thread or many, bitwise the same.
"""

from numba import carray
from numba.extending import overload, register_jitable

from fastbp.backends.cpu.tiles import LANES, multiply_add_lanes, prefer_vector_width, register_tile
from fastbp.backends.cpu.tuning import ERROR_MODEL, ORDERED_FASTMATH, VECTOR_BITS

# Rows of dW^l per block: the chunks of the gradient pass (tuning.GRADIENT_ROWS) start at multiples of four.
BLOCK_ROWS = 4


def has_few_inputs(a_prev):
    """Whether ``a_prev`` (a^{l-1}, ``(N, n_{l-1})``) has few enough inputs for this module's sums.

    Fewer than two vectors hold, of which at most one is left over after the
    whole and half vectors: measured against the register-blocked loop
    (benchmarks/README.md, "Layers of few inputs"), the sums were faster
    there; with more inputs they read a^{l-1} a block of columns at a time and
    were slower, and with two or three left over (float32, 6, 7, 10 or 11
    inputs) the one-by-one sums over ``n``, a chain of dependent additions
    per row, were slower too.
    """
    raise NotImplementedError("has_few_inputs is compiled code: call it from a Numba function")


@overload(has_few_inputs)
def has_few_inputs_for(a_prev):
    """:func:`has_few_inputs` with the dtype's lanes as constants."""
    lanes = LANES[a_prev.dtype.name]
    bound, half = 2 * lanes, max(lanes // 2, 1)
    return lambda a_prev: a_prev.shape[1] < bound and a_prev.shape[1] % half <= 1


def block_sums(a_prev, delta, dW, k):
    """dW[k + r, j] = sum_n delta[n, k + r] a_prev[n, j] for the four rows r of the block from ``k``."""
    raise NotImplementedError("block_sums is compiled code: call it from a Numba function")


def row_sums(a_prev, delta, dW, k):
    """dW[k, j] = sum_n delta[n, k] a_prev[n, j]: one row."""
    raise NotImplementedError("row_sums is compiled code: call it from a Numba function")


def group_sums_of(rows: int, width: int):
    """dW[k + r, j + v] = sum_n delta[n, k + r] a_prev[n, j + v] for ``rows`` rows and a vector of ``width`` inputs.

    The sums in a register tile over all ``n``, each step one multiply-add of
    the vector a_prev[n, j .. j + width) per row (``rows`` and ``width`` are
    constants of the compiled function).
    """
    size = rows * width

    @register_jitable(fastmath=ORDERED_FASTMATH, error_model=ERROR_MODEL)
    def group_sums(a_prev, delta, dW, k, j):
        prefer_vector_width(VECTOR_BITS)
        n_samples, n_inputs = a_prev.shape
        pointer = register_tile(a_prev.dtype, size)
        sums = carray(pointer, (rows, width))
        for r in range(rows):
            for v in range(width):
                sums[r, v] = 0.0
        for n in range(n_samples):
            for r in range(rows):
                multiply_add_lanes(pointer, r * width, a_prev, n * n_inputs + j, delta[n, k + r], width)
        for r in range(rows):
            for v in range(width):
                dW[k + r, j + v] = sums[r, v]

    return group_sums


def sums_of_rows(a_prev, rows: int):
    """The compiled :func:`block_sums` (``rows`` 4) or :func:`row_sums` (1) for the dtype of ``a_prev``.

    The inputs go a vector of ``lanes`` at a time, then half a vector, then
    one by one, each group's sums in a register tile of its own (one tile
    reused at two widths stayed in memory).  Compiled without reassociation:
    LLVM may not split a sum over ``n`` into partial sums, which it could do
    one way in one caller's copy and another way in another's.
    """
    lanes = LANES[a_prev.dtype.name]
    half = max(lanes // 2, 1)
    whole_vector, half_vector = group_sums_of(rows, lanes), group_sums_of(rows, half)

    def sums(a_prev, delta, dW, k):
        n_inputs = a_prev.shape[1]
        j = 0
        if j + lanes <= n_inputs:
            whole_vector(a_prev, delta, dW, k, j)
            j += lanes
        if half > 1 and j + half <= n_inputs:
            half_vector(a_prev, delta, dW, k, j)
            j += half
        # The inputs left over, one at a time: each row's sum in a register of its own.
        pointer = register_tile(a_prev.dtype, rows)
        ones = carray(pointer, rows)
        for jj in range(j, n_inputs):
            for r in range(rows):
                ones[r] = 0.0
            for n in range(a_prev.shape[0]):
                x = a_prev[n, jj]
                for r in range(rows):
                    ones[r] += delta[n, k + r] * x
            for r in range(rows):
                dW[k + r, jj] = ones[r]

    return sums


@overload(block_sums, jit_options={"fastmath": ORDERED_FASTMATH, "error_model": ERROR_MODEL})
def block_sums_for(a_prev, delta, dW, k):
    """:func:`block_sums` for the dtype of ``a_prev``."""
    return sums_of_rows(a_prev, BLOCK_ROWS)


@overload(row_sums, jit_options={"fastmath": ORDERED_FASTMATH, "error_model": ERROR_MODEL})
def row_sums_for(a_prev, delta, dW, k):
    """:func:`row_sums` for the dtype of ``a_prev``."""
    return sums_of_rows(a_prev, 1)
