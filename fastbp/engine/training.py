"""The training driver: optimiser state, work buffers, and the compiled epoch loop."""

import time
import warnings
from collections.abc import Callable

import numpy as np

from fastbp.backends import get_backend, numba_threads, thread_count
from fastbp.engine.interrupts import cancellable, held_interrupts
from fastbp.engine.validation import check_memory
from fastbp.numerics import layout, optim

# run() calls the compiled epoch loop in chunks that grow until one chunk
# takes about this long: Python is re-entered at most once per epoch, and at
# most a few times a second for fast epochs, so Ctrl-C stays responsive.
CHUNK_SECONDS = 0.25


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the cost became NaN or infinite."""


class Trainer:
    """Trains one network: holds the optimiser's state between calls.

    Parameters
    ----------
    network : Network
        The network whose ``theta`` is trained in place.
    hyper : ndarray
        The optimiser's hyperparameters (:func:`fastbp.numerics.optim.hyperparameters`).
    optimizer : {"sgd", "adam"}
        The update rule; "sgd" with ``hyper[MOMENTUM] > 0`` uses momentum.
    backend : str
        Which backend runs the epochs.
    n_jobs : int or None
        Threads for the ``parallel`` and ``auto`` backends (None: Numba's
        current thread count, itself at most ``NUMBA_NUM_THREADS``).

    Inputs are trusted: callers validate them first (as :meth:`Network.fit` does).
    """

    def __init__(self, network, hyper: np.ndarray, optimizer: str = "sgd", backend: str = "serial", n_jobs=None):
        self.network = network
        self.hyper = hyper
        self.optimizer = optim.OPTIMIZERS[optimizer]
        get_backend(backend)  # an unknown name fails here, not at the first epoch
        self.backend = backend
        self.n_jobs = n_jobs
        self.velocity = np.zeros_like(network.theta)
        self.second_moment = np.zeros_like(network.theta)
        self.counters = np.zeros(2, dtype=np.int64)
        self.buffers: tuple | None = None
        self.saved: tuple | None = None

    @property
    def kernels(self):
        """The backend module (looked up by name, so that a Trainer can be pickled)."""
        return get_backend(self.backend)

    def work_buffers(self, n_total: int, batch_size: int) -> tuple:
        """``(order, A, D, Y_batch, S_batch, grad, last_finite)``, allocated once per shape."""
        network = self.network
        if self.buffers is None or self.buffers[0].shape[0] != n_total or self.buffers[4].shape[0] != batch_size:
            # the batch's activations and deltas, Y_batch, S_batch, order; grad,
            # last_finite and save_state's three copies of theta-sized arrays
            sizes, itemsize = network.sizes, network.dtype.itemsize
            values = batch_size * (2 * int(np.sum(sizes)) - int(sizes[0]) + int(sizes[-1]) + 1) + 5 * network.theta.size
            check_memory(values * itemsize + 8 * n_total, f"training with batches of {batch_size:,} samples")
            self.buffers = (
                np.arange(n_total, dtype=np.int64),
                layout.activation_buffer(network.sizes, batch_size, network.dtype),
                layout.delta_buffer(network.sizes, batch_size, network.dtype),
                np.empty(batch_size * network.sizes[-1], dtype=network.dtype),
                np.empty(batch_size, dtype=network.dtype),
                np.empty_like(network.theta),
                np.empty_like(network.theta),
            )
        return self.buffers

    def state(self) -> tuple:
        """The arrays an epoch changes: the parameters, the optimiser's state, the shuffling generator's."""
        network = self.network
        return (network.theta, self.velocity, self.second_moment, self.counters, self.hyper, network.rng_state)

    def save_state(self) -> None:
        """Copy :meth:`state` aside (into buffers allocated once)."""
        if self.saved is None:
            self.saved = tuple(np.empty_like(array) for array in self.state())
        for saved, array in zip(self.saved, self.state()):
            np.copyto(saved, array)

    def restore_state(self) -> None:
        """Put back the state copied by the last :meth:`save_state`."""
        if self.saved is None:
            raise RuntimeError("restore_state needs an earlier save_state")
        for array, saved in zip(self.state(), self.saved):
            np.copyto(array, saved)

    def run(self, X, Y, S, epochs: int, batch_size: int, shuffle: bool = True, callback: Callable | None = None) -> int:
        """Train for up to ``epochs`` epochs; the number completed.

        ``X``, ``Y`` and the sample weights ``S`` must be C-contiguous arrays of
        the network's dtype.  ``callback(network, epoch, loss)`` is called after
        every epoch; returning True stops training.

        Each call of the epoch loop runs a chunk of epochs from a saved state
        (:meth:`save_state`).  If an epoch's cost or the weights after it are
        NaN or infinite, training stops with a :class:`DivergenceWarning` at
        that epoch: the chunk is replayed from the saved state one epoch at a
        time up to the epoch before (so the weights, the loss curve and the
        shuffling agree exactly), and the optimiser's moments are reset.

        Ctrl-C (see :mod:`fastbp.engine.interrupts`) stops training with a
        ``KeyboardInterrupt`` once the epochs computing when it was pressed
        are recorded: the network keeps the weights of the last completed
        epoch, and its loss curve, optimiser and shuffling states match them.
        A ``KeyboardInterrupt`` (or any exception) raised while epochs are
        computing, such as a second Ctrl-C, puts back the saved state, so
        the same holds.
        """
        network = self.network
        buffers = self.work_buffers(X.shape[0], batch_size)
        n_threads = thread_count(self.backend, network.sizes, batch_size, self.n_jobs)
        losses = np.empty(epochs, dtype=np.float64)
        done, chunk = 0, 1
        with held_interrupts() as interrupts:
            while done < epochs:
                requested = 1 if callback is not None else min(chunk, epochs - done)
                self.save_state()
                started = time.perf_counter()
                try:
                    completed = self.epochs(
                        X, Y, S, batch_size, shuffle, losses[done : done + requested], buffers, n_threads
                    )
                except BaseException:
                    self.restore_state()
                    raise
                elapsed = time.perf_counter() - started
                finite_weights = all_finite(network.theta)
                if (completed < requested or not finite_weights) and requested > 1:
                    self.restore_state()
                    chunk = 1  # replay the chunk one epoch at a time, to stop right before the bad one
                    continue
                if not finite_weights:
                    completed = 0
                network.loss_curve.extend(losses[done : done + completed].tolist())
                done += completed
                if completed < requested:
                    self.restore_state()
                    self.velocity[:] = 0
                    self.second_moment[:] = 0
                    what = f"the cost became {losses[done]}" if finite_weights else "the weights became NaN or infinite"
                    warnings.warn(
                        f"{what} at epoch {len(network.loss_curve) + 1}; training stopped and the weights "
                        f"after epoch {len(network.loss_curve)} were kept. "
                        f"Try a smaller learning rate than {self.hyper[optim.LEARNING_RATE_INIT]}.",
                        DivergenceWarning,
                        stacklevel=3,
                    )
                    break
                if callback is not None and callback(network, len(network.loss_curve), network.loss_curve[-1]):
                    break
                if interrupts.pending():
                    raise KeyboardInterrupt
                chunk = max(1, int(min(4 * chunk, epochs, chunk * CHUNK_SECONDS / max(elapsed, 1e-9))))
        return done

    def epochs(
        self, X, Y, S, batch_size: int, shuffle: bool, losses: np.ndarray, buffers: tuple, n_threads: int
    ) -> int:
        """One call of the backend's epoch loop: ``losses.shape[0]`` epochs; the number whose cost was finite."""
        network = self.network
        order, A, D, Y_batch, S_batch, grad, last_finite = buffers
        last_finite[:] = network.theta
        # Divergence is detected from the costs and weights; NumPy's overflow
        # warnings on the way there (numpy backend) would only repeat it.
        with cancellable(), numba_threads(n_threads), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.kernels.train_epochs(
                X, Y, S, network.theta, network.sizes, network.codes, network.cost_code, network.l2,
                batch_size, shuffle, self.optimizer, self.hyper, self.velocity, self.second_moment,
                self.counters, order, network.rng_state, A, D, Y_batch, S_batch, grad, last_finite,
                losses, n_threads,
            )  # fmt: skip


def all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite (a NaN or infinity makes the sum non-finite; the sum alone allocates nothing)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(values.sum()) or np.all(np.isfinite(values)))
