"""The training driver: optimiser state, work buffers, and the compiled epoch loop."""

import time
import warnings
from collections.abc import Callable

import numpy as np

from fastbp.backends import BACKENDS, get_backend, kernel_plan, numba_threads
from fastbp.engine.compiling import NOTICE
from fastbp.engine.interrupts import cancellable, held_interrupts
from fastbp.engine.validation import all_finite, check_backend_reads, check_memory
from fastbp.numerics import layout, optim
from fastbp.numerics.shuffling import LIKE_RANDOM_STATE, NO_SHUFFLE, SHUFFLE
from fastbp.numerics.sparse import CSRRows, SparseActivations, activation_buffers
from fastbp.numerics.stopping import (
    CONVERGED,
    COST_DIVERGED,
    NO_SCORE,
    RAN_ALL,
    STATUS,
    WEIGHTS_DIVERGED,
    stopping_state,
)

# run() calls the compiled epoch loop in chunks that grow until one chunk
# takes about this long: Python is re-entered at most once per epoch, and at
# most about ten times a second for fast epochs, so Ctrl-C stays responsive.
CHUNK_SECONDS = 0.1
# The first chunk of the CPU's compiled epoch loop: as many epochs as make about this many
# multiply-adds (forward pass, deltas and gradients of every sample), some 0.1 s at the slowest
# rate measured for small layers; the chunks after it follow the measured time.  An iris-sized
# fit then runs in one call instead of five (benchmarks/README.md, "Small networks").  The
# other backends (the NumPy oracle, the reference loops, CUDA and its simulator) start from one
# epoch.
FIRST_CHUNK_MULTIPLY_ADDS = 2 * 10**8


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the cost became NaN or infinite."""


# A trainer's scratch before its first run (:attr:`Trainer.scratch`): nothing allocated yet.
NO_SCRATCH: tuple = (None, None)


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
        self.rules = StoppingRules.off(network)
        self.generator = network.rng_state

    def take_buffers(self, other: "Trainer") -> None:
        """Work in ``other``'s buffers (a trainer of the same network that trains no more).

        Their contents are scratch, rewritten by every run: a new optimiser for
        each fit (as scikit-learn makes one) need not allocate them again.
        """
        if other.network is self.network:
            self.reuse(other.scratch)

    @property
    def scratch(self) -> tuple:
        """``(buffers, saved)``: the work buffers and :meth:`save_state`'s copies, for :meth:`reuse`."""
        return self.buffers, self.saved

    def reuse(self, scratch: tuple) -> None:
        """Work in the :attr:`scratch` of an earlier trainer of the same network that trains no more.

        Runs allocate again whatever does not fit their data (another number
        of samples, batch size or kind of inputs).
        """
        self.buffers, self.saved = scratch

    @property
    def kernels(self):
        """The backend module (looked up by name, so that a Trainer can be pickled)."""
        return get_backend(self.backend)

    def work_buffers(self, X, batch_size: int) -> tuple:
        """``(order, A, D, Y_batch, S_batch, grad, last_finite)`` for batches of ``X``, allocated once per shape.

        For CSR inputs ``A`` is a :class:`~fastbp.numerics.sparse.SparseActivations`
        with room for the nonzeros of any batch of ``X``, allocated anew for each ``X``.
        """
        network = self.network
        n_total = X.shape[0]
        if (
            self.buffers is None
            or self.buffers[0].shape[0] != n_total
            or self.buffers[4].shape[0] != batch_size
            or isinstance(X, CSRRows)
            or isinstance(self.buffers[1], SparseActivations)
        ):
            # the batch's activations and deltas, Y_batch, S_batch, order; grad,
            # last_finite and save_state's three copies of theta-sized arrays
            sizes, itemsize = network.sizes, network.dtype.itemsize
            values = batch_size * (2 * int(np.sum(sizes)) - int(sizes[0]) + int(sizes[-1]) + 1) + 5 * network.theta.size
            check_memory(values * itemsize + 8 * n_total, f"training with batches of {batch_size:,} samples")
            self.buffers = (
                np.arange(n_total, dtype=np.int64),
                activation_buffers(X, network.sizes, batch_size, network.dtype),
                layout.delta_buffer(network.sizes, batch_size, network.dtype),
                np.empty(batch_size * network.sizes[-1], dtype=network.dtype),
                np.empty(batch_size, dtype=network.dtype),
                np.empty_like(network.theta),
                np.empty_like(network.theta),
            )
        return self.buffers

    def state(self) -> tuple:
        """The arrays an epoch changes: the parameters, the optimiser's state, the shuffling, the stopping rules."""
        network = self.network
        order = self.buffers[0] if self.buffers is not None else np.empty(0, dtype=np.int64)
        return (
            network.theta, self.velocity, self.second_moment, self.counters, self.hyper, self.generator, order,
            self.rules.stopping, self.rules.best_theta,
        )  # fmt: skip

    def save_state(self) -> None:
        """Copy :meth:`state` aside (into buffers allocated once per shape)."""
        state = self.state()
        if self.saved is None or any(saved.shape != array.shape for saved, array in zip(self.saved, state)):
            self.saved = tuple(np.empty_like(array) for array in state)
        for saved, array in zip(self.saved, state):
            np.copyto(saved, array)

    def restore_state(self) -> None:
        """Put back the state copied by the last :meth:`save_state`."""
        if self.saved is None:
            raise RuntimeError("restore_state needs an earlier save_state")
        for array, saved in zip(self.state(), self.saved):
            np.copyto(array, saved)

    def run(
        self,
        X,
        Y,
        S,
        epochs: int,
        batch_size: int,
        shuffle: bool = True,
        callback: Callable | None = None,
        rules: "StoppingRules | None" = None,
        generator: np.ndarray | None = None,
        reorder: Callable | None = None,
    ) -> int:
        """Train for up to ``epochs`` epochs; the number completed.

        ``X``, ``Y`` and the sample weights ``S`` must be C-contiguous arrays of
        the network's dtype.  ``callback(network, epoch, loss)`` is called after
        every epoch; returning True stops training.

        ``rules`` (:class:`StoppingRules`) are scikit-learn's stopping rules,
        applied inside the compiled loop; they stop training early
        (``rules.stopping[STATUS]`` is CONVERGED then).  The samples go in
        the order ``0 .. N-1`` (``shuffle`` False), reshuffled each epoch with
        the network's generator (``shuffle`` True), or with ``generator`` (the
        words of a ``RandomState``, :func:`fastbp.numerics.shuffling.random_state_words`)
        permuted again each epoch as scikit-learn permutes them.
        ``reorder(order)``, if given, sets each epoch's order in Python instead.

        Each call of the epoch loop runs a chunk of epochs from a saved state
        (:meth:`save_state`), the chunks sized to about CHUNK_SECONDS of work
        (the first by counting it, :func:`first_chunk`; the next ones by timing
        the chunk before).
        If an epoch's cost or the weights after it are
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
        check_backend_reads(self.backend, X)
        self.rules = rules = rules or StoppingRules.off(network)
        self.generator = network.rng_state if generator is None else generator
        buffers = self.work_buffers(X, batch_size)
        buffers[0][:] = np.arange(X.shape[0])
        if reorder is not None or not shuffle:
            shuffling = NO_SHUFFLE
        else:
            shuffling = SHUFFLE if generator is None else LIKE_RANDOM_STATE
        with NOTICE.index_loops():
            plan = kernel_plan(
                self.backend, network.sizes, batch_size, network.dtype, self.n_jobs, sparse=isinstance(X, CSRRows)
            )
        losses = np.empty(epochs, dtype=np.float64)
        scores = np.empty(epochs, dtype=np.float64)
        done, chunk = 0, first_chunk(self.backend, network.sizes, X.shape[0])
        with held_interrupts() as interrupts:
            while done < epochs:
                one_at_a_time = callback is not None or reorder is not None
                requested = 1 if one_at_a_time else min(chunk, epochs - done)
                self.save_state()
                if reorder is not None:
                    reorder(buffers[0])
                started = time.perf_counter()
                try:
                    completed = self.epochs(
                        X, Y, S, batch_size, shuffling, losses[done : done + requested],
                        scores[done : done + requested], buffers, plan,
                    )  # fmt: skip
                except BaseException:
                    self.restore_state()
                    raise
                elapsed = time.perf_counter() - started
                status = rules.stopping[STATUS]
                diverged = status in (COST_DIVERGED, WEIGHTS_DIVERGED) or not all_finite(network.theta)
                if diverged and requested > 1:
                    self.restore_state()
                    chunk = 1  # replay the chunk one epoch at a time, to stop right before the bad one
                    continue
                if diverged:
                    completed = 0
                network.loss_curve.extend(losses[done : done + completed].tolist())
                if rules.score_kind is not NO_SCORE:
                    rules.scores.extend(scores[done : done + completed].tolist())
                done += completed
                if diverged:
                    self.diverged(status, losses[done])
                    break
                if callback is not None and callback(network, len(network.loss_curve), network.loss_curve[-1]):
                    break
                if interrupts.pending():
                    raise KeyboardInterrupt
                if status == CONVERGED:
                    break
                chunk = max(1, int(min(4 * chunk, epochs, chunk * CHUNK_SECONDS / max(elapsed, 1e-9))))
        return done

    def diverged(self, status: float, cost: float) -> None:
        """Put back the state before the diverging epoch, reset the optimiser's moments, and warn."""
        network = self.network
        self.restore_state()
        self.velocity[:] = 0
        self.second_moment[:] = 0
        self.rules.stopping[STATUS] = status if status != RAN_ALL else WEIGHTS_DIVERGED
        what = f"the cost became {cost}" if status == COST_DIVERGED else "the weights became NaN or infinite"
        warnings.warn(
            f"{what} at epoch {len(network.loss_curve) + 1}; training stopped and the weights "
            f"after epoch {len(network.loss_curve)} were kept. "
            f"Try a smaller learning rate than {self.hyper[optim.LEARNING_RATE_INIT]}.",
            DivergenceWarning,
            stacklevel=4,
        )

    def epochs(
        self, X, Y, S, batch_size: int, shuffling: int, losses: np.ndarray, scores: np.ndarray, buffers: tuple,
        plan: tuple,
    ) -> int:  # fmt: skip
        """One call of the backend's epoch loop: up to ``losses.shape[0]`` epochs; the number completed.

        ``plan`` is ``(n_threads, tiles)`` (:func:`fastbp.backends.kernel_plan`).
        """
        network = self.network
        rules = self.rules
        order, A, D, Y_batch, S_batch, grad, last_finite = buffers
        last_finite[:] = network.theta
        # Divergence is detected from the costs and weights; NumPy's overflow
        # warnings on the way there (numpy backend) would only repeat it.
        with cancellable(), numba_threads(plan[0]), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.kernels.train_epochs(
                X, Y, S, network.theta, network.sizes, network.codes, network.cost_argument, network.l2,
                batch_size, shuffling, self.optimizer, self.hyper, self.velocity, self.second_moment,
                self.counters, order, self.generator, A, D, Y_batch, S_batch, grad, last_finite,
                losses, rules.X_val, rules.Y_val, rules.S_val, rules.P_val, rules.score_kind, rules.stopping,
                rules.best_theta, scores, *plan,
            )  # fmt: skip


