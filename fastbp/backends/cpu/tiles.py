"""Register tiles: the outer-product micro-kernel of the heavy loops, and the panels it reads.

The three heavy formulas of the derivation are sums of products over one
index ``t`` (``j`` for the input sums, ``k`` for the delta recursion, ``n``
for the gradients)::

    C[i, u] = sum_t A[i, t] B[t, u]

For big layers :mod:`fastbp.backends.cpu.loops` computes them a tile of
``C`` at a time, the way tuned matrix products do (Goto and van de Geijn,
"Anatomy of high-performance matrix multiplication"):

* the operands are first copied into *panels* (:func:`pack_row_blocks`,
  :func:`pack_column_blocks`): ``Ap[block, t, r]`` holds ``TILE_ROWS`` rows
  ``i`` of ``A`` and ``Bp[panel, t, u]`` holds ``TILE_UNITS`` columns ``u`` of
  ``B``, ``t`` outermost, so that the innermost loop reads both contiguously,
  padded with zeros to whole tiles;
* :func:`tile_sum` keeps the ``TILE_ROWS x TILE_UNITS`` tile of sums in
  registers while ``t`` runs: each step broadcasts one ``A[i, t]`` and
  multiplies it by the vector ``B[t, u .. u + TILE_UNITS)`` (``TILE_ROWS``
  times ``TILE_UNITS / lanes`` independent fused multiply-adds per step, one
  load of ``B`` per ``TILE_ROWS`` of them).

The tile must live in a stack buffer (:func:`register_tile`): LLVM keeps
an ``alloca`` that nothing else can alias in registers, where a heap array,
which the operands might alias, would be loaded and stored at every step.
Each row of the tile is updated a vector at a time (:func:`multiply_add_lanes`,
``LANES`` elements of the CPU's widest vector): left to itself, LLVM unrolls
a loop of fewer than 48 units whole and never vectorises it, so the tiles
that fit AVX2's 16 registers (6 rows of two vectors) ran at a tenth of the
machine's peak.  The shape is fixed per dtype and vector ISA when this module
is imported, from the CPU's features (:data:`TILE_SHAPES`; benchmarks/README.md,
"Register tiles" and "Register tiles on AVX2", has the figures of each shape).
"""

import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from fastbp.backends.cpu.tuning import ERROR_MODEL, FASTMATH, VECTOR_BITS, kernel

# (TILE_ROWS, TILE_UNITS) per dtype.  With AVX-512 (32 registers of 64 bytes) a float32 tile
# of 8 x 48 and a float64 tile of 4 x 48 hold 24 registers each, which leaves room for the row
# of B and the broadcast; with AVX2 (16 registers of 32 bytes) 6 x 16 float32 or 6 x 8 float64
# hold 12, beside two for the row of B and one for the broadcast.  The more rows a tile has,
# the more multiply-adds each row of B loaded from the cache serves: on Intel's AVX-512 cores
# the 4 x 64 float32 tile waited on the cache where 8 x 48 did not.  The shapes were the
# fastest measured of those tried (benchmarks/README.md, "Register tiles", "Register tiles on AVX2").
TILE_SHAPES = (
    {"float32": (8, 48), "float64": (4, 48)} if VECTOR_BITS == 512 else {"float32": (6, 16), "float64": (6, 8)}
)
# Elements of one vector register per dtype: the step of multiply_add_lanes.
LANES = {"float32": VECTOR_BITS // 32, "float64": VECTOR_BITS // 64}


def tile_shape(dtype: str) -> tuple[int, int]:
    """``(TILE_ROWS, TILE_UNITS)`` of the tiles in ``dtype`` (``"float32"`` or ``"float64"``)."""
    return TILE_SHAPES[dtype]


@intrinsic
def register_tile(typingctx, dtype, count):
    """A pointer to ``count`` (a compile-time constant) elements of ``dtype`` on the caller's stack.

    The memory lives as long as the calling function's frame; view it with
    :func:`numba.carray`.
    """
    if not isinstance(count, types.IntegerLiteral):
        return None
    element = dtype.dtype

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_data_type(element), size=count.literal_value)

    return types.CPointer(element)(dtype, count), codegen


