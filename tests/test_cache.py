"""Numba's on-disk cache of fastbp's kernels: loaded only where it is valid, and filled only with what runs.

The cache's tests run Python in a subprocess with its own empty
``NUMBA_CACHE_DIR``, and probe the smallest entry point, the forward pass of
``Network.predict``; the compile notice's and the signatures' tests run here.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from conftest import run_probe
from numba.core import event

from fastbp.engine.compiling import CompileNotice
from fastbp.numerics.cache import COMPILED_SOURCES, source_fingerprint

PACKAGE = Path(__file__).resolve().parent.parent / "fastbp"

# Predicts with a small network (or, with {predict} False, compiles only loops.copy, the smallest
# kernel, cached alike); prints the cache hits and misses of predict and copy and the functions
# Numba compiled.
PROBE = """
import json, sys
import numba, numpy as np
from numba.core import event
{before_import}
import fastbp
from fastbp.backends.cpu import loops, serial
compiled = []
class Record(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__module__ + "." + ev.data["dispatcher"].py_func.__name__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Record())
if {predict}:
    network = fastbp.Network([{inputs}, {units}, 1], seed=0)
    network.predict(np.ones(({rows}, {inputs})), backend="{backend}")
loops.copy(np.ones(3), np.empty(3))
report = {{"compiled": compiled}}
for name, kernel in (("predict", serial.predict), ("copy", loops.copy)):
    report[name] = [sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values())]
print(json.dumps(report))
"""


def probe(
    cache: Path, before_import: str = "", environment: dict | None = None, predict: bool = True, **network
) -> tuple[dict, str]:
    """Run :data:`PROBE` with the cache folder ``cache``; its report and its standard error.

    The report holds ``[hits, misses]`` of the cache for ``"predict"`` and ``"copy"``.
    """
    settings = {"inputs": 2, "units": 3, "rows": 1, "backend": "serial", "predict": predict, **network}
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), **(environment or {})}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(before_import=before_import, **settings)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_cache_is_loaded_only_by_the_same_fastbp_numba_and_cpu(tmp_path):
    first, told = probe(tmp_path)
    assert first["predict"] == first["copy"] == [0, 1]
    assert "fastbp: compiling predict (float64, one thread)" in told
    assert "fastbp: compiled predict (float64, one thread) in" in told
    again, told = probe(tmp_path)
    assert again["predict"] == again["copy"] == [1, 0]
    assert again["compiled"] == [] and "fastbp:" not in told

    # Each case below misses the entry of loops.copy (every kernel has the same key; copy compiles
    # in a fraction of predict's time).
    def misses(before_import: str = "", environment: dict | None = None) -> bool:
        return probe(tmp_path, before_import, environment, predict=False)[0]["copy"] == [0, 1]

    # Another fastbp (another version, or other sources compiled into the kernels).
    assert misses("import fastbp.numerics.cache as cache; cache.FINGERPRINT = 'another fastbp'")
    # Another CPU.
    assert misses(environment={"NUMBA_CPU_NAME": "generic"})
    # Other settings of Numba's code generation: profiling, bounds checks, optimisation level.
    for setting in ({"NUMBA_ENABLE_PROFILING": "1"}, {"NUMBA_BOUNDSCHECK": "1"}, {"NUMBA_OPT": "0"}):
        assert misses(environment=setting), setting
    # None replaced the first entries.
    last, _ = probe(tmp_path)
    assert last["predict"] == last["copy"] == [1, 0]
    # Another Numba: Numba keeps its version in the cache's index, and starts a new index for another.
    assert misses("numba.__version__ = '0.0.1'")


def test_the_fingerprint_follows_the_version_and_every_compiled_source(tmp_path):
    for folder in COMPILED_SOURCES:
        shutil.copytree(PACKAGE / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    original = source_fingerprint(tmp_path, "1.0")
    assert source_fingerprint(tmp_path, "1.0") == original
    assert source_fingerprint(tmp_path, "1.1") != original
    loops = tmp_path / "backends" / "cpu" / "loops.py"
    loops.write_text(loops.read_text() + "\n# changed\n")
    assert source_fingerprint(tmp_path, "1.0") != original


@pytest.mark.skipif(
    int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)) < 2, reason="needs two of Numba's threads"
)
def test_one_thread_compiles_no_parallel_code_and_threads_compile_only_theirs(tmp_path):
    parallel = "fastbp.backends.cpu.parallel."
    one, _ = probe(tmp_path / "one", inputs=64, units=64, rows=256, backend="serial")
    assert not [name for name in one["compiled"] if name.startswith(parallel)]
    threads, told = probe(tmp_path / "threads", inputs=64, units=64, rows=256, backend="parallel")
    assert parallel + "forward_layer" in threads["compiled"]
    assert "fastbp: compiling predict (float64, threads)" in told
    # Layers this small are never tiled: no tile code is compiled.
    assert not [name for name in one["compiled"] + threads["compiled"] if ".tiles." in name or ".products." in name]


def said(stream: io.StringIO) -> list[str]:
    """The notice's lines, without their endings (the seconds, and what later runs do)."""
    return [line.split(" for this machine")[0].split(" in ")[0] for line in stream.getvalue().splitlines()]


