"""Run under ``mpiexec -n R``: fastbp.scaleout.mpi.fit on known shards, results saved by rank 0.

``python tests/scripts/mpi_fit.py OUT.npz``; tests/test_scaleout.py compares
the results with single-process training.
"""

import sys

import numpy as np
from mpi4py import MPI

from fastbp import Network
from fastbp.scaleout import mpi

SHARD = 50
SIZES = [5, 7, 3]
L2 = 1e-2
CONFIGS = {
    "sgd": dict(epochs=3, batch_size=16, learning_rate=0.5),
    "adam": dict(epochs=3, batch_size=10, learning_rate=0.02, optimizer="adam", shuffle=False),
    "parameters_1": dict(epochs=3, batch_size=16, learning_rate=0.5, average="parameters", period=1),
    "parameters_3": dict(epochs=3, batch_size=16, learning_rate=0.1, momentum=0.9, average="parameters", period=3),
}


def data(ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """The global data set: ``ranks`` shards of ``SHARD`` samples, one after the other."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(ranks * SHARD, SIZES[0]))
    return X, np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], ranks * SHARD)]


def network(seed: int) -> Network:
    return Network(SIZES, "tanh", "softmax", "categorical_cross_entropy", l2=L2, dtype="float64", seed=seed)


def error_message(call) -> str:
    """The ValueError ``call`` raises on this rank ('' if none)."""
    try:
        call()
    except ValueError as error:
        return str(error)
    return ""


def main(path: str) -> None:
    comm = MPI.COMM_WORLD
    X, Y = data(comm.size)
    shard = slice(comm.rank * SHARD, (comm.rank + 1) * SHARD)
    results = {}
    for name, arguments in CONFIGS.items():
        # Every rank starts from other weights: fit broadcasts rank 0's.
        net = network(seed=comm.rank)
        run = mpi.fit(net, X[shard], Y[shard], comm, **arguments)
        thetas = comm.gather(net.theta, root=0)
        results[f"{name}_theta"] = np.array(thetas)
        results[f"{name}_loss"] = np.array(net.loss_curve)
        results[f"{name}_drift"] = np.array(run.drift)
        results[f"{name}_steps"] = np.array(run.steps)
    errors = {
        "batch": lambda: mpi.fit(network(0), X[shard], Y[shard], comm, batch_size=comm.size + 1),
        "shards": lambda: mpi.fit(network(0), X[shard][: SHARD - comm.rank], Y[shard][: SHARD - comm.rank], comm),
    }
    for name, call in errors.items():
        results[f"{name}_error"] = np.array(comm.gather(error_message(call), root=0))
    if comm.rank == 0:
        np.savez(path, ranks=comm.size, **results)


if __name__ == "__main__":
    main(sys.argv[1])
