"""The training driver: optimiser state, work buffers, and the compiled epoch loop."""

import time
import warnings
from collections.abc import Callable

import numpy as np

from fastbp import layout, optim
from fastbp.backends import get_backend, numba_threads, thread_count

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
        The optimiser's hyperparameters (:func:`fastbp.optim.hyperparameters`).
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
        self.buffers = None

    @property
    def kernels(self):
        """The backend module (looked up by name, so that a Trainer can be pickled)."""
        return get_backend(self.backend)

    def work_buffers(self, n_total: int, batch_size: int) -> tuple:
        """``(order, A, D, Y_batch, S_batch, grad, last_finite)``, allocated once per shape."""
        network = self.network
        if self.buffers is None or self.buffers[0].shape[0] != n_total or self.buffers[4].shape[0] != batch_size:
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

    def run(self, X, Y, S, epochs: int, batch_size: int, shuffle: bool = True, callback: Callable | None = None) -> int:
        """Train for up to ``epochs`` epochs; the number completed.

        ``X``, ``Y`` and the sample weights ``S`` must be C-contiguous arrays of
        the network's dtype.  ``callback(network, epoch, loss)`` is called after
        every epoch; returning True stops training.  A non-finite cost stops
        training with a :class:`DivergenceWarning`, keeping the last finite weights.
        """
        network = self.network
        order, A, D, Y_batch, S_batch, grad, last_finite = self.work_buffers(X.shape[0], batch_size)
        last_finite[:] = network.theta
        losses = np.empty(epochs, dtype=np.float64)
        n_threads = thread_count(self.backend, network.sizes, batch_size, self.n_jobs)
        done, chunk = 0, 1
        while done < epochs:
            requested = 1 if callback is not None else min(chunk, epochs - done)
            started = time.perf_counter()
            with numba_threads(n_threads):
                completed = self.kernels.train_epochs(
                    X, Y, S, network.theta, network.sizes, network.codes, network.cost_code, network.l2,
                    batch_size, shuffle, self.optimizer, self.hyper, self.velocity, self.second_moment,
                    self.counters, order, network.rng_state, A, D, Y_batch, S_batch, grad, last_finite,
                    losses[done : done + requested], n_threads,
                )
            elapsed = time.perf_counter() - started
            network.loss_curve.extend(losses[done : done + completed].tolist())
            done += completed
            if completed < requested:
                self.velocity[:] = 0
                self.second_moment[:] = 0
                warnings.warn(
                    f"the cost became {losses[done]} at epoch {len(network.loss_curve) + 1}; training "
                    f"stopped and the weights after epoch {len(network.loss_curve)} were kept. "
                    f"Try a smaller learning rate than {self.hyper[optim.LEARNING_RATE_INIT]}.",
                    DivergenceWarning,
                    stacklevel=3,
                )
                break
            if callback is not None and callback(network, len(network.loss_curve), network.loss_curve[-1]):
                break
            chunk = max(1, min(4 * chunk, int(chunk * CHUNK_SECONDS / max(elapsed, 1e-9))))
        return done
