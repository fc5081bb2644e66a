"""``fastbp info``: versions, threads, threading layer, CUDA device and cache folder."""

import argparse
import hashlib
import os
import platform

import llvmlite.binding
import numba
import numpy as np

from fastbp._version import __version__
from fastbp.cli.arguments import Subparsers


def threading_layer() -> str:
    """The threading layer Numba's parallel code runs on (fastbp's parallel kernels are loaded first)."""
    from fastbp.backends.cpu import parallel  # noqa: F401  (loading it starts Numba's thread pool)

    try:
        return numba.threading_layer()
    except ValueError:
        return f"not started yet (NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER})"


def cuda_device() -> str:
    """The CUDA device ``backend="cuda"`` would use, or why there is none."""
    if numba.config.ENABLE_CUDASIM:
        return "Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): no timings, tests only"
    try:
        import numba.cuda as cuda
    except ImportError:
        return 'none: numba-cuda is not installed (pip install "fastbp[cuda]")'
    try:
        if not cuda.is_available():
            return "none: no CUDA GPU or driver found"
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else device.name
        major, minor = device.compute_capability
        return f"{name} (compute capability {major}.{minor})"
    except Exception as error:  # a broken driver or toolkit: report it, do not crash
        return f"none: {type(error).__name__}: {error}"


def cache_folder() -> str:
    """Where Numba caches fastbp's compiled kernels (the folder of the serial backend's entries)."""
    from fastbp.backends.cpu import serial

    where = serial.forward._cache.cache_path if hasattr(serial.forward, "_cache") else "(caching disabled)"
    setting = numba.config.CACHE_DIR or "unset: beside the sources, or a user-wide folder if those are read-only"
    return f"{where} (NUMBA_CACHE_DIR: {setting})"


def cache_key() -> str:
    """What fastbp adds to Numba's key of a cached kernel (fastbp.numerics.cache), and the CPU Numba compiles for.

    Two machines share cache entries only where both lines agree: compare them when a shared cache is not used.
    """
    from fastbp.backends.cpu.tuning import cpu_features
    from fastbp.numerics.cache import FINGERPRINT, codegen_settings

    cpu = numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    features = hashlib.sha256(cpu_features().encode()).hexdigest()[:8]
    settings = hashlib.sha256(repr(codegen_settings()).encode()).hexdigest()[:8]
    return f"fastbp sources {FINGERPRINT[:16]}, Numba settings {settings}, CPU {cpu} (features {features})"


def lines() -> list[str]:
    """The report, one ``name: value`` per line."""
    return [
        f"fastbp: {__version__} ({os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})",
        f"Python: {platform.python_version()} ({platform.python_implementation()}, {platform.platform()})",
        f"NumPy: {np.__version__}",
        f"Numba: {numba.__version__}",
        f"CPUs: {os.cpu_count()}",
        f"Numba threads: {numba.get_num_threads()} in use, NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}",
        f"threading layer: {threading_layer()}",
        f"CUDA device: {cuda_device()}",
        f"Numba cache: {cache_folder()}",
        f"kernel cache key: {cache_key()}",
    ]


def add_parser(subparsers: Subparsers) -> None:
    """Add ``fastbp info`` (no options)."""
    parser = subparsers.add_parser(
        "info",
        help="versions, threads, threading layer, CUDA device, cache folder",
        description="Print fastbp's environment.",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Print the report."""
    print("\n".join(lines()))
    return 0
