"""The benchmarks cannot rot: the comparison script and the asv suite run here, briefly."""

import dataclasses
import importlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_probe

from benchmarks.bench_training import MainJob, SparseText, TrainEpoch, estimator_first_fit, first_fit
from fastbp.bench import compare, peaks
from fastbp.bench.peers import JaxPeer, TorchPeer, identity_orders
from fastbp.bench.workloads import WORKLOADS, Workload, compiled_backends, is_sparse, unavailable

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_compare_quick_digits_prints_a_row_per_peer(capsys):
    assert compare.main(["--quick", "--workloads", "digits", "--peers", "fastbp,numpy", "--dtype", "float64"]) == 0
    rows = [
        line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ") and "peer" not in line
    ]
    measurable = [f"fastbp-{name}" for name in compiled_backends() if unavailable(name) is None]
    assert sorted(row[0] for row in rows) == sorted(["numpy", "fastbp-estimator"] + measurable)
    for row in rows:
        assert float(row[1]) > 0  # ms per epoch
    best_fastbp = min(float(row[2]) for row in rows if row[0].startswith("fastbp-"))
    assert best_fastbp == 1.0


def small_text_data(rng):
    """A sparse CSR matrix like the text workload's, small: 120 rows, 300 columns, 3% nonzero."""
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.random(120, 300, density=0.03, format="csr", random_state=rng)
    return X, np.eye(4)[rng.integers(0, 4, 120)]


SMALL_TEXT = Workload("small-text", (300, 8, 4), "softmax", "categorical_cross_entropy", 16, 1, small_text_data)


@pytest.mark.parametrize("workload", [WORKLOADS["digits"], SMALL_TEXT], ids=["digits", "sparse"])
@pytest.mark.parametrize("peer_name", ["jax", "torch"])
def test_peers_given_fastbps_order_end_with_fastbps_weights(peer_name, workload):
    # The comparison is fair only if every peer trains the same network the same way: from the
    # same weights, in the same order of the samples, two epochs in float64. Sparse inputs
    # (the text workload's CSR rows) each peer reads its own way: JAX as padded rows,
    # PyTorch through an EmbeddingBag.
    pytest.importorskip(peer_name)
    X, Y = workload.data("float64")
    peer = JaxPeer(workload, X, Y) if peer_name == "jax" else TorchPeer(workload, X, Y, threads=1)
    for _ in range(2):  # two units of one epoch
        peer.run(identity_orders(workload.epochs, X.shape[0]))
    network = workload.network("float64")
    network.fit(X, Y, epochs=2, learning_rate=0.1, batch_size=workload.batch_size, shuffle=False, backend="serial")
    for l, (W, b) in enumerate(peer.layer_weights(), start=1):
        assert np.abs(W - network.W[l]).max() < 1e-10
        assert np.abs(b - network.b[l]).max() < 1e-10
        assert np.abs(W - workload.network("float64").W[l]).max() > 1e-3  # it trained


def test_a_workload_whose_data_needs_a_missing_package_is_skipped_with_a_note(monkeypatch, capsys):
    def without_scipy(rng):
        raise ImportError("No module named 'scipy'")

    monkeypatch.setitem(WORKLOADS, "text", dataclasses.replace(WORKLOADS["text"], make_data=without_scipy))
    assert compare.main(["--rounds", "1", "--workloads", "text", "--peers", "numpy"]) == 0
    assert "note: text skipped: No module named 'scipy'" in capsys.readouterr().out


def test_the_text_workload_counts_the_flops_of_its_nonzeros():
    workload = WORKLOADS["text"]
    n_samples, nonzeros = 20000, 1_000_000
    n0, n1, n2 = workload.sizes
    per_sample = 2 * 2 * n1 * nonzeros / n_samples + 3 * 2 * n2 * n1
    updates = 100 * 2 * (n1 * n0 + n1 + n2 * n1 + n2)
    assert compare.flops_per_unit(workload, n_samples, nonzeros) == pytest.approx(n_samples * per_sample + updates)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peaks_are_measured(dtype):
    # Only that they run and give a rate: their ratio depends on the machine and on its load.
    for peak in (peaks.fma_peak(dtype, 1), peaks.blas_peak(dtype, 1)):
        assert np.isfinite(peak) and peak > 0
    assert peaks.numba_vector_bits() in (128, 256, 512)


FMA_PROBE = """
import json, re
import numpy as np
from fastbp.bench import peaks
loop = peaks.FMA_LOOPS["float32"]
rows, units = peaks.FMA_TILES[peaks.VECTOR_BITS]["float32"]
loop(np.ones(rows, np.float32), np.ones(units, np.float32), 2, 1)
assembly = "".join(loop.inspect_asm().values())
blocks = re.split(r"\\n\\.LBB\\w+:", assembly)
hot = max(blocks, key=lambda block: block.count("vfmadd")).split("\\tj")[0]
register_only = r"vfmadd\\w+\\s+%([xyz]mm)\\d+, %[xyz]mm\\d+, %[xyz]mm\\d+"
print(json.dumps({
    "bits": peaks.VECTOR_BITS,
    "registers": re.findall(register_only, hot),
    "stack": len(re.findall(r"\\(%rsp\\)", hot)),
}))
"""


