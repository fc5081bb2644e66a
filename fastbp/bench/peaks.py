"""The machine's two peaks, against which the comparison's GFLOP/s are read, and its description.

* :func:`fma_peak`: the arithmetic ceiling, measured with a compiled loop of
  independent fused multiply-adds at the widest vector width Numba emits
  here, on every thread;
* :func:`blas_peak`: the best matrix product of NumPy's BLAS, measured in a
  child process with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset
  (either one, set for the other peers' sake, can pin OpenBLAS to slower
  kernels; they are read when the library loads, hence the child process).
"""

import os
import platform
import re
import subprocess
import sys
import time

import numba
import numpy as np

from fastbp.backends.cpu.tiles import LANES, VECTOR_BITS, multiply_add_lanes, prefer_vector_width, register_tile

# Independent running sums per thread, (rows, units) by dtype and vector width, a vector of
# LANES units at a time: 16 registers of 16 float32 or 24 of 8 float64 with AVX-512, 12 with
# AVX2 (the register tiles' own count), enough to cover the latency of every FMA pipe.
FMA_TILES = {
    512: {"float32": (4, 64), "float64": (4, 48)},
    256: {"float32": (6, 16), "float64": (6, 8)},
}
FMA_STEPS = 1 << 20
BLAS_SIZE = 2048
BLAS_THROTTLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

BLAS_SCRIPT = """
import sys, timeit
import numpy as np
size, dtype = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
a = rng.standard_normal((size, size)).astype(dtype)
b = rng.standard_normal((size, size)).astype(dtype)
a @ b
print(2.0 * size**3 / min(timeit.repeat(lambda: a @ b, number=1, repeat=5)) / 1e9)
"""


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_fma_loop(rows: int, units: int, lanes: int):
    """A compiled loop: ``steps`` rounds of ``rows x units`` independent FMAs on each of ``n_threads`` threads.

    The running sums live in a stack buffer that LLVM keeps in registers, each
    updated a vector of ``lanes`` at a time as the register tiles update theirs
    (:func:`fastbp.backends.cpu.tiles.multiply_add_lanes`), and the loop carries
    the tiles' vector-width attribute
    (:func:`fastbp.backends.cpu.tiles.prefer_vector_width`): a heap array would
    be loaded and stored at every step (a small fraction of the ceiling), and
    LLVM's preference for 256-bit vectors on Intel's AVX-512 CPUs would halve
    it (benchmarks/README.md, "Intel with AVX-512").
    """
    size = rows * units

    @numba.njit(fastmath=True, error_model="numpy", cache=True)
    def fma_sums(x, y, steps):
        prefer_vector_width(VECTOR_BITS)
        sums_pointer = register_tile(x.dtype, size)
        sums = numba.carray(sums_pointer, (rows, units))
        for r in range(rows):
            for u in range(units):
                sums[r, u] = y[u]
        # One factor for every row: a factor per row, loop-invariant, took a register each and
        # pushed the sums out of AVX2's 16.
        x_0 = x[0]
        for _ in range(steps):
            for r in range(rows):
                for u in range(0, units, lanes):
                    multiply_add_lanes(sums_pointer, r * units + u, y, u, x_0, lanes)
        total = x.dtype.type(0.0)
        for r in range(rows):
            for u in range(units):
                total += sums[r, u]
        return total

    @numba.njit(parallel=True, cache=True)
    def fma_loop(x, y, steps, n_threads):
        totals = np.zeros(n_threads, dtype=x.dtype)
        for thread in numba.prange(n_threads):
            totals[thread] = fma_sums(x, y, steps)
        return totals

    return fma_loop


FMA_LOOPS = {dtype: make_fma_loop(*shape, LANES[dtype]) for dtype, shape in FMA_TILES[VECTOR_BITS].items()}


def fma_peak(dtype: str, threads: int) -> float:
    """GFLOP/s of the FMA loop of ``dtype`` on ``threads`` threads (best of 3)."""
    rows, units = FMA_TILES[VECTOR_BITS][dtype]
    fma_loop = FMA_LOOPS[dtype]
    x = np.full(1, 0.5, dtype=dtype)  # the factor of every row (make_fma_loop)
    y = np.linspace(0.0, 1.0, units, dtype=dtype)
    fma_loop(x, y, 16, threads)
    best = min(_seconds(lambda: fma_loop(x, y, FMA_STEPS, threads)) for _ in range(3))
    return 2.0 * rows * units * FMA_STEPS * threads / best / 1e9


def blas_peak(dtype: str, threads: int) -> float:
    """GFLOP/s of NumPy's best ``BLAS_SIZE``-square product, in a child process free of the throttles."""
    environment = {name: value for name, value in os.environ.items() if name not in BLAS_THROTTLES}
    # The thread count, read when the library loads like the throttles: no threadpoolctl needed.
    environment.update({name: str(threads) for name in BLAS_THREADS})
    result = subprocess.run(
        [sys.executable, "-c", BLAS_SCRIPT, str(BLAS_SIZE), dtype],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip())


def _seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def numba_vector_bits() -> int:
    """The vector registers of Numba's loops in this process (512, 256 or 128): a probe loop's multiply-adds.

    The probe is compiled with the kernels' flags, so it reads what LLVM's tuning
    for this CPU gives the register-blocked loops (on Intel's AVX-512 CPUs LLVM
    prefers 256 bits); the register tiles carry their own width,
    :data:`fastbp.backends.cpu.tiles.VECTOR_BITS`.
    """
    from fastbp.backends.cpu.tuning import ERROR_MODEL, FASTMATH

    @numba.njit(fastmath=FASTMATH, error_model=ERROR_MODEL)
    def probe(x, y):
        for i in range(x.shape[0]):
            y[i] += x[i] * x[i]

    values = np.ones(1024, dtype=np.float32)
    probe(values, values)
    assembly = probe.inspect_asm(probe.signatures[0])
    registers = set(re.findall(r"vfmadd\w*\s+[^\n]*?%([xyz])mm", assembly))
    return 512 if "z" in registers else 256 if "y" in registers else 128
