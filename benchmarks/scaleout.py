"""Scale-out figures: Dask search throughput, MPI epoch times, and a cost model for N machines.

Run from the repository root (needs ``pip install ".[dask,mpi,sklearn]"``)::

    python -m benchmarks.scaleout                 # all three parts
    python -m benchmarks.scaleout --parts mpi,model --rounds 5

* ``dask``: a fixed grid search (digits, :data:`SEARCH_GRID` x 2 folds =
  16 fits of fastbp's ``MLPClassifier``) run in this process with 1 and 2
  Numba threads, and on local Dask clusters of 1 and 2 worker processes
  (:func:`fastbp.scaleout.dask.local_cluster`: the cores shared between the
  workers' Numba pools).  Reported: fits per second of the median search
  over the rounds, after a first search shown apart (the workers import
  fastbp and load the kernels from Numba's cache during it), and each
  worker's first task against its later ones.  joblib runs the fits in the
  calling process when the cluster has a single thread in all, as the
  1-worker cluster has: that line measures joblib's fallback, not a worker.
* ``mpi``: ``mpiexec -n R`` over :func:`fastbp.scaleout.mpi.fit` on the
  ``mnistlike`` workload (:mod:`benchmarks.workloads`: 10000 x 784,
  784-128-64-10 softmax, global batch 64, float32, learning rate 0.1,
  L2 1e-4, sigmoid hidden units), each rank holding ``10000 / R`` samples:
  1 rank x 1 Numba thread, 2 ranks x 1 thread, 1 rank x 2 threads, each
  launch in a fresh ``mpiexec``, the configurations rotated from round to
  round.  Reported: the median seconds per epoch, the share of the epoch
  spent inside ``Allreduce`` (moving data and waiting for the other rank),
  one ``Allreduce`` of all parameters timed on its own, and fastbp's
  compiled epoch loop (``Network.fit``) without MPI for comparison.
* ``model``: the cost model (:func:`epoch_seconds`) fed with the measured
  compute time per sample, predicting the epoch time on N machines for the
  network bandwidths and latencies given on the command line (assumptions,
  not measurements: defaults 10 Gbit/s with 25 us, and 100 Gbit/s with 2 us).
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
import warnings
from pathlib import Path

import numpy as np

from .workloads import LEARNING_RATE, WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
PARTS = ["dask", "mpi", "model"]
SEARCH_GRID = {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "learning_rate_init": [0.05, 0.2]}
SEARCH_FOLDS = 2
MPI_CONFIGS = [(1, 1), (2, 1), (1, 2)]  # (ranks, Numba threads per rank)
MACHINES = [1, 2, 4, 8, 16, 32, 64]


# ---- the cost model --------------------------------------------------------------


def ring_allreduce_seconds(n_bytes: float, ranks: int, bandwidth: float, latency: float) -> float:
    """One ring ``Allreduce`` of ``n_bytes`` over ``ranks`` machines.

    Reduce-scatter then all-gather: ``2 (R - 1)`` messages in sequence, each
    of ``n_bytes / R``, so every machine sends ``2 (R - 1) / R`` of the data:
    ``2 (R - 1) latency + 2 (R - 1) / R * n_bytes / bandwidth`` (bandwidth in
    bytes per second).
    """
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * n_bytes / bandwidth


def epoch_seconds(
    n_samples: int,
    batch_size: int,
    ranks: int,
    sample_seconds: float,
    n_bytes: float,
    bandwidth: float,
    latency: float,
    period: int = 1,
) -> float:
    """Predicted seconds per epoch of data-parallel training on ``ranks`` machines.

    Compute: each machine trains ``n_samples / ranks`` samples at
    ``sample_seconds`` each (about ``6 P`` FLOPs per sample for ``P``
    parameters: forward pass, deltas and gradients, 2 FLOPs per weight each).
    Communication: ``ceil(n_samples / batch_size) / period`` ring
    ``Allreduce`` calls of ``n_bytes`` (``P`` times the item size): every
    step for gradient averaging, every ``period`` steps for parameter
    averaging.  Compute and communication do not overlap (the update needs
    the reduced gradient).
    """
    steps = math.ceil(n_samples / batch_size)
    compute = sample_seconds * n_samples / ranks
    return compute + steps / period * ring_allreduce_seconds(n_bytes, ranks, bandwidth, latency)


def model_table(sample_seconds: float, n_bytes: float, n_samples: int, batch_size: int, networks: list) -> str:
    """Predicted epoch time and speedup on 1 .. 64 machines for each ``(name, bandwidth, latency, period)``."""
    single = sample_seconds * n_samples
    lines = [f"  {'machines':>8}" + "".join(f"{name:>34}" for name, *_ in networks)]
    lines.append(f"  {'':>8}" + "".join(f"{'ms/epoch  speedup  comm share':>34}" for _ in networks))
    best = [(1.0, 1)] * len(networks)
    for ranks in MACHINES:
        cells = []
        for index, (_, bandwidth, latency, period) in enumerate(networks):
            total = epoch_seconds(n_samples, batch_size, ranks, sample_seconds, n_bytes, bandwidth, latency, period)
            best[index] = max(best[index], (single / total, ranks))
            share = 1 - single / ranks / total
            cells.append(f"{1e3 * total:>14.1f}{single / total:>9.2f}{100 * share:>8.0f}%")
        lines.append(f"  {ranks:>8}" + "".join(f"{cell:>34}" for cell in cells))
    lines.append(f"  {'fastest':>8}" + "".join(f"{f'{ranks} machines, {speedup:.2f}x':>34}" for speedup, ranks in best))
    return "\n".join(lines)


# ---- Dask search throughput ------------------------------------------------------


def grid_search():
    """The benchmark's search: GridSearchCV over fastbp's MLPClassifier on the digits."""
    from sklearn.model_selection import GridSearchCV

    from fastbp import MLPClassifier

    estimator = MLPClassifier(hidden_layer_sizes=(64,), solver="sgd", max_iter=50, random_state=0)
    return GridSearchCV(estimator, SEARCH_GRID, cv=SEARCH_FOLDS)


def timed_search(X, y) -> float:
    """Seconds for one grid search, wherever joblib sends the fits."""
    search = grid_search()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 50 epochs are few on purpose
        search.fit(X, y)
    return time.perf_counter() - started


def first_and_later_tasks(tasks: list) -> str:
    """Per worker: the first task's duration and the median of the later ones (ms)."""
    by_worker = {}
    for task in sorted(tasks, key=lambda task: task["startstops"][0]["start"]):
        compute = [part for part in task["startstops"] if part["action"] == "compute"]
        by_worker.setdefault(task["worker"], []).append(sum(part["stop"] - part["start"] for part in compute))
    cells = []
    for durations in by_worker.values():
        later = f"{1e3 * statistics.median(durations[1:]):.0f}" if len(durations) > 1 else "-"
        cells.append(f"first {1e3 * durations[0]:.0f} ms, later median {later} ms ({len(durations)} tasks)")
    return "; ".join(cells)


