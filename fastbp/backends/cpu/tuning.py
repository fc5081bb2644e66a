"""Compilation options, tile sizes and thresholds shared by the CPU backends.

The numbers were chosen by measurement on the project's 2-core development
machines (AMD EPYC with AVX2, and with AVX-512; Intel Xeon with AVX-512): the
reasons are given beside each, the figures in benchmarks/README.md ("Tuning
decisions" and the dated sections).
"""

from typing import Final

import llvmlite.binding
import numba

from fastbp.numerics.cache import cached_jit

# "reassoc" lets LLVM reorder the sums of the inner loops so it can vectorise
# them (without it epochs ran several times slower); "contract" allows fused
# multiply-add.  The "nnan"/"ninf" flags of fastmath=True are left out on
# purpose: the divergence check relies on ``math.isfinite``.
FASTMATH = {"reassoc", "contract", "nsz"}
# The formulas that map elements to elements, with no long sum for LLVM to vectorise (delta^L, the
# delta recursion's sums of four products), keep the order of operations they are written in:
# "contract" (fused multiply-add) only.  With "reassoc", LLVM may group a product of three factors,
# or a sum of four products, one way in one compiled copy of such a loop and another way in another:
# the threaded kernel loaded from Numba's cache computed delta^L otherwise than output_delta alone,
# in the last bit of its vectorised columns, so that two threads and one differed
# (tests/test_parallel.py; benchmarks/README.md, "The last bit of delta^L on two threads").
ORDERED_FASTMATH = {"contract"}
# NumPy's error model: a float division by zero gives inf or NaN instead of
# raising ZeroDivisionError.  The check Python's model inserts before every
# division kept the loops of sigmoids from vectorising.
ERROR_MODEL: Final = "numpy"

# Rows of W^l per tile of the input sum: about 64 Ki values (256 KiB in
# float32), which stay in the L2 cache while every sample of the batch uses them.
UNITS_TILE = 65536
# Rows of dW^l per chunk of the gradient pass: the chunks' sums of squares
# are added in order, so the chunks must not depend on the thread count.  A
# multiple of four: the register blocks of loops.layer_gradients (four rows)
# start at a chunk's first row.  Four, the least, so that the threads' shares
# of chunks are even: 100 rows gave 2 threads 64 and 36 in chunks of 16, 52 and
# 48 in chunks of 4; the rows' work is the same either way, since each block of
# four rows reads the whole batch (benchmarks/README.md, "Deltas through small layers").
GRADIENT_ROWS = 4
# A layer of at most FEW_INPUTS inputs, and at least as many units (and 16), runs its input sums and
# gradients with the units innermost (loops.input_sum_by_inputs, loops.gradients_by_inputs): with
# the inputs innermost, a loop shorter than LLVM's vector loop (four vectors of j at a time) ran
# one value at a time, iris' first layer (4 inputs, 16 to 64 units) 1.3 to 5 times slower, and the
# breast cancer's (30 inputs, 32 or 64 units) 1.1 to 2.5 times.  With fewer units than inputs
# (30 -> 16), from 48 inputs on, or over fewer rows (the threads' chunks of four rows of
# gradients), the inputs innermost ran as fast or faster (benchmarks/README.md, "Layers of few
# inputs, units innermost").
FEW_INPUTS = 32

# A layer goes to the threads when its batch needs at least this many
# multiply-adds (n_samples * n_l * n_{l-1}): below it, starting a parallel
# region (some microseconds) costs more than the second core saves.
PARALLEL_MIN_WORK = 1 << 18
# The optimiser's update goes to the threads from this many parameters on, indexed by the
# optimiser's code (fastbp.numerics.optim.SGD, ADAM): SGD with momentum gained on 2 threads from
# about 16000 parameters; Adam's square root and division per parameter gained from 2000 on
# (benchmarks/README.md, "Small networks").
PARALLEL_MIN_PARAMETERS = (1 << 14, 1 << 11)

# A layer's products go through the register tiles (fastbp.backends.cpu.tiles) from (samples,
# multiply-adds) per batch on, each product its own threshold, where the tiles measured faster
# than the register-blocked loops on 2 threads in both dtypes, on Intel's AVX-512 and AMD's AVX2
# cores alike (benchmarks/README.md, "Register blocks of four", "Register tiles on AVX2").  The
# input sums pack W^l, a pass over the whole layer that a batch of 64 does not repay (even 64 x
# 1024 x 1024 ran slower tiled with AVX-512); the deltas and the gradients won on 128 x 512 x 512
# and 64 x 1024 x 1024, and lost on mnistlike's 64 x 784 x 128 and on 64 x 256 x 256.
TILED_INPUT_SUMS = (128, 1 << 25)
TILED_DELTAS = (64, 1 << 24)
TILED_GRADIENTS = (64, 1 << 24)


def cpu_features() -> str:
    """The features Numba compiles for: ``NUMBA_CPU_FEATURES`` if set, else the host's."""
    return numba.config.CPU_FEATURES or llvmlite.binding.get_host_cpu_features().flatten()


def has_avx512(features: str) -> bool:
    """Whether a feature string (``+avx2,+avx512f,...``) enables AVX-512 Foundation."""
    return "+avx512f" in features.split(",")


