"""Beyond one machine: hyperparameter search on a Dask cluster, data-parallel training with MPI."""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fastbp import Network
from fastbp.engine.training import Trainer
from fastbp.numerics import optim
from fastbp.numerics.shuffling import shuffle

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "scripts"


def test_import_fastbp_imports_neither_dask_nor_mpi4py():
    modules = "('dask', 'distributed', 'mpi4py', 'fastbp.scaleout')"
    code = f"import sys, fastbp; print(sorted(m for m in {modules} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- Dask ----------------------------------------------------------------------


def test_numba_threads_per_worker_shares_the_cores():
    dask = pytest.importorskip("fastbp.scaleout.dask")
    assert dask.numba_threads_per_worker(2, cores=16) == 8
    assert dask.numba_threads_per_worker(3, cores=16) == 5
    assert dask.numba_threads_per_worker(4, cores=2) == 1
    with pytest.raises(ValueError, match="n_workers must be at least 1"):
        dask.numba_threads_per_worker(0)


def test_environment_is_restored_after_the_block():
    dask = pytest.importorskip("fastbp.scaleout.dask")
    os.environ.pop("FASTBP_TEST_UNSET", None)
    os.environ["FASTBP_TEST_SET"] = "before"
    try:
        with dask.environment({"FASTBP_TEST_UNSET": "1", "FASTBP_TEST_SET": "during"}):
            assert os.environ["FASTBP_TEST_UNSET"] == "1" and os.environ["FASTBP_TEST_SET"] == "during"
        assert "FASTBP_TEST_UNSET" not in os.environ
        assert os.environ["FASTBP_TEST_SET"] == "before"
    finally:
        del os.environ["FASTBP_TEST_SET"]