def dask_part(rounds: int) -> None:
    """Fits per second in this process (1 and 2 Numba threads) and on 1 and 2 Dask workers."""
    import joblib
    from distributed import Client, get_task_stream

    from fastbp.backends import numba_threads
    from fastbp.datasets import load_digits
    from fastbp.scaleout.dask import local_cluster, numba_threads_per_worker

    pixels, labels = load_digits()
    X, y = pixels / 16.0, labels
    n_fits = math.prod(len(values) for values in SEARCH_GRID.values()) * SEARCH_FOLDS
    print(
        f"dask: GridSearchCV, {n_fits} fits of MLPClassifier(64 hidden, sgd, 50 epochs) on {X.shape[0]} digits, "
        f"{SEARCH_FOLDS} folds; fits/s of the median of {rounds} searches after a first one"
    )
    for threads in (1, 2):
        with numba_threads(threads):
            first = timed_search(X, y)
            seconds = [timed_search(X, y) for _ in range(rounds)]
        print(
            f"  {f'no Dask, this process, {threads} Numba thread(s)':<44}"
            f"{n_fits / statistics.median(seconds):>7.2f} fits/s "
            f"(first search {n_fits / first:.2f}; load average after: {os.getloadavg()[0]:.2f})"
        )
    for n_workers in (1, 2):
        with local_cluster(n_workers, dashboard_address=None) as cluster, Client(cluster) as client:
            with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
                first = timed_search(X, y)
            with joblib.parallel_backend("dask"):
                seconds = [timed_search(X, y) for _ in range(rounds)]
        label = f"{n_workers} Dask worker(s) x {numba_threads_per_worker(n_workers)} Numba thread(s)"
        print(
            f"  {label:<44}{n_fits / statistics.median(seconds):>7.2f} fits/s (first search {n_fits / first:.2f}; "
            f"load average after: {os.getloadavg()[0]:.2f})"
        )
        if stream.data:
            print(f"    tasks of the first search, per worker: {first_and_later_tasks(stream.data)}")
        else:
            print(
                "    no task reached the worker: joblib's Dask backend runs the fits in this process when the "
                "cluster has one thread in all"
            )