@contextlib.contextmanager
def listening(module: str, *functions):
    """A notice writing to a new stream, listening to Numba's compiles of ``functions``, made members of ``module``."""
    for function in functions:
        function.__module__ = module
    stream = io.StringIO()
    notice = CompileNotice(stream)
    with event.install_listener("numba:compile", notice):
        yield notice, stream


def test_the_notice_reports_an_entry_points_compile_once_and_nothing_else():
    def predict(theta, n_threads, tiles):
        return theta[0]

    def helper(theta):
        return theta[0]

    with listening("fastbp.backends.cpu.serial", predict, helper) as (notice, stream):
        numba.njit(predict)(np.ones(1, dtype=np.float32), None, True)
        compiled = numba.njit(predict)
        compiled(np.ones(1), 2, None)
        compiled(np.ones(1), 2, None)  # loaded: no word
        numba.njit(helper)(np.ones(1))  # not an entry point
        notice.enabled = False
        compiled(np.ones(1), None, None)
    assert said(stream) == [
        "fastbp: compiling predict (float32, one thread, register tiles)",
        "fastbp: compiled predict (float32, one thread, register tiles)",
        "fastbp: compiling predict (float64, threads)",
        "fastbp: compiled predict (float64, threads)",
    ]


def test_the_notice_reports_the_loops_a_fit_makes_ready_in_one_line():
    def input_sum(W):
        return W[0]

    def activate(W):
        return W[1]

    with listening("fastbp.backends.cpu.loops", input_sum, activate) as (notice, stream):
        with notice.index_loops():
            numba.njit(input_sum)(np.ones(2))
            numba.njit(activate)(np.ones(2))
        with notice.index_loops():
            pass  # nothing compiled: no word
        numba.njit(activate)(np.ones(2, dtype=np.float32))  # outside the block: by its name
    assert said(stream) == [
        "fastbp: compiling the index loops (float64)",
        "fastbp: compiled the index loops (float64)",
        "fastbp: compiling activate (float32)",
        "fastbp: compiled activate (float32)",
    ]


def test_the_notice_passes_over_a_function_without_a_module():
    namespace: dict = {}
    exec("def made_by_exec(x):\n    return x + 1", namespace)  # its __module__ is None
    stream = io.StringIO()
    with event.install_listener("numba:compile", CompileNotice(stream)):
        assert numba.njit(namespace["made_by_exec"])(1) == 2
    assert stream.getvalue() == ""


# A dense and a CSR fit on one thread, and the register tiles on one thread and two (called directly:
# layers this small are below their thresholds); prints the compiled functions of the backends that
# take a literal or an unsigned integer, and the names of those compiled.
SIGNATURES_PROBE = """
import gc, json
import numpy as np
from numba.core import types
from numba.core.registry import CPUDispatcher
from scipy import sparse
import fastbp
from fastbp.backends.cpu import parallel, products
from fastbp.numerics.formulas import SIGMOID

rng = np.random.default_rng(0)
X, Y = rng.normal(size=(12, 5)), np.eye(3)[np.arange(12) % 3]
fastbp.Network([5, 4, 3], seed=0).fit(X, Y, epochs=1, backend="serial")
fastbp.Network([5, 4, 3], seed=0).fit(sparse.csr_matrix(X), Y, epochs=1, backend="serial")
W, b, a_prev, delta = rng.normal(size=(3, 5)), rng.normal(size=3), rng.random((4, 5)), rng.normal(size=(4, 3))
z, below, dW, db = np.empty((4, 3)), np.empty((4, 5)), np.empty((3, 5)), np.empty(3)
products.input_sum(W, b, a_prev, z)
parallel.tiled_input_sum(W, b, a_prev, z, 2)
products.backpropagate(W, delta, SIGMOID, a_prev, below)
parallel.tiled_backpropagate(W, delta, SIGMOID, a_prev, below, 2)
products.layer_gradients(W, a_prev, delta, 0.25, 0.0, dW, db)
parallel.tiled_layer_gradients(W, a_prev, delta, 0.25, 0.0, dW, db, 2)
kernels = [
    k for k in gc.get_objects()
    if type(k) is CPUDispatcher and k.py_func.__module__.startswith("fastbp.backends.")
]
variants = [
    f"{k.py_func.__module__}.{k.py_func.__name__}{signature}"
    for k in kernels
    for signature in k.signatures
    if any(isinstance(t, types.Literal) or (isinstance(t, types.Integer) and not t.signed) for t in signature)
]
print(json.dumps({"variants": variants, "compiled": sorted({k.py_func.__name__ for k in kernels if k.signatures})}))
"""


def test_no_kernel_compiles_a_variant_for_a_literal_argument_or_a_prange_index(tmp_path):
    """Each would type, and compile, a variant of its own beside the int64 one that other callers pass.

    A literal (``0``) types as itself; an index of ``prange`` passed on as it
    is types as a uint64 in the threads' part of the loop.  In a process with
    an empty cache (a kernel loaded from the cache brings the functions it
    calls inside it, uncompiled and unseen), after a dense and a CSR fit on
    one thread and the register tiles on one thread and two, no compiled
    function of the backends takes a literal or an unsigned integer.
    """
    pytest.importorskip("scipy.sparse")
    found = run_probe(SIGNATURES_PROBE, tmp_path)
    assert {"layer_gradients", "input_sum", "input_sum_tiles", "pack_row_blocks", "thread_share"} <= set(
        found["compiled"]
    )
    assert found["variants"] == []
