"""The register tiles: their products against NumPy on this CPU, and their vector width for other CPUs.

The width cases run nothing they compile (it may not run on this CPU): each
compiles the tile loop of the input sums for a forced target in a child
process with its own empty cache, and reads which registers its
multiply-adds use.  The register blocks of the input sums run for the host
and, in a child process, with AVX2's features (which every CPU with AVX-512
runs too).
"""

import numba
import numpy as np
import pytest
from conftest import run_probe

from fastbp.backends.cpu import parallel, products, tiles
from fastbp.numerics.formulas import SIGMOID

BASE = "+sse,+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16,+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe"
AVX512 = "+avx512f,+avx512cd,+avx512bw,+avx512dq,+avx512vl"
# (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES): an AVX2-only CPU, an Intel server CPU whose LLVM tuning
# prefers 256-bit vectors, an AMD one whose tuning does not.
TARGETS = {
    "haswell": ("haswell", BASE + ",-avx512f"),
    "sapphirerapids": ("sapphirerapids", BASE + "," + AVX512),
    "znver4": ("znver4", BASE + "," + AVX512),
}

PROBE = """
import json, re
from numba import types
from fastbp.backends.cpu import loops, tiles

def fma_registers(dispatcher, signature):
    dispatcher.compile(signature)
    assembly = dispatcher.inspect_asm(signature)
    return sorted(set(re.findall(r"vfmadd\\w+\\s+[^\\n]*?%([xyz]mm)", assembly)))

def stack_in_hot_loop(dispatcher, signature):
    # the block with the most multiply-adds, up to its first jump: the loop over t, without what follows it
    blocks = re.split(r"\\n\\.LBB\\w+:", dispatcher.inspect_asm(signature))
    loop = max(blocks, key=lambda block: block.count("vfmadd")).split("\\tj")[0]
    return len(re.findall(r"\\(%rsp\\)", loop))

f32 = types.float32
tiled = (f32[::1], f32[:, ::1], f32[:, :, ::1], f32[:, :, ::1], types.int64, types.int64)
blocked = (f32[:, ::1], f32[::1], f32[:, ::1], f32[:, ::1], types.int64, types.int64)
print(json.dumps({
    "bits": tiles.VECTOR_BITS,
    "shape": tiles.TILE_SHAPES["float32"],
    "tiles": fma_registers(loops.input_sum_tiles, tiled),
    "tile_spills": stack_in_hot_loop(loops.input_sum_tiles, tiled),
    "loops": fma_registers(loops.input_sum, blocked),
}))
"""


def compiled_for(target, tmp_path):
    name, features = TARGETS[target]
    return run_probe(PROBE, tmp_path, NUMBA_CPU_NAME=name, NUMBA_CPU_FEATURES=features)


def test_avx2_cpus_get_256_bit_tiles_of_six_rows(tmp_path):
    found = compiled_for("haswell", tmp_path)
    assert found["bits"] == 256 and found["shape"] == [6, 16]
    # 12 vectors of sums, two of a row of B and a broadcast: AVX2's 16 registers, none spilled
    assert found["tiles"] == ["ymm"] and found["tile_spills"] == 0


@pytest.mark.parametrize("target", ["sapphirerapids", "znver4"])
def test_avx512_cpus_get_512_bit_tiles_whatever_llvm_prefers(target, tmp_path):
    found = compiled_for(target, tmp_path)
    assert found["bits"] == 512 and found["shape"] == [8, 48]
    assert found["tiles"] == ["zmm"] and found["tile_spills"] == 0


def test_the_attribute_changes_only_the_tiles(tmp_path):
    # On Intel's server CPUs LLVM prefers 256-bit vectors: the rest of the code keeps them.
    assert "zmm" not in compiled_for("sapphirerapids", tmp_path)["loops"]