@intrinsic
def prefer_vector_width(typingctx, bits):
    """Compile the calling function with vectors of ``bits`` (a compile-time constant) where it can, and apart.

    Sets LLVM's ``"prefer-vector-width"`` attribute on the function being
    compiled, and ``noinline`` so that its callers, compiled with the
    process's default, do not take in its body.  On CPUs whose LLVM tuning
    prefers 256-bit vectors though they have AVX-512 (Intel's server parts
    from Skylake on), this gives the tile its 512-bit registers without
    changing how Numba compiles anything else, the user's own code included.
    """
    if not isinstance(bits, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        attributes = builder.function.attributes
        # A string attribute, which llvmlite's checked ``add`` does not know.
        set.add(attributes, f'"prefer-vector-width"="{bits.literal_value}"')
        attributes.add("noinline")
        return context.get_dummy_value()

    return types.none(bits), codegen


@intrinsic
def multiply_add_lanes(typingctx, sums, at, B, start, x, lanes):
    """sums[at + u] += x * B.flat[start + u] for u in range(lanes), as one vector multiply-add.

    ``sums`` is a pointer (:func:`register_tile`), ``B`` a C-contiguous array
    read from its flat element ``start``, and ``lanes`` a compile-time constant.
    LLVM's ``fmuladd`` fuses the multiply and the add where the CPU has FMA.
    Written as vectors, the tile's rows stay vectors: LLVM splits the
    ``alloca`` into one register per vector instead of one per element.
    """
    if not isinstance(lanes, types.IntegerLiteral) or not isinstance(B, types.Array) or B.layout != "C":
        return None
    if not isinstance(sums, types.CPointer) or not sums.dtype == B.dtype == x:
        return None  # one float type throughout: the vectors reinterpret the memory they read

    def codegen(context, builder, signature, args):
        sums_pointer, at_value, B_value, start_value, x_value, _ = args
        element = context.get_data_type(signature.args[4])
        count = lanes.literal_value
        vector = ir.VectorType(element, count)
        B_data = context.make_array(signature.args[2])(context, builder, B_value).data
        B_pointer = builder.bitcast(builder.gep(B_data, [start_value]), vector.as_pointer())
        sums_pointer = builder.bitcast(builder.gep(sums_pointer, [at_value]), vector.as_pointer())
        alignment = signature.args[4].bitwidth // 8
        broadcast = builder.shuffle_vector(
            builder.insert_element(ir.Constant(vector, ir.Undefined), x_value, ir.Constant(ir.IntType(32), 0)),
            ir.Constant(vector, ir.Undefined),
            ir.Constant(ir.VectorType(ir.IntType(32), count), [0] * count),
        )
        fmuladd = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vector, [vector] * 3),
            f"llvm.fmuladd.v{count}f{signature.args[4].bitwidth}",
        )
        product_sum = builder.call(
            fmuladd,
            [broadcast, builder.load(B_pointer, align=alignment), builder.load(sums_pointer, align=alignment)],
        )
        builder.store(product_sum, sums_pointer, align=alignment)
        return context.get_dummy_value()

    return types.none(sums, at, B, start, x, lanes), codegen


def tile_sum(Ap, Bp, tile):
    """tile[r, u] = sum_t Ap[t, r] Bp[t, u]: one tile of a product, from one block of each operand's panels."""
    raise NotImplementedError("tile_sum is compiled code: call it from a Numba function")