def first_chunk(backend: str, sizes, n_samples: int) -> int:
    """The epochs of :meth:`Trainer.run`'s first call: about ``FIRST_CHUNK_MULTIPLY_ADDS`` of work, or 1.

    One epoch for the backends whose epochs are not the CPU's compiled loop.
    """
    if BACKENDS[backend] != BACKENDS["serial"]:
        return 1
    weights = sum(int(sizes[l]) * int(sizes[l - 1]) for l in range(1, len(sizes)))
    return max(1, FIRST_CHUNK_MULTIPLY_ADDS // (3 * n_samples * weights))


class StoppingRules:
    """scikit-learn's stopping rules for :meth:`Trainer.run`, and their state (see :mod:`fastbp.numerics.stopping`).

    Parameters
    ----------
    stopping : ndarray
        The rules' state (:func:`fastbp.numerics.stopping.stopping_state`), updated in place.
    best_theta : ndarray
        Receives the parameters of the best validation score (early stopping).
    score_kind : int or None
        Which validation score (``NO_SCORE``, None: the rules watch the training loss).
    X_val, Y_val, S_val : ndarray or None
        The validation set (with a ``score_kind``), as the network's dtype, C-contiguous.

    ``scores`` collects each completed epoch's validation score.
    """

    def __init__(self, stopping: np.ndarray, best_theta: np.ndarray, score_kind: int | None = NO_SCORE, X_val=None,
                 Y_val=None, S_val=None):  # fmt: skip
        self.stopping = stopping
        self.best_theta = best_theta
        self.score_kind = score_kind
        dtype = best_theta.dtype
        n_outputs = 1 if Y_val is None else Y_val.shape[1]
        self.X_val = np.empty((0, 1), dtype=dtype) if X_val is None else X_val
        self.Y_val = np.empty((0, n_outputs), dtype=dtype) if Y_val is None else Y_val
        self.S_val = np.empty(0, dtype=dtype) if S_val is None else S_val
        self.P_val = np.empty_like(self.Y_val)
        self.scores: list[float] = []

    @classmethod
    def off(cls, network) -> "StoppingRules":
        """No rule: every epoch asked for runs (what :meth:`fastbp.Network.fit` trains with)."""
        return cls(stopping_state(), np.empty_like(network.theta))
