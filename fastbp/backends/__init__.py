"""The backends, by name: each a module with the kernel functions of :mod:`fastbp.backends.contract`.

``numpy`` is the oracle (docs/notation.md's matrix form); ``reference`` runs
each equation as the textbook loop, compiled, on one thread (the code to read,
and the tests' second oracle); ``serial`` runs the engineered compiled index
loops on one thread; ``parallel`` runs the same module's
loops with layers that have enough work split over Numba's threads;
``auto`` picks ``parallel`` when some layer of the network has enough work
per batch for two threads, else ``serial`` (never ``cuda``); ``cuda`` runs
the same loops as ``numba.cuda`` kernels on an NVIDIA GPU.  A backend module
is imported only when first asked for, so that ``import fastbp`` stays fast
and never imports ``numba.cuda``.

Asking for ``cuda`` raises :class:`ImportError` when the optional package
numba-cuda is missing (``pip install 'fastbp[cuda]'``) and
:class:`RuntimeError` when no usable GPU is found.
"""

import importlib
from contextlib import contextmanager
from types import ModuleType

import numba

from fastbp.backends.cpu import by_address

BACKENDS = {
    "auto": "fastbp.backends.cpu.serial",
    "serial": "fastbp.backends.cpu.serial",
    "parallel": "fastbp.backends.cpu.serial",
    "numpy": "fastbp.backends.numpy_ref",
    "reference": "fastbp.backends.reference",
    "cuda": "fastbp.backends.cuda",
}
# The backends that run the compiled CPU loops.
CPU_BACKENDS = tuple(name for name, module in BACKENDS.items() if module == BACKENDS["serial"])
# The loops a prediction's threads and a fit's threads call by address (prepare_loops).
LOOP_WORK = {"forward": by_address.FORWARD, "threads": by_address.THREADS}


def check_backend(name) -> str:
    """``name`` if it names a backend; a clear ``TypeError``/``ValueError`` if not."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {name!r}")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


# The backend modules loaded so far, by name: a fit or a prediction asks for its backend several
# times, and importing it again (with the threads' check below) cost some microseconds each time.
LOADED: dict[str, ModuleType] = {}


def get_backend(name: str) -> ModuleType:
    """The module that implements backend ``name``.

    A clear ``ValueError`` for an unknown name; for ``cuda``, ``ImportError``
    without numba-cuda and ``RuntimeError`` without a GPU (raised as the
    module is imported, each time it is asked for).
    """
    module = LOADED.get(check_backend(name))
    if module is None:
        module = importlib.import_module(BACKENDS[name])
        if module.__name__ == BACKENDS["serial"]:
            # The CPU kernels link parallel code: one loaded from Numba's cache before Numba has
            # started its threads can call into the threading layer before it is loaded, and crash
            # (Numba issue #8578), even on one thread.  Started once, they stay for the process.
            numba.get_num_threads()
        LOADED[name] = module
    return module


def check_n_jobs(n_jobs) -> int:
    """Numba's thread count for ``None``, else ``n_jobs`` checked against it."""
    limit = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return numba.get_num_threads()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise TypeError(f"n_jobs must be an integer or None, got {n_jobs!r}")
    if not 1 <= n_jobs <= limit:
        raise ValueError(f"n_jobs must be between 1 and NUMBA_NUM_THREADS={limit}, got {n_jobs}")
    return n_jobs


def thread_count(name: str, sizes, batch_size: int, n_jobs=None) -> int:
    """How many threads backend ``name`` uses for a network of ``sizes`` and batches of ``batch_size``."""
    from fastbp.backends.cpu.tuning import PARALLEL_MIN_WORK

    if check_backend(name) in ("serial", "numpy", "reference", "cuda"):
        return 1
    if name == "auto":
        largest = max(int(sizes[l]) * int(sizes[l - 1]) for l in range(1, len(sizes)))
        if batch_size * largest < PARALLEL_MIN_WORK:
            if n_jobs is not None:
                check_n_jobs(n_jobs)  # a bad n_jobs is refused for small networks too
            return 1
    return check_n_jobs(n_jobs)


def kernel_plan(
    name: str, sizes, batch_size: int, dtype, n_jobs=None, sparse: bool = False
) -> tuple[int | None, bool | None]:
    """The kernels' last arguments ``(n_threads, tiles)`` for backend ``name``, ``sizes`` and batches of ``batch_size``.

    ``n_threads`` is :func:`thread_count`, or ``None`` where that is one;
    ``tiles`` is ``True`` where some layer may be big enough for the CPU's
    register tiles (:func:`fastbp.backends.cpu.tuning.tiles_may_run`), else
    ``None``.  Both also choose the compiled code: a CPU kernel compiled for
    ``None`` leaves out the threads' or the tiles' code (see
    :mod:`fastbp.backends.cpu.serial`), so that a fit compiles only what it runs.
    ``sparse``: the inputs are CSR rows, whose layer 1 never runs the tiles.
    With threads, the loops the threads call by address are made ready for
    ``dtype``, the network's (:func:`fastbp.backends.cpu.by_address.prepare`).
    """
    n_threads = thread_count(name, sizes, batch_size, n_jobs)
    if n_threads > 1:
        prepare_loops(name, dtype, "threads")
    return (n_threads if n_threads > 1 else None), tiles_for(name, sizes, batch_size, sparse)


def loops_ready(name: str, dtype, work: str) -> bool:
    """Whether the loops backend ``name``'s threads call by address are ready for ``dtype`` (:func:`prepare_loops`)."""
    return name not in CPU_BACKENDS or by_address.is_ready(dtype, LOOP_WORK[work])


def prepare_loops(name: str, dtype, work: str) -> None:
    """Make the loops that backend ``name``'s threads call by address ready for ``dtype`` (nothing for the others).

    ``work`` is ``"forward"`` (a prediction) or ``"threads"`` (a fit):
    :func:`fastbp.backends.cpu.by_address.prepare`.
    """
    if name in CPU_BACKENDS:
        by_address.prepare(dtype, LOOP_WORK[work])


def tiles_for(name: str, sizes, batch_size: int, sparse: bool = False) -> bool | None:
    """The kernels' ``tiles`` (:func:`kernel_plan`): ``True`` where a layer may use the register tiles, or ``None``."""
    from fastbp.backends.cpu.tuning import tiles_may_run

    return True if name not in ("numpy", "reference", "cuda") and tiles_may_run(sizes, batch_size, sparse) else None


@contextmanager
def numba_threads(n_threads: int | None):
    """Run the block with Numba's thread count set to ``n_threads``, then restore it (``None``: left as it is).

    ``None`` is :func:`kernel_plan`'s one thread, whose kernels are compiled
    without the threads' code.

    Numba's thread count is thread-local: this changes it for the calling
    thread only, so fits running at the same time in several Python threads
    do not change each other's count.  (A new thread starts at
    ``NUMBA_NUM_THREADS``, whatever its parent set with
    ``numba.set_num_threads``: ``n_jobs=None`` in it means all of them.)
    The compiled kernels hold the GIL, so such fits take turns; each gives
    bitwise the results it gives alone.
    """
    if n_threads is None:
        # A kernel compiled for one thread holds no parallel code: nothing reads the count.  Three calls
        # into Numba's threading layer, each taking its locks, cost a one-epoch fit of a small network more
        # than its epoch (benchmarks/README.md, "Network.fit's Python per call, again").
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