# A batch of 129 by layers of 515 and 517 units: partial tiles on every side.  300 samples by 1000
# inputs: the gradients' panels of a^{l-1} (300 x 48 each) make two groups in float32 and three in
# float64 (tiles.block_in_panel_group).
SHAPES = [(129, 515, 517), (37, 70, 130), (4, 3, 65), (300, 1000, 9)]
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_tiled_products_match_numpy_on_one_and_two_threads(shape, dtype):
    # Called directly, whatever the threshold says, so that the tiles are checked on any CPU.
    N, n_in, n_out = shape
    rng = np.random.default_rng(sum(shape))
    a_prev = rng.standard_normal((N, n_in)).astype(dtype)
    W, b = rng.standard_normal((n_out, n_in)).astype(dtype), rng.standard_normal(n_out).astype(dtype)
    delta = rng.standard_normal((N, n_out)).astype(dtype)
    a = rng.random((N, n_in)).astype(dtype)
    inv_n, decay = np.dtype(dtype).type(1 / N), np.dtype(dtype).type(0.1 / N)
    wide = {"input_sum": W.astype(np.float64), "a_prev": a_prev.astype(np.float64), "delta": delta.astype(np.float64)}
    expected = {
        "z": wide["a_prev"] @ wide["input_sum"].T + b,
        "delta_below": (wide["delta"] @ wide["input_sum"]) * a * (1 - a),  # sigmoid' from a
        "dW": wide["delta"].T @ wide["a_prev"] * inv_n + decay * wide["input_sum"],
        "db": wide["delta"].mean(axis=0),
    }
    results = []
    for n_threads in (1, 2):
        z, below = np.empty((N, n_out), dtype), np.empty((N, n_in), dtype)
        dW, db = np.empty((n_out, n_in), dtype), np.empty(n_out, dtype)
        if n_threads == 1:
            products.input_sum(W, b, a_prev, z)
            products.backpropagate(W, delta, SIGMOID, a, below)
            squares = products.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db)
        else:
            parallel.tiled_input_sum(W, b, a_prev, z, n_threads)
            parallel.tiled_backpropagate(W, delta, SIGMOID, a, below, n_threads)
            squares = parallel.tiled_layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, n_threads)
        for name, got in (("z", z), ("delta_below", below), ("dW", dW), ("db", db)):
            scale = max(1.0, np.abs(expected[name]).max())
            assert np.abs(got - expected[name]).max() <= TOLERANCE[dtype] * scale * n_in, name
        assert squares == pytest.approx(float((wide["input_sum"] ** 2).sum()), rel=1e-5)
        results.append((z, below, dW, db, squares))
    for one, two in zip(*results):
        assert np.array_equal(one, two)  # bitwise, whatever the thread count


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rows, columns, width", [(1024, 1024, 48), (20, 30, 48), (129, 7, 8), (3, 5, 4)])
def test_panels_start_on_a_cache_line(rows, columns, width, dtype):
    # Each step of the tile loads whole cache lines of a panel of B: from a panel that starts mid-line
    # (Numba's np.empty gave 32-byte alignment) every load straddles two lines.
    M = np.zeros((rows, columns), dtype=dtype)
    for _ in range(4):
        for panels, shape in (
            (tiles.row_block_panels(M, width), (-(-rows // width), columns, width)),
            (tiles.column_block_panels(M, width), (-(-columns // width), rows, width)),
        ):
            assert panels.shape == shape and panels.dtype == M.dtype and panels.flags.c_contiguous
            assert panels.ctypes.data % tiles.CACHE_LINE == 0


@pytest.mark.parametrize("n_blocks,n_panels,samples", [(256, 22, 256), (3, 5, 10), (7, 40, 2000), (5, 21, 300)])
def test_panel_groups_number_every_tile_once(n_blocks, n_panels, samples):
    Bp = np.empty((n_panels, samples, tiles.tile_shape("float64")[1]))
    group_panels = tiles.panels_per_group(Bp)
    assert group_panels == max(1, tiles.PANEL_GROUP_BYTES // Bp[0].nbytes)
    numbered = [tiles.block_in_panel_group(i, n_blocks, n_panels, group_panels) for i in range(n_blocks * n_panels)]
    assert sorted(numbered) == [(block, panel) for block in range(n_blocks) for panel in range(n_panels)]
    # Within a group, each block runs over the group's panels before the next block starts.
    assert numbered[: min(group_panels, n_panels)] == [(0, panel) for panel in range(min(group_panels, n_panels))]


BLOCKS_PROBE = """
import json
import numba
import numpy as np
from fastbp.backends.cpu import by_address, loops, parallel, tuning
numba.get_num_threads()
rng = np.random.default_rng(0)
errors, bitwise = [], True
for dtype in ("float32", "float64"):
    by_address.prepare(dtype, by_address.FORWARD)
    for N, n_in, n_out in ((37, 70, 130), (9, 5, 7), (64, 784, 30)):
        W = rng.standard_normal((n_out, n_in)).astype(dtype)
        b = rng.standard_normal(n_out).astype(dtype)
        a_prev = rng.standard_normal((N, n_in)).astype(dtype)
        one, two = np.empty((N, n_out), dtype), np.empty((N, n_out), dtype)
        loops.input_sum(W, b, a_prev, one, 0, n_out)
        parallel.forward_layer(W, b, 0, a_prev, two, 2)  # 0: identity
        exact = a_prev.astype(np.float64) @ W.T.astype(np.float64) + b
        errors.append(float(np.abs(one - exact).max() / np.abs(exact).max()))
        bitwise = bitwise and bool(np.array_equal(one, two))
print(json.dumps({"units": tuning.UNITS_PER_BLOCK, "error": max(errors), "bitwise": bitwise}))
"""


@pytest.mark.parametrize("target", ["haswell", "host"])
def test_input_sums_of_either_register_block_match_numpy_on_one_and_two_threads(target, tmp_path):
    # Blocks of four units where the CPU has AVX-512, of two with AVX2 (forced here on any CPU
    # that has AVX-512: the AVX2 code runs there too).
    environment = {"NUMBA_NUM_THREADS": "2"}
    if target == "haswell":
        environment.update(zip(("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"), TARGETS["haswell"]))
    found = run_probe(BLOCKS_PROBE, tmp_path, **environment)
    if target == "haswell":
        assert found["units"] == 2
    assert found["error"] < 1e-5 and found["bitwise"]


@pytest.mark.parametrize(
    "sizes, batch_size",
    [([64, 32, 10], 32), ([784, 128, 64, 10], 64), ([1024, 1024, 1024, 10], 256), ([256, 1024, 1], 128),
     ([512, 512, 10], 64), ([4096, 10], 128), ([10, 4096], 64), ([10, 4096, 4096], 64), ([8, 32, 1], 200)],
)  # fmt: skip
def test_the_plan_compiles_the_tiles_wherever_a_layer_uses_them(sizes, batch_size):
    # The kernels' `tiles` (None leaves the tiles' code out) must be True wherever worth_tiling sends some
    # product of some layer of a full batch to the tiles.
    from fastbp.backends.cpu import tuning

    used = False
    for l in range(1, len(sizes)):
        W = np.empty((sizes[l], sizes[l - 1]))
        used |= tuning.worth_tiling(batch_size, W, tuning.TILED_INPUT_SUMS)
        used |= tuning.worth_tiling(batch_size, W, tuning.TILED_GRADIENTS)
        used |= l >= 2 and tuning.worth_tiling(batch_size, W, tuning.TILED_DELTAS)
    assert tuning.tiles_may_run(sizes, batch_size) == used


# A layer whose deltas go through the tiles: delta^l of 515 units from delta^{l+1} of 513, for 129
# samples, as one thread computes them (products) or two (parallel).
DELTAS_PROBE = """
import json, sys
import numba, numpy as np
from fastbp.backends.cpu import parallel, products
from fastbp.numerics.formulas import SIGMOID

rng = np.random.default_rng(0)
W_next = rng.normal(size=(513, 515))
delta_next = rng.normal(size=(129, 513))
a = rng.uniform(0.1, 0.9, size=(129, 515))
serial, threaded = np.empty_like(a), np.empty_like(a)
products.backpropagate(W_next, delta_next, SIGMOID, a, serial)
if sys.argv[1:] == ["both"]:
    numba.get_num_threads()
    parallel.tiled_backpropagate(W_next, delta_next, SIGMOID, a, threaded, 2)
    print(json.dumps({"differing": int(np.sum(serial != threaded))}))
else:
    print(json.dumps({}))
"""


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_one_and_two_threads_agree_bitwise_when_one_was_compiled_in_an_earlier_process(tmp_path):
    # A process compiles the one-thread kernel into an empty cache; the next loads it and compiles the
    # threaded one.  sigma' once took the fast-math flags of whichever kernel compiled it first, and
    # LLVM then rounded a (1 - a) differently inlined into a kernel than in a cached one (1 ulp).
    run_probe(DELTAS_PROBE, tmp_path)
    assert run_probe(DELTAS_PROBE.replace("sys.argv[1:]", '["both"]'), tmp_path) == {"differing": 0}