@overload(tile_sum, jit_options={"fastmath": FASTMATH, "error_model": ERROR_MODEL})
def tile_sum_for(Ap, Bp, tile):
    """:func:`tile_sum` for the dtype of ``Ap``, with that dtype's tile shape and lanes as constants."""
    rows, units = tile_shape(Ap.dtype.name)
    lanes = LANES[Ap.dtype.name]
    size = rows * units

    def tile_sum_of_shape(Ap, Bp, tile):
        prefer_vector_width(VECTOR_BITS)
        sums_pointer = register_tile(Ap.dtype, size)
        sums = carray(sums_pointer, (rows, units))
        for r in range(rows):
            for u in range(units):
                sums[r, u] = 0.0
        # sums[r, u] += Ap[t, r] Bp[t, u], a vector of lanes u at a time (Bp[t] holds units contiguous)
        for t in range(Ap.shape[0]):
            for r in range(rows):
                A_tr = Ap[t, r]
                for u in range(0, units, lanes):
                    multiply_add_lanes(sums_pointer, r * units + u, Bp, t * units + u, A_tr, lanes)
        for r in range(rows):
            for u in range(units):
                tile[r, u] = sums[r, u]

    return tile_sum_of_shape


def tile_shape_of(M):
    """``(TILE_ROWS, TILE_UNITS)`` for arrays of the dtype of ``M``, as int64 (:func:`tile_sum` has its own)."""
    raise NotImplementedError("tile_shape_of is compiled code: call it from a Numba function")


@overload(tile_shape_of)
def tile_shape_for(M):
    """:func:`tile_shape_of` for the dtype of ``M``."""
    rows, units = tile_shape(M.dtype.name)
    # int64, not literals: each literal would type, and compile, a variant of the packing functions.
    return lambda M: (np.int64(rows), np.int64(units))


# Bytes of panels of B that one pass over the blocks of A reuses (:func:`block_in_panel_group`):
# half the L2 cache of the Intel cores measured (2 MiB), all of it on AMD's Zen 4 (1 MiB).
PANEL_GROUP_BYTES = 1 << 20


