"""``fastbp compile``: fill Numba's cache with fastbp's kernels ahead of the first fit.

For container images, CI images and clusters: run it once where the cache
will be read (the same CPU; ``NUMBA_CACHE_DIR`` names a shared folder), and
no fit there compiles.  Each configuration is a dtype, one thread or
several, and with or without the register tiles (only on CPUs that have
them); each compiles the training loop and the forward pass of
:class:`fastbp.Network` and, where scikit-learn is installed, those of the
estimators (stochastic solvers with and without early stopping, and L-BFGS).
"""

import argparse
import itertools
import sys
import warnings
from collections.abc import Callable
from functools import partial

import numba
import numpy as np

from fastbp.cli.arguments import Subparsers, positive_int
from fastbp.engine.compiling import NOTICE, compile_ahead
from fastbp.engine.network import warm_up

NAME = "compile"
DTYPES = ("float64", "float32")
BACKENDS = ("serial", "parallel")


def estimator_warm_up(backend: str, dtype: str, tiles: bool) -> None:
    """Fit and use the estimators once on a small problem: the kernels their fits and predictions run.

    The stochastic solvers with and without early stopping (whose validation
    score is compiled into the training loop), and L-BFGS.  With ``tiles``,
    batches of 128 samples reach the tiles' thresholds also once early
    stopping has set a tenth of the 160 rows aside.
    """
    from fastbp import MLPClassifier

    rows, batch, inputs, hidden = (160, 128, 256, 1024) if tiles else (20, 20, 2, 2)
    X = np.linspace(0.0, 1.0, rows * inputs).reshape(rows, inputs)
    y = np.arange(rows) % 2
    options = dict(hidden_layer_sizes=(hidden,), batch_size=batch, backend=backend, dtype=dtype, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: one iteration is all it takes
        for solver, early_stopping in (("adam", False), ("adam", True), ("lbfgs", False)):
            estimator = MLPClassifier(solver=solver, early_stopping=early_stopping, max_iter=1, **options)
            estimator.fit(X, y).predict_proba(X)


def jobs(dtypes, backends, with_estimators: bool) -> list[tuple[str, Callable[[], object]]]:
    """``(name, job)`` for each configuration, in the order they run."""
    listed: list[tuple[str, Callable[[], object]]] = []
    for dtype, backend, tiles in itertools.product(dtypes, backends, (False, True)):
        name = f"{dtype}, {'one thread' if backend == 'serial' else 'threads'}{', register tiles' if tiles else ''}"
        listed.append((f"Network: {name}", partial(warm_up, backend, dtype, tiles)))
        if with_estimators:
            listed.append((f"estimators: {name}", partial(estimator_warm_up, backend, dtype, tiles)))
    return listed


def scikit_learn_installed() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def add_parser(subparsers: Subparsers) -> None:
    """Add ``fastbp compile`` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help="compile the kernels into Numba's cache ahead of the first fit",
        description="Compile fastbp's kernels for this CPU into Numba's cache (NUMBA_CACHE_DIR if set), "
        "so that no later fit compiles. One line per configuration as it is done.",
    )
    parser.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES), help="default: both")
    parser.add_argument(
        "--backend",
        nargs="+",
        choices=BACKENDS,
        default=None,
        help="serial (one thread), parallel (threads); default: both, or serial where Numba has one thread",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="compile N configurations at once, each in a process of its own (Numba compiles on one core "
        "per process); default: 1",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Compile each configuration, reporting each as it is done."""
    backends = arguments.backend or [b for b in BACKENDS if b == "serial" or numba.config.NUMBA_NUM_THREADS > 1]
    with_estimators = scikit_learn_installed()
    listed = jobs(arguments.dtype, backends, with_estimators)
    if not with_estimators:
        print("scikit-learn is not installed: the estimators' kernels are left out", file=sys.stderr)
    done = itertools.count(1)

    def report(name: str, seconds: float) -> None:
        print(f"[{next(done)}/{len(listed)}] {name}: {seconds:.1f} s", flush=True)

    enabled, NOTICE.enabled = NOTICE.enabled, False  # the lines above say it, once per configuration
    try:
        total = compile_ahead(listed, report, processes=arguments.jobs)
    finally:
        NOTICE.enabled = enabled
    print(f"compiled (or found in the cache) in {total:.1f} s")
    return 0
