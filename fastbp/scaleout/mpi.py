"""Data-parallel training with MPI: each rank trains on its shard, the ranks average.

Run one process per rank under ``mpiexec`` (``pip install "fastbp[mpi]"``
brings mpi4py and an MPI library with its ``mpiexec``)::

    NUMBA_NUM_THREADS=1 mpiexec -n 4 python train.py

where ``train.py`` loads this rank's shard and calls :func:`fit`::

    from mpi4py import MPI
    from fastbp import Network
    from fastbp.scaleout import mpi

    comm = MPI.COMM_WORLD
    X, Y = load_shard(comm.rank, comm.size)          # equal shards, one per rank
    network = Network([784, 128, 64, 10], "sigmoid", "softmax", "categorical_cross_entropy", seed=0)
    run = mpi.fit(network, X, Y, comm, epochs=10, batch_size=64, learning_rate=0.1)
    if comm.rank == 0:
        network.save("model.npz")

The global mini-batch.  With ``R`` ranks and global batch size ``B``, each
rank takes ``b = B / R`` samples of its shard per step; global batch ``t``
of an epoch is the union of the ranks' local batches ``t``.  Every epoch
each rank permutes its local sample indices with the shared generator
(broadcast from rank 0 with the initial weights), so the ranks draw the same
permutation of their equal-sized shards.

Synchronous gradient averaging (``average="gradients"``, the default).  The
global batch's gradient (docs/notation.md, ``N = B``) splits into the ranks'
shares::

    dC/dW^l_kj = (1/B) sum_n delta^l_k(n) a^{l-1}_j(n)  +  (lambda/B) W^l_kj
               = sum_r [ (1/B) sum_{n of rank r} delta^l_k(n) a^{l-1}_j(n)  +  (lambda/(R B)) W^l_kj ]

Each rank computes its share with the compiled kernel
``accumulate_gradients`` (``N = B`` and ``lambda / R``), ``Allreduce`` sums the
shares, and every rank applies the same optimiser step to the same weights:
the result is single-process training on the global batches (up to the order
of the floating-point sums), and the ranks' weights stay identical.  Each
step moves all ``P`` gradient values through one ``Allreduce``.

Parameter averaging (``average="parameters"``, every ``period`` steps).  Each
rank steps on its own local gradient ``(1/b) sum_{n of rank r} delta a^T +
(lambda/B) W`` (the decay scaled as in the global batch) and ``Allreduce``
averages the weights every ``period`` steps and at the end.  With plain SGD
and ``period=1`` this equals gradient averaging; larger periods communicate
``period`` times less and drift between averages.  The optimiser's state
(momentum, Adam's moments) stays local to each rank.

The ranks drive fastbp's compiled kernels (:mod:`fastbp.backends.cpu.serial`)
step by step from Python, with the ``Allreduce`` between the gradients and
the update: the few microseconds of Python per step are small next to the
step's arithmetic and its communication.

Rank 0's model is the result.  At the end rank 0 broadcasts its weights, so
every rank ends with them; :attr:`DataParallelRun.drift` reports how far the
other ranks' weights were from rank 0's before that broadcast: 0.0 when
``Allreduce`` gave every rank the same bits (MPICH does, as the tests check
with 2 ranks; the MPI standard recommends it without requiring it).
"""

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from fastbp.backends import get_backend, kernel_plan, numba_threads
from fastbp.engine.compiling import NOTICE
from fastbp.engine.network import Network
from fastbp.engine.training import DivergenceWarning
from fastbp.engine.validation import check_inputs, check_non_negative_float, check_positive_int, check_targets
from fastbp.numerics import layout, optim
from fastbp.numerics.shuffling import shuffle as shuffle_order

try:
    from mpi4py import MPI
except ImportError as error:  # pragma: no cover - the test extra installs mpi4py
    raise ImportError("fastbp.scaleout.mpi needs mpi4py and an MPI library: pip install 'fastbp[mpi]'") from error

CPU_BACKENDS = ("auto", "serial", "parallel", "numpy", "reference")
AVERAGES = ("gradients", "parameters")


@dataclass
class DataParallelRun:
    """What :func:`fit` did, the same on every rank.

    Attributes
    ----------
    epochs : int
        Epochs completed (fewer than asked when the cost diverged).
    steps : int
        Optimiser steps taken (global mini-batches).
    ranks : int
        Processes that trained.
    seconds : float
        Wall time of the epochs on this rank.
    communication_seconds : float
        Of which inside ``Allreduce`` on this rank: moving the data and
        waiting for the slowest rank.
    drift : float
        The largest ``|theta_r - theta_0|`` over the ranks before the final
        broadcast of rank 0's weights.
    """

    epochs: int
    steps: int
    ranks: int
    seconds: float
    communication_seconds: float
    drift: float