# ---- MPI epochs ------------------------------------------------------------------


def find_mpiexec() -> str:
    """The ``mpiexec`` beside this Python (the mpich wheel's), else one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise SystemExit("no mpiexec: pip install '.[mpi]'")
    return found


def rank_job(epochs: int) -> None:
    """Inside ``mpiexec``: train mnistlike on this rank's shard; rank 0 prints one JSON line."""
    from mpi4py import MPI

    from fastbp.scaleout import mpi

    comm = MPI.COMM_WORLD
    workload = WORKLOADS["mnistlike"]
    X, Y = workload.data("float32")
    shard = slice(comm.rank * X.shape[0] // comm.size, (comm.rank + 1) * X.shape[0] // comm.size)
    network = workload.network("float32")
    arguments = dict(batch_size=workload.batch_size, learning_rate=LEARNING_RATE)
    mpi.fit(network, X[shard], Y[shard], comm, epochs=1, **arguments)  # untimed: loads the kernels
    cpu = time.process_time()
    run = mpi.fit(network, X[shard], Y[shard], comm, epochs=epochs, **arguments)
    cpu = (time.process_time() - cpu) / run.seconds
    message = np.ones_like(network.theta)
    allreduce = []
    for _ in range(50):
        comm.Barrier()
        started = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, message, op=MPI.SUM)
        allreduce.append(time.perf_counter() - started)
    shares = comm.gather(run.communication_seconds / run.seconds, root=0)
    cpus = comm.gather(cpu, root=0)
    result = {"epoch": run.seconds / epochs, "shares": shares, "cpus": cpus, "allreduce": statistics.median(allreduce)}
    if comm.size == 1:
        baseline = workload.network("float32")
        baseline.fit(X, Y, epochs=1, **arguments)
        started = time.perf_counter()
        baseline.fit(X, Y, epochs=epochs, **arguments)
        result["compiled_loop"] = (time.perf_counter() - started) / epochs
    if comm.rank == 0:
        print(json.dumps(result), flush=True)


