"""Thread blocks, tiles and the choice of kernels, read once from the environment.

The module settings ``TILED_MIN_WIDTH`` and ``FUSED_MAX_WORK`` choose the kernels;
the host code reads them from here at each call, so that tests can force each kind.
"""

import os

BLOCK = int(os.environ.get("FASTBP_CUDA_BLOCK", "16"))
REGISTERS = int(os.environ.get("FASTBP_CUDA_REGISTERS", "4"))
if BLOCK < 1 or BLOCK & (BLOCK - 1) or REGISTERS < 1:
    raise ValueError(
        f"FASTBP_CUDA_BLOCK must be a power of two and FASTBP_CUDA_REGISTERS positive, got {BLOCK}, {REGISTERS}"
    )
THREADS = BLOCK * BLOCK
# A tiled kernel's block computes a TILE x TILE tile of outputs.
TILE = BLOCK * REGISTERS
# The squared weights are summed in at most this many partial sums (one per
# block of THREADS weights), then in one block.
PARTIAL_SUMS = 128

# Choice of kernels (module settings, so that tests can force each kind):
# a product whose output and depth are all at least TILED_MIN_WIDTH uses the
# tiled kernels; an epoch whose batch size times parameter count is at most
# FUSED_MAX_WORK runs as one fused kernel in one block.
TILED_MIN_WIDTH = 128
FUSED_MAX_WORK = 2**18


def blocks(count: int, per_block: int) -> int:
    """The number of blocks of ``per_block`` threads that cover ``count`` items (at least 1)."""
    return max(1, -(-count // per_block))


def grid_2d(rows: int, columns: int, per_thread: int = 1) -> tuple:
    """``(grid, block)`` for one thread per ``per_thread x per_thread`` elements of a ``rows x columns`` output.

    ``x`` runs along the columns (the contiguous index), ``y`` along the rows.
    """
    edge = BLOCK * per_thread
    return (blocks(columns, edge), blocks(rows, edge)), (BLOCK, BLOCK)


def grid_1d(count: int) -> tuple:
    """``(grid, block)`` for one thread per item."""
    return blocks(count, THREADS), THREADS