@kernel
def panels_per_group(Bp):
    """How many panels of ``Bp`` make a group of :func:`block_in_panel_group` (at least 1)."""
    return max(1, PANEL_GROUP_BYTES // (Bp.shape[1] * Bp.shape[2] * Bp.itemsize))


@kernel
def block_in_panel_group(i, n_blocks, n_panels, per_group):
    """Tile ``i``'s ``(block, panel)``: blocks of A one after another within a group of B's panels.

    The panels go in groups of ``per_group`` (:func:`panels_per_group`, fewer
    in the last); tile ``i`` is in group ``i // (n_blocks * per_group)``,
    whose tiles run block by block, each block over the group's panels.  A
    block of A then stays in the L1 cache for the group's panels, and the
    group's panels in the L2 cache for all the blocks: where all of B's panels
    do not fit there (wide float64 layers' gradients: 2.2 MB), each block
    read them again from memory.
    """
    group = i // (n_blocks * per_group)
    first_panel = group * per_group
    in_group = min(per_group, n_panels - first_panel)
    within = i - group * n_blocks * per_group
    return within // in_group, first_panel + within % in_group


# Bytes of a cache line: the panels start on one (:func:`line_aligned_panels`).
CACHE_LINE = 64


@kernel
def line_aligned_panels(n_panels, length, width, M):
    """Uninitialised panels ``(n_panels, length, width)`` of ``M``'s dtype, starting on a cache line.

    Each step of :func:`tile_sum` loads a row of a panel of B, ``TILE_UNITS``
    elements (whole cache lines): from a panel that starts mid-line, every
    vector load straddles two lines.  Numba's ``np.empty`` gave 32-byte
    alignment here, and the tile ran faster from a 64-byte boundary
    (benchmarks/README.md, "Panels on cache lines", has the figures).  The
    panels are a view into a slightly larger buffer.
    """
    count = n_panels * length * width
    flat = np.empty(count + CACHE_LINE // M.itemsize, dtype=M.dtype)
    first = (-flat.ctypes.data % CACHE_LINE) // M.itemsize
    return flat[first : first + count].reshape((n_panels, length, width))


@kernel
def row_block_panels(M, width):
    """Room for :func:`pack_row_blocks` of ``M`` in blocks of ``width`` rows."""
    return line_aligned_panels(-(-M.shape[0] // width), M.shape[1], width, M)


@kernel
def column_block_panels(M, width):
    """Room for :func:`pack_column_blocks` of ``M`` in blocks of ``width`` columns."""
    return line_aligned_panels(-(-M.shape[1] // width), M.shape[0], width, M)


@kernel
def pack_row_blocks(M, panels, block_start, block_stop):
    """panels[block, t, r] = M[block * width + r, t], zeros past the last row of ``M``.

    ``width = panels.shape[2]``: each block holds ``width`` rows of ``M``
    turned so that the index along a row, ``t``, is outermost.  Four rows at
    a time: each pass along ``t`` writes four neighbouring elements of each
    row of the panel, where a pass per row came back to every cache line of
    the panel ``width / 4`` times more often (benchmarks/README.md, "Deltas
    through small layers", has the figures).  The views are indexed from 0,
    so that Numba's checks for negative indices fall away.
    """
    width = panels.shape[2]
    for block in range(block_start, block_stop):
        first = block * width
        present = max(0, min(width, M.shape[0] - first))
        rows, panel = M[first : first + present], panels[block]
        quads_stop = present // 4 * 4
        for r in range(0, quads_stop, 4):
            for t in range(M.shape[1]):
                panel[t, r] = rows[r, t]
                panel[t, r + 1] = rows[r + 1, t]
                panel[t, r + 2] = rows[r + 2, t]
                panel[t, r + 3] = rows[r + 3, t]
        for r in range(quads_stop, present):
            for t in range(M.shape[1]):
                panel[t, r] = rows[r, t]
        for t in range(M.shape[1]):
            for r in range(present, width):
                panel[t, r] = 0.0


# Blocks of columns that one pass of a thread packs (:func:`pack_column_blocks`): each pass reads a
# stretch of every row of M (with AVX2's float32 panels, 8 x 16 columns: half a kilobyte) where
# one block per pass read a cache line.  Chosen, not tuned: only one block against all of them was
# measured (benchmarks/README.md, "Register tiles on AVX2").
COLUMN_BLOCKS_PER_PASS = 8


@kernel
def column_block_passes(panels):
    """How many passes of :data:`COLUMN_BLOCKS_PER_PASS` blocks pack ``panels``."""
    return -(-panels.shape[0] // COLUMN_BLOCKS_PER_PASS)


@kernel
def column_pass_blocks(i, panels):
    """The blocks ``[start, stop)`` of pass ``i`` of :func:`column_block_passes`."""
    start = i * COLUMN_BLOCKS_PER_PASS
    return start, min(start + COLUMN_BLOCKS_PER_PASS, panels.shape[0])


@kernel
def pack_column_blocks(M, panels, block_start, block_stop):
    """panels[block, t, u] = M[t, block * width + u], zeros past the last column of ``M``.

    ``width = panels.shape[2]``: each block holds ``width`` columns of ``M``,
    each row ``t`` of the block contiguous.  Row ``t`` of ``M`` outermost, so
    that ``M`` is read once from start to end: block by block, each block
    read one cache line from each row, a page of ``M`` per line for wide
    layers, and the copy ran at a third of the speed (benchmarks/README.md,
    "Register tiles on AVX2").  Views indexed from 0, as in
    :func:`pack_row_blocks`.
    """
    width = panels.shape[2]
    for t in range(M.shape[0]):
        row = M[t]
        for block in range(block_start, block_stop):
            first = block * width
            present = min(width, M.shape[1] - first)
            source, target = row[first : first + present], panels[block, t]
            for u in range(present):
                target[u] = source[u]
            for u in range(present, width):
                target[u] = 0.0
