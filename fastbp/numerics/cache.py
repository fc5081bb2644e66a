"""Numba's on-disk cache for fastbp's kernels, keyed by everything their machine code depends on.

Numba finds a cached function by its signature, the CPU it was compiled for
(name and features), the hash of its own bytecode and closure cells; it also
drops the whole index when Numba's version or the function's own source file
changed.  That misses most of what a fastbp kernel is made of: the functions
it calls, compiled into it, live in other files (``train_epochs`` holds the
loops of ``loops.py``), and the constants it reads live in ``tuning.py``.
After an upgrade of fastbp that changed only those, Numba would load the
old machine code.

:class:`KernelCache` adds :data:`FINGERPRINT` to Numba's key: fastbp's
version and a hash of every source file whose functions are compiled into
kernels (this folder and ``backends/cpu``).  It adds Numba's own settings
that change the machine code (:data:`CODEGEN_SETTINGS`), which Numba's key
leaves out too: one run with ``NUMBA_ENABLE_PROFILING=1`` (for ``perf``)
left slower kernels in the cache that every later run loaded
(benchmarks/README.md, "Deltas through small layers").  A cache written by
another fastbp, by another Numba, for another CPU or with other such
settings is never loaded; its entries stay on disk, unused.  Everything else about Numba's cache is unchanged:
where it lives (beside the sources, or ``NUMBA_CACHE_DIR``), and that it
can be copied to other machines with the same CPU (see the README on Dask
workers and containers).
"""

import hashlib
from pathlib import Path

import numba
from numba.core.caching import FunctionCache

from fastbp._version import __version__

# The folders of the package whose functions are compiled into the CPU kernels.
COMPILED_SOURCES = ("numerics", "backends/cpu")


def source_fingerprint(package: Path, version: str) -> str:
    """sha256 of ``version`` and of every ``.py`` file in the :data:`COMPILED_SOURCES` of ``package``, by path."""
    digest = hashlib.sha256(version.encode())
    for folder in COMPILED_SOURCES:
        for path in sorted((package / folder).glob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


FINGERPRINT = source_fingerprint(Path(__file__).resolve().parent.parent, __version__)

# The attributes of numba.config (set from NUMBA_* environment variables) that change the code
# Numba makes: optimisation level, profiling and debugging aids, bounds checks, the vectorisers,
# the math library, reference-count pruning.  The CPU's name and features are in Numba's key.
CODEGEN_SETTINGS = (
    "OPT",
    "ENABLE_PROFILING",
    "DEBUGINFO_DEFAULT",
    "BOUNDSCHECK",
    "LOOP_VECTORIZE",
    "SLP_VECTORIZE",
    "ENABLE_AVX",
    "USING_SVML",
    "EXTEND_VARIABLE_LIFETIMES",
    "NRT_STATS",
    "DEBUG_NRT",
    "LLVM_REFPRUNE_PASS",
    "LLVM_REFPRUNE_FLAGS",
)


def codegen_settings() -> tuple[str, ...]:
    """The values of :data:`CODEGEN_SETTINGS` now, as text (a setting this Numba lacks reads "None")."""
    return tuple(str(getattr(numba.config, name, None)) for name in CODEGEN_SETTINGS)


class KernelCache(FunctionCache):
    """Numba's cache of compiled functions, keyed also by :data:`FINGERPRINT` and :func:`codegen_settings`."""

    def _index_key(self, sig, codegen):
        return (*super()._index_key(sig, codegen), FINGERPRINT, codegen_settings())


def cached_jit(**options):
    """``numba.njit(**options)``, its compiled code cached on disk by :class:`KernelCache`.

    ``cache=True`` would give the dispatcher Numba's own ``FunctionCache``
    (``Dispatcher.enable_caching``); this gives it fastbp's instead.
    """

    def compile_cached(function):
        dispatcher = numba.njit(**options)(function)
        dispatcher._cache = KernelCache(function)
        return dispatcher

    return compile_cached