# The widest vectors of the CPU Numba compiles for: the register tiles' shape follows them.
VECTOR_BITS = 512 if has_avx512(cpu_features()) else 256
# Units per register block of the input sums (fastbp.backends.cpu.loops.input_sum): four
# samples by four units keep 16 running sums and 8 operands in registers, which AVX-512's 32
# vector registers hold (faster than two units on mnistlike's and scikit-learn's default
# layers) and AVX2's 16 do not (the sums spilled, and ran slower): benchmarks/README.md,
# "Register blocks of four".
UNITS_PER_BLOCK = 4 if VECTOR_BITS == 512 else 2


def tiles_may_run(sizes, batch_size: int, sparse: bool = False) -> bool:
    """Whether batches of up to ``batch_size`` samples send some product of a network of ``sizes`` to the tiles.

    :func:`worth_tiling` for the largest batch, asked in Python before a fit:
    the input sums and the gradients of every layer (from layer 2 on for
    ``sparse`` inputs, whose layer 1 runs :mod:`fastbp.backends.cpu.csr`), the
    deltas through ``W^l`` from layer 2 on.
    """
    if batch_size < min(TILED_INPUT_SUMS[0], TILED_DELTAS[0], TILED_GRADIENTS[0]):
        return False
    work = [batch_size * int(sizes[l]) * int(sizes[l - 1]) for l in range(1, len(sizes))]
    if sparse:
        work[0] = 0
    products = [(TILED_INPUT_SUMS, work), (TILED_GRADIENTS, work), (TILED_DELTAS, work[1:])]
    return any(batch_size >= samples and max(layers, default=0) >= least for (samples, least), layers in products)


def kernel(function):
    """Compile ``function`` for the CPU, cached on disk between processes (:mod:`fastbp.numerics.cache`)."""
    return cached_jit(fastmath=FASTMATH, error_model=ERROR_MODEL)(function)


def ordered_kernel(function):
    """:func:`kernel` with :data:`ORDERED_FASTMATH`: each value rounds as the formula is written, in every copy."""
    return cached_jit(fastmath=ORDERED_FASTMATH, error_model=ERROR_MODEL)(function)


def inlined_kernel(function):
    """:func:`kernel`, whose body compiled callers take in as their own (Numba IR inlining).

    For the layer-by-layer steps that :func:`train_epochs` calls once per
    mini-batch: called from Python they compile as usual; called from compiled
    code they add no library of their own, so the loops they call are
    optimised and turned into machine code once for the training loop rather
    than once more per step (each Numba library links, re-optimises and
    re-emits all the code it calls).
    """
    return cached_jit(fastmath=FASTMATH, error_model=ERROR_MODEL, inline="always")(function)


def parallel_kernel(function):
    """Compile ``function`` with its ``prange`` loops spread over Numba's threads."""
    return cached_jit(fastmath=FASTMATH, error_model=ERROR_MODEL, parallel=True)(function)


@kernel
def units_tile(n_inputs):
    """How many rows of an ``(n_l, n_inputs)`` weight matrix make one tile: a multiple of four."""
    return max(4, UNITS_TILE // n_inputs // 4 * 4)


@inlined_kernel
def few_inputs(n_inputs, n_units):
    """Whether sums over ``n_inputs`` inputs for ``n_units`` units run with the units innermost (:data:`FEW_INPUTS`).

    Inlined where it is called: a kernel of its own would be a call for every layer and batch.
    """
    return n_inputs <= FEW_INPUTS and n_units >= max(16, n_inputs)


@kernel
def aligned_share(count, n_threads):
    """``count`` items shared by ``n_threads``: the items per thread, rounded up to a multiple of four.

    The heavy loops work on blocks of two or four (units, or samples) counted
    from the start of their range, and an item left out of a block is computed
    in another order (so rounded differently): shares that start at multiples
    of four block the items as the serial loop does, whatever the thread count.
    """
    share = -(-count // n_threads)
    return -(-share // 4) * 4


@kernel
def worth_threads(n_threads, n_samples, W):
    """Whether a layer's batch has enough work to share between ``n_threads`` threads."""
    return n_threads > 1 and n_samples * W.shape[0] * W.shape[1] >= PARALLEL_MIN_WORK


@kernel
def worth_csr_threads(n_threads, n_nonzeros, W):
    """:func:`worth_threads` for layer 1 of CSR inputs: a multiply-add per nonzero and unit, a pass over ``W^1``."""
    return n_threads > 1 and (n_nonzeros + W.shape[1]) * W.shape[0] >= PARALLEL_MIN_WORK


@inlined_kernel
def worth_tiling(n_samples, W, threshold):
    """Whether a product of a layer's batch is big enough for the register tiles.

    ``threshold`` is the product's ``(samples, multiply-adds)``: :data:`TILED_INPUT_SUMS`,
    :data:`TILED_DELTAS` or :data:`TILED_GRADIENTS`.  Inlined where it is called: those
    constants type as literals, and a function of its own compiled a variant for each.
    """
    return n_samples >= threshold[0] and n_samples * W.shape[0] * W.shape[1] >= threshold[1]