def test_the_fma_peak_keeps_its_sums_in_vector_registers_of_the_tiles_width(tmp_path):
    # Its sums once lived in a heap array, loaded and stored at every step: 13 GFLOP/s of a peak over 400;
    # with a factor per row, AVX2's 16 registers could not hold them (sums spilled to the stack: a third).
    found = run_probe(FMA_PROBE, tmp_path)
    register = {512: "zmm", 256: "ymm"}[found["bits"]]
    # one multiply-add of registers per vector of the sums, all of the tiles' width, none spilled
    assert found["registers"].count(register) >= (16 if register == "zmm" else 12)
    assert set(found["registers"]) == {register}
    assert found["stack"] == 0


class RecordingPeer:
    settle_seconds = 0.0
    compile_seconds = None

    def __init__(self, name, seconds, calls):
        self.name, self.seconds, self.calls = name, seconds, calls

    def train(self):
        self.calls.append(self.name)
        time.sleep(self.seconds)


def test_short_units_are_timed_right_after_an_untimed_one_of_their_own():
    # Timed after another peer's settling pause, a short unit finds its data out of the caches.
    calls = []
    short, long = RecordingPeer("short", 0.0, calls), RecordingPeer("long", compare.HOT_SECONDS, calls)
    seconds = compare.measure_rounds([short, long], rounds=3)
    assert [len(seconds[name]) for name in ("short", "long")] == [3, 3]
    rounds = calls[2:]  # after the untimed first call of each
    assert rounds == ["short", "short", "long", "long", "short", "short", "short", "short", "long"]


def test_small_fits_count_the_work_of_a_fit_as_fastbp_bench_counts_it():
    from benchmarks.small_fits import fit_flops

    # iris, 16 units, 3 outputs, 150 samples in one batch: per sample the forward pass and the gradients
    # of both layers (2 x (4 x 16 + 16 x 3) multiply-adds each) and the deltas below layer 2 (16 x 3);
    # per batch, 2 FLOPs per parameter for the update.  Two epochs of two batches: twice the updates.
    per_sample = 2 * (2 * (4 * 16 + 16 * 3) + 16 * 3)
    parameters = 4 * 16 + 16 + 16 * 3 + 3
    assert fit_flops(150, (4, 16, 3), 150, 1) == 150 * per_sample + 2 * parameters
    assert fit_flops(150, (4, 16, 3), 100, 2) == 2 * (150 * per_sample + 2 * 2 * parameters)