def check_same_everywhere(comm, values: tuple, what: str) -> None:
    """Raise the same ``ValueError`` on every rank unless ``values`` agree on all ranks."""
    every = comm.allgather(values)
    if any(other != every[0] for other in every):
        raise ValueError(f"the ranks disagree on {what}: {every}")


def fit(
    network: Network,
    X,
    Y,
    comm=None,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    nesterov: bool = False,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    shuffle: bool = True,
    average: str = "gradients",
    period: int = 1,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> DataParallelRun:
    """Train ``network`` on the shards of all ranks; call it on every rank of ``comm``.

    Parameters
    ----------
    network : Network
        The same architecture on every rank; its weights and shuffling state
        are broadcast from rank 0, so the other ranks' initial values do not
        matter.  Trained in place: on return every rank holds rank 0's weights.
    X : array-like of shape (n, n_0)
        This rank's shard of the inputs; every rank holds ``n`` samples.
    Y : array-like of shape (n, n_L)
        This rank's shard of the targets.
    comm : mpi4py.MPI.Comm, optional
        The ranks that train together (default: ``MPI.COMM_WORLD``).
    epochs : int
        Passes over the data of all ranks.
    batch_size : int
        ``B``, the global mini-batch: a multiple of the number of ranks
        ``R``, of which each rank takes ``B / R`` samples per step.
    learning_rate : float
        alpha.
    optimizer : {"sgd", "adam"}
        The update rule (:mod:`fastbp.numerics.optim`), with ``momentum`` and
        ``nesterov`` for "sgd" and ``beta_1``, ``beta_2``, ``epsilon`` for "adam".
    momentum, nesterov, beta_1, beta_2, epsilon
        The optimiser's hyperparameters (scikit-learn's meanings).
    shuffle : bool
        Permute each rank's samples every epoch (the same permutation on every rank).
    average : {"gradients", "parameters"}
        What ``Allreduce`` averages: the gradient of every global batch
        (synchronous SGD), or the weights every ``period`` steps.
    period : int
        Steps between parameter averages (``average="parameters"`` only).
    backend : {"auto", "serial", "parallel", "numpy", "reference"}
        Which CPU kernels each rank runs.
    n_jobs : int or None
        Threads per rank for the "parallel" and "auto" backends (None:
        Numba's thread count; start the ranks with ``NUMBA_NUM_THREADS`` set
        to the cores per rank).

    Returns
    -------
    DataParallelRun
        Epochs and steps done, times, and the ranks' drift.  The epochs' costs
        (summed over all ranks' samples; with parameter averaging, each at its
        rank's own weights) are appended to ``network.loss_curve``.

    Raises
    ------
    ValueError
        On every rank, when the ranks' shards, networks or arguments
        disagree, or ``batch_size`` is not a multiple of the number of ranks.

    Warns
    -----
    DivergenceWarning
        When an epoch's cost is NaN or infinite; training stops on every rank
        and the weights of the last epoch with a finite cost are kept.
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    X = check_inputs(X, network.sizes[0], network.dtype)
    Y = check_targets(Y, X.shape[0], network.sizes[-1], network.dtype)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    period = check_positive_int(period, "period")
    hyper = optim.hyperparameters(
        check_non_negative_float(learning_rate, "learning_rate", positive=True),
        momentum=check_non_negative_float(momentum, "momentum"),
        nesterov=bool(nesterov),
        beta_1=check_non_negative_float(beta_1, "beta_1"),
        beta_2=check_non_negative_float(beta_2, "beta_2"),
        epsilon=check_non_negative_float(epsilon, "epsilon", positive=True),
    )
    if optimizer not in optim.OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(optim.OPTIMIZERS)}, got {optimizer!r}")
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {', '.join(AVERAGES)}, got {average!r}")
    if backend not in CPU_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(CPU_BACKENDS)}, got {backend!r}")
    ranks = comm.size
    if batch_size % ranks:
        raise ValueError(f"batch_size must be a multiple of the {ranks} ranks, got {batch_size}")
    check_same_everywhere(comm, (X.shape[0],), "the number of samples per shard (shards must be equal)")
    check_same_everywhere(
        comm,
        (
            tuple(network.sizes.tolist()),
            tuple(network.codes.tolist()),
            network.cost_argument,
            network.l2,
            network.dtype.str,
        ),
        "the network (sizes, activations, cost, l2, dtype)",
    )
    check_same_everywhere(
        comm, (epochs, batch_size, hyper.tolist(), optimizer, bool(shuffle), average, period), "the training arguments"
    )
    comm.Bcast(network.theta, root=0)
    comm.Bcast(network.rng_state, root=0)
    kernels = get_backend(backend)
    local_batch = min(batch_size // ranks, X.shape[0])
    with NOTICE.index_loops():
        plan = kernel_plan(backend, network.sizes, local_batch, network.dtype, n_jobs)
    trainer = DataParallelTrainer(network, kernels, comm, hyper, optim.OPTIMIZERS[optimizer], average, period)
    started = time.perf_counter()
    with numba_threads(plan[0]):
        done = trainer.run(X, Y, epochs, local_batch, bool(shuffle), plan)
    seconds = time.perf_counter() - started
    before = network.theta.copy()
    comm.Bcast(network.theta, root=0)
    drift = comm.allreduce(float(np.max(np.abs(before - network.theta))), op=MPI.MAX)
    return DataParallelRun(
        done, int(trainer.counters[optim.UPDATES]), ranks, seconds, trainer.communication_seconds, drift
    )


class DataParallelTrainer:
    """The optimiser's state, the work buffers and the per-step loop of one rank.

    Inputs are trusted: :func:`fit` validates them and checks that the ranks agree.
    """

    def __init__(self, network: Network, kernels, comm, hyper: np.ndarray, optimizer: int, average: str, period: int):
        self.network = network
        self.kernels = kernels
        self.comm = comm
        self.hyper = hyper
        self.optimizer = optimizer
        self.average = average
        self.period = period
        self.velocity = np.zeros_like(network.theta)
        self.second_moment = np.zeros_like(network.theta)
        self.counters = np.zeros(2, dtype=np.int64)
        self.communication_seconds = 0.0

    def allreduce(self, values: np.ndarray) -> None:
        """Sum ``values`` over the ranks, in place, timing the call."""
        started = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)
        self.communication_seconds += time.perf_counter() - started

    def average_parameters(self) -> None:
        """theta <- (1/R) sum_r theta_r."""
        self.allreduce(self.network.theta)
        self.network.theta *= self.network.dtype.type(1.0 / self.comm.size)

    def run(self, X: np.ndarray, Y: np.ndarray, epochs: int, local_batch: int, shuffle: bool, plan: tuple) -> int:
        """Train for up to ``epochs`` epochs in mini-batches of ``local_batch`` local samples; the epochs completed.

        ``plan`` is the kernels' ``(n_threads, tiles)`` (:func:`fastbp.backends.kernel_plan`).
        """
        network, kernels = self.network, self.kernels
        sizes, L = network.sizes, network.L
        ranks = self.comm.size
        n_local = X.shape[0]
        order = np.arange(n_local, dtype=np.int64)
        A = layout.activation_buffer(sizes, local_batch, network.dtype)
        D = layout.delta_buffer(sizes, local_batch, network.dtype)
        Y_batch = np.empty(local_batch * sizes[L], dtype=network.dtype)
        S = np.ones(n_local, dtype=network.dtype)
        S_batch = np.empty(local_batch, dtype=network.dtype)
        grad = np.empty_like(network.theta)
        last_finite = network.theta.copy()
        # Each rank's share of the L2 term (see the module docstring).
        network_share = network.kernel_arguments(l2=network.l2 / ranks)
        gradients = self.average == "gradients"
        for epoch in range(epochs):
            order[:] = np.arange(n_local)
            if shuffle:
                shuffle_order(order, network.rng_state)
            epoch_cost = 0.0
            for start in range(0, n_local, local_batch):
                n_samples = min(local_batch, n_local - start)
                y = Y_batch[: n_samples * sizes[L]].reshape((n_samples, sizes[L]))
                s = S_batch[:n_samples]
                weight_sum = kernels.load_batch(X, Y, S, order, start, layout.layer(A, sizes, 0, n_samples, 0), y, s)
                # N = B for a share of the global batch's gradient, N = b for a local step.
                scale = ranks * weight_sum if gradients else weight_sum
                # This rank's share of B C: its samples' costs and 1/R of the L2 term.
                epoch_cost += kernels.cost_and_gradient(*network_share, A, D, y, s, n_samples, scale, grad, *plan)
                if gradients:
                    self.allreduce(grad)
                kernels.apply_update(
                    network.theta, grad, self.optimizer, self.hyper, self.velocity, self.second_moment,
                    self.counters, plan[0],
                )  # fmt: skip
                if not gradients and self.counters[optim.UPDATES] % self.period == 0:
                    self.average_parameters()
            loss = self.comm.allreduce(epoch_cost, op=MPI.SUM) / (ranks * n_local)
            if not math.isfinite(loss):
                network.theta[:] = last_finite
                warnings.warn(
                    f"the cost became {loss} at epoch {len(network.loss_curve) + 1}; training stopped on every "
                    f"rank and the weights after epoch {len(network.loss_curve)} were kept. "
                    f"Try a smaller learning rate than {self.hyper[optim.LEARNING_RATE_INIT]}.",
                    DivergenceWarning,
                    stacklevel=3,
                )
                return epoch
            network.loss_curve.append(loss)
            last_finite[:] = network.theta
        if not gradients and self.counters[optim.UPDATES] % self.period != 0:
            self.average_parameters()
        return epochs
