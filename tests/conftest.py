"""Shared helpers: random networks and data for every activation x cost combination, and compiled probes."""

import json
import os
import re
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
from hypothesis import settings

from fastbp import Network

HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
# Every (output activation, cost) pair fastbp accepts.
OUTPUT_COSTS = [
    ("identity", "mse"),
    ("sigmoid", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "binary_cross_entropy"),
    ("sigmoid", "categorical_cross_entropy"),
    ("softmax", "categorical_cross_entropy"),
    ("exp", "poisson"),
    ("identity", "absolute_error"),
    ("identity", "huber"),
    ("identity", "log_cosh"),
    ("sigmoid", "log_cosh"),
]
# The costs of the residual a^L_k - y_k that take any target.
ROBUST_COSTS = ("absolute_error", "huber", "log_cosh")
COMPILED_BACKENDS = ["serial", "parallel"]
# rtol of the agreement with the oracle, per dtype
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


# The kernels that most test files run: a worker that starts on a test file with an empty cache
# compiles them, and pytest-xdist's workers start together, so each compiled them again (about half
# the time of the test files that use them: benchmarks/README.md, "The test suite's first
# compiles").  Compiled once before the workers start, each configuration in a process of its
# own, they are loaded from Numba's cache by every worker.
SHARED_KERNELS = (
    ("network", "serial", "float64"),
    ("network", "parallel", "float32"),
    ("network", "serial", "float32"),
    ("network", "parallel", "float64"),
    ("estimators", "serial", "float64"),
    ("estimators", "serial", "float32"),
)


def pytest_configure(config):
    """Before pytest-xdist starts the workers of a whole-suite run: :data:`SHARED_KERNELS` compiled.

    By ``fastbp compile``'s :func:`fastbp.engine.compiling.compile_ahead`, one process per worker.
    Only for the suite as the README runs it (the test paths of the project's
    settings, two workers or more): a run of chosen files compiles what it runs.
    """
    workers = len(getattr(config.option, "tx", None) or ())  # pytest-xdist's workers, --maxprocesses applied
    if hasattr(config, "workerinput") or workers < 2:
        return
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    from fastbp.cli.compiling import estimator_warm_up
    from fastbp.engine.compiling import compile_ahead
    from fastbp.engine.network import warm_up

    jobs = [
        (
            f"{kind}, {backend}, {dtype}",
            partial(warm_up if kind == "network" else estimator_warm_up, backend, dtype, False),
        )
        for kind, backend, dtype in SHARED_KERNELS
    ]
    compile_ahead(jobs, lambda name, seconds: None, processes=workers)


@pytest.fixture(autouse=True)
def loops_by_address(request):
    """Every CPU loop that kernels call by address, ready in both dtypes, as fastbp's entry points make them.

    Many tests call the kernels directly rather than through
    :func:`fastbp.backends.kernel_plan`; tests of what is ready when empty the
    slots themselves.  The CUDA tests (their own process, under the
    simulator) run no CPU loop.
    """
    if "cuda" not in request.path.parts:
        from fastbp.backends.cpu import by_address

        for dtype in ("float32", "float64"):
            by_address.prepare(dtype, by_address.THREADS)


def run_probe(script, cache_dir, **environment):
    """Run ``script`` in a child process with an empty Numba cache in ``cache_dir``; the JSON of its last line.

    Compiled afresh there, its functions have LLVM IR and assembly to inspect
    (a function loaded from Numba's cache has none), and ``environment`` (for
    example ``NUMBA_CPU_NAME``) applies to its compilation alone.
    """
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), **environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_vectorised_without_libm(dispatcher, dtype, function):
    """``dispatcher``'s loop over ``function`` of ``dtype`` values: no call of the C library's, and vectorised.

    ``dispatcher`` must have been called with arrays of ``dtype`` and compiled
    in this process (a function loaded from Numba's cache has no LLVM IR).
    """
    signature = [s for s in dispatcher.signatures if str(s[0].dtype) == dtype][0]
    llvm = dispatcher.inspect_llvm(signature)
    assert f"@{function}" not in llvm and f"@llvm.{function}" not in llvm, f"fell back to the C library's {function}"
    # Vectors of any width: 4 or 8 float32 with SSE or AVX2, 16 with AVX-512.
    assert re.search(r"<\d+ x (float|double)>", llvm), f"the loop of {function} was not vectorised"


def random_targets(rng, n_samples, n_outputs, output_activation, cost):
    """Targets that make sense for the output: one-hot for softmax, in [0, 1] for sigmoid.

    The robust costs get residuals on both sides of Huber's default epsilon (1.35).
    """
    if output_activation == "softmax":
        return np.eye(n_outputs)[rng.integers(0, n_outputs, n_samples)]
    if cost in ROBUST_COSTS and output_activation == "identity":
        return 3 * rng.normal(size=(n_samples, n_outputs))
    if output_activation == "sigmoid" or cost != "mse":
        return rng.uniform(0, 1, (n_samples, n_outputs))
    return rng.normal(size=(n_samples, n_outputs))


def random_problem(seed, hidden, output, cost, dtype="float64", l2=0.0, n_layers=None, n_samples=None):
    """A network of 1 to 4 layers of random widths, and a batch of data for it."""
    rng = np.random.default_rng(seed)
    n_layers = n_layers or int(rng.integers(1, 5))
    sizes = [int(s) for s in rng.integers(1, 9, n_layers + 1)]
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    network = Network(sizes, hidden, output, cost, l2=l2, dtype=dtype, seed=seed)
    n_samples = n_samples or int(rng.integers(1, 12))
    X = rng.normal(size=(n_samples, sizes[0]))
    Y = random_targets(rng, n_samples, sizes[-1], output, cost)
    return network, X, Y


def pytest_generate_tests(metafunc):
    """``backend``: each compiled backend in turn, and the reference loops too for tests marked ``with_reference``."""
    parametrized = any("backend" in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))
    if "backend" in metafunc.fixturenames and not parametrized:
        with_reference = metafunc.definition.get_closest_marker("with_reference") is not None
        metafunc.parametrize("backend", COMPILED_BACKENDS + ["reference"] * with_reference)


# tests/cuda runs in its own process, under Numba's CUDA simulator
# (NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda) or on a GPU
# (FASTBP_CUDA_TESTS=1, see benchmarks/gpu_run.sh).
CUDA_TESTS = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or os.environ.get("FASTBP_CUDA_TESTS") == "1"
collect_ignore = [] if CUDA_TESTS else ["cuda"]

# Property tests (hypothesis): the same examples on every run (derandomize), few of
# them (the suite's time), no deadline (the first example may compile kernels).
settings.register_profile("fastbp", derandomize=True, max_examples=25, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastbp"))