def launch(ranks: int, threads: int, epochs: int) -> dict:
    """One ``mpiexec -n ranks`` run of :func:`rank_job` with ``threads`` Numba threads per rank."""
    environment = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    command = [
        find_mpiexec(),
        "-n",
        str(ranks),
        sys.executable,
        "-m",
        "benchmarks.scaleout",
        "--rank-job",
        "--epochs",
        str(epochs),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def mpi_part(rounds: int, epochs: int) -> dict:
    """Median epoch times of the MPI configurations; returns the 1-rank, 1-thread results."""
    workload = WORKLOADS["mnistlike"]
    parameters = workload.network("float32").theta
    print(
        f"mpi: mnistlike, {'-'.join(map(str, workload.sizes))}, 10000 samples, global batch {workload.batch_size}, "
        f"float32, {parameters.size} parameters ({parameters.nbytes / 1024:.0f} KiB per Allreduce); "
        f"median of {rounds} launches of {epochs} epochs each"
    )
    results = {config: [] for config in MPI_CONFIGS}
    for round_index in range(rounds):
        shift = round_index % len(MPI_CONFIGS)
        for ranks, threads in MPI_CONFIGS[shift:] + MPI_CONFIGS[:shift]:
            results[ranks, threads].append(launch(ranks, threads, epochs))
    print(
        f"  {'ranks x threads':<18}{'ms/epoch':>10}{'Allreduce share':>17}"
        f"{'one Allreduce':>15}{'CPU/wall per rank':>19}"
    )
    for (ranks, threads), runs in results.items():
        epoch = statistics.median(run["epoch"] for run in runs)
        share = statistics.median(statistics.mean(run["shares"]) for run in runs)
        allreduce = statistics.median(run["allreduce"] for run in runs)
        cpu = statistics.median(statistics.mean(run["cpus"]) for run in runs)
        print(
            f"  {f'{ranks} x {threads}':<18}{1e3 * epoch:>10.1f}{100 * share:>16.1f}%{1e6 * allreduce:>12.0f} us"
            f"{100 * cpu:>18.0f}%"
        )
    print(
        f"  (load average after: {os.getloadavg()[0]:.2f}; CPU/wall: CPU seconds of a rank's process per second "
        "of its epochs, summed over its threads; MPICH polls while it waits in Allreduce)"
    )
    single = results[1, 1]
    loop = statistics.median(run["compiled_loop"] for run in single)
    print(f"  1 process, fastbp's compiled epoch loop (Network.fit, no MPI), 1 thread: {1e3 * loop:.1f} ms/epoch")
    return {
        "epoch": statistics.median(run["epoch"] for run in single),
        "two_ranks": statistics.median(run["epoch"] for run in results[2, 1]),
        "allreduce": statistics.median(run["allreduce"] for run in results[2, 1]),
        "bytes": parameters.nbytes,
    }


def model_part(measured: dict | None, networks: list) -> None:
    """The cost model's predictions for mnistlike from the measured 1-rank epoch (or a 1-thread fit here)."""
    # Imported here, not at the top: asv imports this module while measuring
    # commits that predate fastbp.bench.
    from fastbp.bench.compare import flops_per_unit

    workload = WORKLOADS["mnistlike"]
    n_samples = 10000
    if measured is None:
        X, Y = workload.data("float32")
        network = workload.network("float32")
        network.fit(X, Y, epochs=1, batch_size=workload.batch_size, learning_rate=LEARNING_RATE, backend="serial")
        started = time.perf_counter()
        network.fit(X, Y, epochs=2, batch_size=workload.batch_size, learning_rate=LEARNING_RATE, backend="serial")
        measured = {"epoch": (time.perf_counter() - started) / 2, "bytes": network.theta.nbytes}
    sample_seconds = measured["epoch"] / n_samples
    flops = flops_per_unit(workload, n_samples)
    print(
        f"model: compute {1e6 * sample_seconds:.1f} us per sample ({flops / measured['epoch'] / 1e9:.1f} GFLOP/s "
        f"on one core, measured), Allreduce of {measured['bytes'] / 1024:.0f} KiB per step of {workload.batch_size} "
        f"samples, ring algorithm; networks assumed"
    )
    if "allreduce" in measured:
        predicted = epoch_seconds(n_samples, workload.batch_size, 2, sample_seconds, measured["bytes"], math.inf, 0.0)
        predicted += math.ceil(n_samples / workload.batch_size) * measured["allreduce"]
        print(
            f"  check on this machine: 2 ranks, with the measured Allreduce of {1e6 * measured['allreduce']:.0f} us: "
            f"predicted {1e3 * predicted:.1f} ms/epoch, measured {1e3 * measured['two_ranks']:.1f} ms/epoch"
        )
    print(model_table(sample_seconds, measured["bytes"], n_samples, workload.batch_size, networks))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated, from: " + ", ".join(PARTS))
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (default 5)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per MPI launch (default 3)")
    parser.add_argument("--bandwidth", type=float, nargs="+", default=[10.0, 100.0], help="assumed network Gbit/s")
    parser.add_argument("--latency", type=float, nargs="+", default=[25.0, 2.0], help="assumed latency per message, us")
    parser.add_argument(
        "--period", type=int, default=8, help="steps between parameter averages in the model (default 8)"
    )
    parser.add_argument("--rank-job", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    arguments.parts = arguments.parts.split(",")
    unknown = [name for name in arguments.parts if name not in PARTS]
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    if len(arguments.bandwidth) != len(arguments.latency):
        parser.error("give one --latency per --bandwidth")
    if min(arguments.rounds, arguments.epochs, arguments.period) < 1:
        parser.error("--rounds, --epochs and --period must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts and print their figures."""
    arguments = parse_arguments(argv)
    if arguments.rank_job:
        rank_job(arguments.epochs)
        return 0
    print(
        f"fastbp scale-out: {os.cpu_count()} CPU(s); load average at start (1, 5, 15 min): "
        f"{', '.join(f'{load:.2f}' for load in os.getloadavg())}\n"
    )
    measured = None
    if "dask" in arguments.parts:
        dask_part(arguments.rounds)
        print()
    if "mpi" in arguments.parts:
        measured = mpi_part(arguments.rounds, arguments.epochs)
        print()
    if "model" in arguments.parts:
        networks = [
            (f"{bandwidth:g} Gbit/s, {latency:g} us", bandwidth * 1e9 / 8, latency * 1e-6, 1)
            for bandwidth, latency in zip(arguments.bandwidth, arguments.latency)
        ]
        name, bandwidth, latency, _ = networks[0]
        networks.append((f"{name}, params every {arguments.period}", bandwidth, latency, arguments.period))
        model_part(measured, networks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