def small_search(n_jobs=None):
    """A grid of 4 settings x 2 folds over a fastbp MLPClassifier, on 600 digits."""
    from sklearn.model_selection import GridSearchCV

    from fastbp import MLPClassifier
    from fastbp.datasets import load_digits

    pixels, labels = load_digits()
    estimator = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", max_iter=15, random_state=0)
    grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [0.05, 0.2]}
    search = GridSearchCV(estimator, grid, cv=2, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 15 epochs are few on purpose
        return search.fit(pixels[:600] / 16.0, labels[:600])


def test_grid_search_on_a_local_dask_cluster_equals_the_sequential_search():
    pytest.importorskip("sklearn")
    dask = pytest.importorskip("fastbp.scaleout.dask")
    import joblib
    from distributed import Client, get_task_stream

    # The sequential search also fills Numba's on-disk cache, so that the
    # workers load every kernel and compile none.
    sequential = small_search()
    with dask.local_cluster(2, cores=2, dashboard_address=None) as cluster, Client(cluster) as client:
        with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
            distributed = small_search()
        reports = client.run(dask.kernel_report)
    assert distributed.best_params_ == sequential.best_params_
    for key in ("mean_test_score", "std_test_score", "split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_array_equal(distributed.cv_results_[key], sequential.cv_results_[key])
    assert distributed.cv_results_["params"] == sequential.cv_results_["params"]
    tasks = Counter(task["worker"] for task in stream.data)
    assert set(tasks) == set(reports), "both workers ran tasks"
    assert max(tasks.values()) >= 2
    for report in reports.values():
        assert report["numba_threads"] == 1  # 2 cores shared by 2 workers
        assert report["signatures"] > 0
        assert report["compiled"] == 0
        assert report["most_loads"] == 1  # each kernel loaded once per worker, not once per task


# ---- MPI -----------------------------------------------------------------------


def find_mpiexec() -> str | None:
    """The ``mpiexec`` installed beside this Python (the mpich wheel's), else one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The results of ``mpiexec -n 2 python tests/scripts/mpi_fit.py``."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'fastbp[mpi]')")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec found beside Python or on PATH (pip install mpich)")
    path = tmp_path_factory.mktemp("mpi") / "results.npz"
    environment = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    result = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, str(SCRIPTS / "mpi_fit.py"), str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(SCRIPTS))
    try:
        import mpi_fit
    finally:
        sys.path.remove(str(SCRIPTS))
    return mpi_fit, dict(np.load(path))


def global_batches(shards: list, batch_size: int, order: np.ndarray) -> np.ndarray:
    """The rows of ``shards`` in the order the ranks visit them: per global batch, each rank's slice in turn."""
    local = batch_size // len(shards)
    return np.concatenate(
        [shard[order[start : start + local]] for start in range(0, order.shape[0], local) for shard in shards]
    )


def single_process_sgd(script, X_shards, Y_shards, arguments) -> Network:
    """Plain SGD on the global batches, one epoch at a time, in the order the ranks shuffle to."""
    network = script.network(seed=0)
    state = network.rng_state.copy()
    for _ in range(arguments["epochs"]):
        order = np.arange(script.SHARD)
        shuffle(order, state)
        X = global_batches(X_shards, arguments["batch_size"], order)
        Y = global_batches(Y_shards, arguments["batch_size"], order)
        network.fit(
            X,
            Y,
            epochs=1,
            learning_rate=arguments["learning_rate"],
            batch_size=arguments["batch_size"],
            shuffle=False,
            backend="serial",
        )
    return network


def single_process_adam(script, X_shards, Y_shards, arguments) -> Network:
    """Adam on the global batches, unshuffled."""
    network = script.network(seed=0)
    order = np.arange(script.SHARD)
    X = global_batches(X_shards, arguments["batch_size"], order)
    Y = global_batches(Y_shards, arguments["batch_size"], order)
    trainer = Trainer(network, optim.hyperparameters(arguments["learning_rate"]), "adam", "serial")
    trainer.run(X, Y, np.ones(X.shape[0]), arguments["epochs"], arguments["batch_size"], shuffle=False)
    return network


@pytest.mark.parametrize("name, reference", [("sgd", single_process_sgd), ("adam", single_process_adam)])
def test_two_ranks_equal_single_process_training_on_the_global_batch(two_ranks, name, reference):
    script, results = two_ranks
    ranks = int(results["ranks"])
    X, Y = script.data(ranks)
    shards = [slice(rank * script.SHARD, (rank + 1) * script.SHARD) for rank in range(ranks)]
    single = reference(script, [X[s] for s in shards], [Y[s] for s in shards], script.CONFIGS[name])
    thetas = results[f"{name}_theta"]
    np.testing.assert_allclose(thetas[0], single.theta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[f"{name}_loss"], single.loss_curve, rtol=1e-10)
    # 50 samples per rank in local batches of 8 (sgd) or 5 (adam): 7 or 10 steps per epoch
    assert int(results[f"{name}_steps"]) == 3 * -(-script.SHARD // (script.CONFIGS[name]["batch_size"] // ranks))
    assert float(results[f"{name}_drift"]) == 0.0
    np.testing.assert_array_equal(thetas[1], thetas[0])


def test_parameter_averaging_every_step_is_gradient_averaging(two_ranks):
    _, results = two_ranks
    np.testing.assert_allclose(results["parameters_1_theta"][0], results["sgd_theta"][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results["parameters_1_loss"], results["sgd_loss"], rtol=1e-10)


def test_parameter_averaging_every_3_steps_ends_with_identical_weights(two_ranks):
    _, results = two_ranks
    thetas = results["parameters_3_theta"]
    assert float(results["parameters_3_drift"]) == 0.0
    np.testing.assert_array_equal(thetas[1], thetas[0])
    assert np.all(np.isfinite(thetas[0]))
    assert not np.allclose(thetas[0], results["parameters_1_theta"][0])


def test_every_rank_raises_the_same_error_for_bad_arguments(two_ranks):
    _, results = two_ranks
    assert list(results["batch_error"]) == ["batch_size must be a multiple of the 2 ranks, got 3"] * 2
    assert all("shards must be equal" in message for message in results["shards_error"])
    assert len(results["shards_error"]) == 2