def test_small_fits_time_each_pair_in_the_rounds_of_fastbp_bench_with_its_settling_pause(monkeypatch):
    # Without the pause after each call, fastbp's fits ran while OpenBLAS's threads still spun after scikit-learn's.
    from benchmarks import small_fits

    pauses, calls = [], []
    monkeypatch.setattr(compare.time, "sleep", pauses.append)
    seconds = small_fits.side_by_side({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 2, repeats=3)
    assert set(seconds) == {"a", "b"} and all(0 <= value < compare.HOT_SECONDS for value in seconds.values())
    # per name: 3 untimed first calls, then 2 rounds of 3 untimed (short units) and 3 timed
    assert calls.count("a") == calls.count("b") == 3 + 2 * 6
    assert pauses == [small_fits.SETTLE_SECONDS] * 4


def test_flop_count_of_a_two_layer_network():
    # 64-32-10, batch 32, 1797 samples: forward + gradient on both layers, deltas below layer 2 only
    per_sample = 2 * (2 * 32 * 64) + 3 * (2 * 10 * 32)
    updates = 57 * 2 * (32 * 64 + 32 + 10 * 32 + 10)
    assert compare.flops_per_unit(WORKLOADS["digits"], 1797) == 1797 * per_sample + updates


def test_asv_epoch_benchmark_trains_the_network():
    benchmark = TrainEpoch()
    backend = compiled_backends()[0]
    benchmark.setup(backend, "float32", "xor")
    before = benchmark.network.theta.copy()
    benchmark.time_epoch(backend, "float32", "xor")
    assert benchmark.network.theta.dtype == np.float32
    assert not np.array_equal(benchmark.network.theta, before)
    assert len(benchmark.network.loss_curve) == 2 * WORKLOADS["xor"].epochs


def test_asv_sparse_text_benchmark_trains_on_the_csr_matrix():
    pytest.importorskip("scipy.sparse")
    benchmark = SparseText()
    benchmark.setup("parallel", "float32")
    assert is_sparse(benchmark.X) and benchmark.X.shape == (20000, 50000) and 0.99e6 < benchmark.X.nnz <= 1e6
    before = benchmark.network.theta.copy()
    benchmark.time_epoch("parallel", "float32")
    assert not np.array_equal(benchmark.network.theta, before)
    assert len(benchmark.network.loss_curve) == 2
    benchmark.time_estimator_epoch("parallel", "float32")


def test_asv_first_fit_code_runs():
    code, setup = first_fit(compiled_backends()[0], "float64", "")
    namespace = {}
    exec(setup, namespace)
    exec(code, namespace)


def test_asv_first_estimator_fit_and_main_job_code_run(capsys):
    pytest.importorskip("sklearn")
    code, setup = estimator_first_fit("")
    exec(setup + code, {})
    # The main job's setup empties the cache of the process it runs in: here only its code runs.
    namespace: dict = {}
    exec(MainJob().timeraw_cold_cache()[0], namespace)
    assert "held-out accuracy" in namespace["report"].getvalue()
    assert capsys.readouterr().out == ""  # asv's timeraw reads the time from standard output


def test_every_benchmark_module_imports_without_the_optional_peers():
    # asv imports every module of benchmarks/ in an environment with only fastbp's
    # own dependencies: none may import scikit-learn, torch, jax or numba.cuda at import time.
    names = sorted(path.stem for path in BENCHMARKS.glob("*.py") if path.stem != "__init__")
    code = (
        "import sys\n"
        "for blocked in ('sklearn', 'torch', 'jax', 'numba.cuda'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {names!r}:\n"
        "    __import__('benchmarks.' + name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=BENCHMARKS.parent)
    assert result.returncode == 0, result.stderr


def test_only_the_asv_suite_defines_asv_benchmarks():
    # asv runs every time_*, timeraw_*, peakmem_*, mem_* and track_* it finds in
    # benchmarks/: the scripts must not define any.
    prefixes = ("time_", "timeraw_", "peakmem_", "mem_", "track_")
    for path in BENCHMARKS.glob("*.py"):
        if path.stem in ("__init__", "bench_training"):
            continue
        module = importlib.import_module(f"benchmarks.{path.stem}")
        assert not [name for name in vars(module) if name.startswith(prefixes)], path.name


# Two compiled functions, one calling the other, for the compile profile's tests.
TOY_JOB = (
    "import numba\n@numba.njit\ndef inner(x):\n    return x + 1\n@numba.njit\ndef outer(x):\n    return inner(x) * 2\n"
)


def test_the_compile_profile_times_each_compiled_function_once_per_compilation(capsys):
    from benchmarks.compile_profile import profile, report

    result = profile(TOY_JOB + "outer(1)\nouter(1.5)\n")
    rows = result["rows"]
    assert rows["__main__.outer"][0] == 2 and rows["__main__.inner"][0] == 2  # int64, then float64
    # outer's inclusive time holds inner's compiles, its exclusive time does not.
    assert rows["__main__.outer"][2] >= rows["__main__.outer"][1] + rows["__main__.inner"][2] * 0.99
    assert result["wall"] >= rows["__main__.outer"][2]
    report("toy", result, top=1)
    printed = capsys.readouterr().out
    assert printed.startswith("toy: 4 compilations") and "1 more functions" in printed
    assert ("__main__.outer" in printed) != ("__main__.inner" in printed)


def test_the_compile_profile_records_llvms_libraries_and_counts_the_copies_of_a_linked_function(capsys):
    from benchmarks.compile_profile import profile, python_name, report_libraries

    result = profile(TOY_JOB + "outer(1)\n")
    # Numba's passes, each without the compiles nested in it: together no longer than the job.
    assert result["passes"]["native_lowering"] > 0 and result["passes"]["nopython_type_inference"] > 0
    assert sum(result["passes"].values()) <= result["wall"]
    libraries = result["libraries"]
    names = [name for name, *_ in libraries]  # a library is named after its function
    assert names.count("inner") == 1 and names.count("outer") == 1
    _, seconds, passes, linked, functions = libraries[names.index("outer")]
    assert linked >= 1 and 0 < passes <= seconds  # inner's library (and Numba's helpers) linked in, then optimised
    assert "__main__.outer" in {python_name(symbol) for symbol in functions} and min(functions.values()) > 0
    # The same function defined in two libraries is counted as two copies; one under the threshold is not listed.
    inner, big = "_ZN8__main__5innerB2v2B4abcdEx", "_ZN8__main__3bigB2v3Ex"
    fake = [["inner", 0.5, 0.2, 0, {inner: 1500}], ["outer", 1.0, 0.6, 1, {inner: 1400, big: 900}]]
    report_libraries({"libraries": fake, "passes": {"native_lowering": 2.5, "nopython_type_inference": 0.5}}, top=5)
    printed = capsys.readouterr().out
    assert printed.startswith("  LLVM: 2 libraries finalized in 1.50 s: module passes 0.80 s")
    assert "LLVM's finalize): native_lowering 2.50 s, nopython_type_inference 0.50 s\n" in printed
    listed = [line.split() for line in printed.splitlines() if line.startswith("    ")]
    assert listed == [["__main__.inner", "2", "2900"]]
