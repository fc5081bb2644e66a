"""The network object: the thin Pythonic layer over the kernels."""

import copy
import functools
import time
from collections.abc import Callable, Sequence

import numba
import numpy as np

from fastbp._version import __version__
from fastbp.backends import get_backend, loops_ready, numba_threads, prepare_loops, thread_count, tiles_for
from fastbp.engine.compiling import NOTICE
from fastbp.engine.initialization import glorot_uniform
from fastbp.engine.io import FORMAT, format_version, load_arrays, save_arrays
from fastbp.engine.training import NO_SCRATCH, Trainer
from fastbp.engine.validation import (
    all_finite,
    check_backend_reads,
    check_buffers_fit,
    check_cost,
    check_dtype,
    check_inputs,
    check_non_negative_float,
    check_positive_int,
    check_seed,
    check_sizes,
    check_targets,
    check_theta,
    hidden_and_output_codes,
)
from fastbp.numerics import layout
from fastbp.numerics.formulas import ACTIVATIONS, COSTS, HUBER, HUBER_EPSILON, SIGMOID
from fastbp.numerics.optim import hyperparameters
from fastbp.numerics.shuffling import seed_state
from fastbp.numerics.sparse import CSRRows, activation_buffers

ACTIVATION_NAMES = {code: name for name, code in ACTIVATIONS.items()}
COST_NAMES = {code: name for name, code in COSTS.items()}

# predict runs the forward pass over at most this many samples at a time.
PREDICT_ROWS = 4096
# The dense predict kernels this process has run, as (backend, dtype, one thread, no tiles): those
# Network.prepare_outputs need not load again.
PREPARED_PREDICT_KERNELS: set[tuple[str, np.dtype, bool, bool]] = set()


class Network:
    """A fully connected network trained by backpropagation and gradient descent.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``n_0 .. n_L``: the input, the hidden layers, the output.
    hidden_activation : {"sigmoid", "tanh", "relu", "identity"} or sequence of them
        sigma_l of the hidden layers ``1 .. L-1``: one name for all of them, or
        one name per hidden layer (``["relu", "tanh"]`` for ``sigma_1, sigma_2``).
    output_activation : {"sigmoid", "softmax", "identity", "exp"}
        sigma_L of the output layer.
    cost : {"mse", "binary_cross_entropy", "categorical_cross_entropy", "poisson", \
            "absolute_error", "huber", "log_cosh"}
        The per-sample cost C_n (docs/notation.md, "Cost"); the cross-entropies need
        sigmoid or softmax outputs, poisson needs positive ones (exp, sigmoid, softmax).
        The robust costs of the residual ``a^L_k - y_k`` (absolute error, Huber's, log-cosh)
        take any output.
    l2 : float
        lambda of the L2 weight decay ``(lambda / 2N) sum (W^l_kj)^2``
        (weights only, not biases; N is the mini-batch size).
    dtype : {"float64", "float32"}
        The float type of the parameters and of every computation.
    seed : int or None
        Seeds the initial weights and the shuffling: the same seed gives
        bitwise the same training run.
    huber_epsilon : float, default=1.35
        Huber's epsilon, where its cost turns from quadratic to linear in the
        residual (used by ``cost="huber"`` only, the others ignore it;
        scikit-learn's ``SGDRegressor`` calls it ``epsilon``); positive and finite.
    theta : array-like of shape (P,), optional
        The initial parameters, laid out as :attr:`theta` (``P`` values for
        these ``sizes``; converted to ``dtype``, copied), instead of the
        Glorot-uniform draws; ``seed`` then seeds the shuffling only.

    Attributes
    ----------
    W : tuple of ndarray
        ``W[l]`` for ``l = 1 .. L``, shape ``(n_l, n_{l-1})``; ``W[0]`` is None
        (the input layer has no weights).  Views into :attr:`theta`.
    b : tuple of ndarray
        ``b[l]``, shape ``(n_l,)``; ``b[0]`` is None.  Views into :attr:`theta`.
    theta : ndarray
        All parameters in one flat buffer (see :mod:`fastbp.numerics.layout`).
    loss_curve : list of float
        The cost of every epoch trained so far.
    """

    def __init__(
        self,
        sizes,
        hidden_activation: str | Sequence[str] = "sigmoid",
        output_activation: str = "sigmoid",
        cost: str = "mse",
        l2: float = 0.0,
        dtype="float64",
        seed: int | None = None,
        huber_epsilon: float = HUBER_EPSILON,
        *,
        theta=None,
    ):
        self.dtype = check_dtype(dtype)
        self.sizes = check_sizes(sizes, self.dtype)
        self.codes = hidden_and_output_codes(self.L, hidden_activation, output_activation)
        self.cost_code = check_cost(cost, self.codes[self.L])
        self.huber_epsilon = check_non_negative_float(huber_epsilon, "huber_epsilon", positive=True)
        self.l2 = check_non_negative_float(l2, "l2")
        init_seed, shuffle_seed = np.random.SeedSequence(check_seed(seed)).spawn(2)
        if theta is None:
            self.theta = self._initial_parameters(np.random.default_rng(init_seed))
        else:
            # Given parameters, no draws: the estimators pass scikit-learn's own (benchmarks/README.md,
            # "A new estimator's first fit, the shuffles, and two cores that differ").
            self.theta = check_theta(theta, self.sizes, self.dtype)
        self.rng_state = seed_state(shuffle_seed.generate_state(1)[0])
        self.loss_curve: list[float] = []
        self._scratch = NO_SCRATCH

    def __getstate__(self) -> dict:
        """The network without the last fit's work buffers (a copy or a pickle allocates its own)."""
        state = self.__dict__.copy()
        state.pop("_scratch", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._scratch = NO_SCRATCH

    @property
    def L(self) -> int:
        """The number of layers with weights (the input layer is layer 0)."""
        return len(self.sizes) - 1

    @property
    def hidden_activations(self) -> tuple[str, ...]:
        """The names of ``sigma_1 .. sigma_{L-1}``, one per hidden layer (empty without hidden layers)."""
        return tuple(ACTIVATION_NAMES[int(code)] for code in self.codes[1 : self.L])

    @property
    def hidden_activation(self) -> str | tuple[str, ...]:
        """sigma_l of the hidden layers as the constructor takes it: one name, or a tuple of one per layer.

        The name when every hidden layer has the same sigma_l ("sigmoid", the
        default, without hidden layers), else :attr:`hidden_activations`.
        ``Network(sizes, network.hidden_activation, ...)`` has the same layers.
        """
        names = self.hidden_activations
        return names if len(set(names)) > 1 else (names[0] if names else "sigmoid")

    @property
    def output_activation(self) -> str:
        """The name of sigma_L."""
        return ACTIVATION_NAMES[int(self.codes[self.L])]

    @property
    def cost(self) -> str:
        """The name of the cost."""
        return COST_NAMES[self.cost_code]

    @property
    def cost_argument(self) -> tuple[int, float]:
        """``(code, parameter)``: the cost as the kernels take it; the parameter is Huber's epsilon."""
        return (self.cost_code, self.huber_epsilon)

    @property
    def W(self) -> tuple:
        """``W[l]``, shape ``(n_l, n_{l-1})``, for l = 1 .. L (``W[0]`` is None)."""
        return (None,) + tuple(layout.weights(self.theta, self.sizes, l) for l in range(1, self.L + 1))

    @property
    def b(self) -> tuple:
        """``b[l]``, shape ``(n_l,)``, for l = 1 .. L (``b[0]`` is None)."""
        return (None,) + tuple(layout.biases(self.theta, self.sizes, l) for l in range(1, self.L + 1))

    def _initial_parameters(self, rng: np.random.Generator) -> np.ndarray:
        """Glorot-uniform weights and biases (:func:`~fastbp.engine.initialization.glorot_uniform`) from ``rng``.

        Each hidden layer takes the factor of its own sigma_l (2 for the sigmoid, else 6), the output
        layer that of the last hidden layer (6 without hidden layers).
        """
        sigmoid_hidden = [bool(code == SIGMOID) for code in self.codes[1 : self.L]]
        theta = glorot_uniform(self.sizes, sigmoid_hidden, lambda bound, shape: rng.uniform(-bound, bound, size=shape))
        return theta.astype(self.dtype)

    def predict(self, X, backend: str = "serial") -> np.ndarray:
        """The output activations ``a^L`` for each row of ``X``.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (N, n_0)
            Sparse inputs (any scipy format) are read as CSR rows, never densified.
        backend : str
            Which backend runs the forward pass.

        Returns
        -------
        ndarray of shape (N, n_L), of the network's dtype
        """
        return self.outputs(check_inputs(X, self.sizes[0], self.dtype), backend)

    def outputs(self, X: np.ndarray | CSRRows, backend: str = "serial", n_jobs: int | None = None) -> np.ndarray:
        """:meth:`predict` of inputs already checked: C-contiguous ``(N, n_0)`` of the network's dtype, or CSR rows.

        One call of the backend's compiled ``predict`` (the estimators call this
        after their own checks, so that a one-row prediction costs little more
        than its arithmetic).
        """
        rows = min(X.shape[0], PREDICT_ROWS)
        check_buffers_fit(self.sizes, rows, self.dtype, "predicting", deltas=False)
        return self._planned_outputs(rows, X, backend, n_jobs)

    def prepare_outputs(
        self, x: np.ndarray | CSRRows, rows: int, backend: str = "serial", n_jobs: int | None = None
    ) -> None:
        """Compile (or load from Numba's cache) the kernel that :meth:`outputs` runs on ``rows`` rows.

        It predicts the one checked row ``x`` (shape ``(1, n_0)``) with that
        kernel.  A one-row prediction and one of the whole training set use
        two kernels where the second has layers big enough for the tiles
        (:func:`predict_plan`).  Dense rows whose kernel this process has
        already run (same backend, dtype, and threads' and tiles' code) skip
        the prediction: every fit of an estimator prepares its kernels, and a
        warm-started fit of one epoch is short.
        """
        rows = min(rows, PREDICT_ROWS)
        sparse = isinstance(x, CSRRows)
        n_threads, tiles, _ = predict_plan(
            tuple(self.sizes.tolist()), rows, backend, n_jobs, numba.get_num_threads(), sparse
        )
        variant = (backend, self.dtype, n_threads is None, tiles is None)
        if sparse or variant not in PREPARED_PREDICT_KERNELS:
            self._planned_outputs(rows, x, backend, n_jobs)
            if not sparse:
                PREPARED_PREDICT_KERNELS.add(variant)

    def _planned_outputs(self, rows: int, X: np.ndarray | CSRRows, backend: str, n_jobs: int | None) -> np.ndarray:
        """``a^L`` of the checked ``X``, by the predict kernel of ``rows`` rows at a time (:func:`predict_plan`)."""
        check_backend_reads(backend, X)
        n_threads, tiles, threaded = predict_plan(
            tuple(self.sizes.tolist()), rows, backend, n_jobs, numba.get_num_threads(), isinstance(X, CSRRows)
        )
        # Checked first: a one-row prediction costs tens of microseconds, and entering the notice's block some.
        if n_threads is not None and not loops_ready(backend, self.dtype, "forward"):
            with NOTICE.index_loops():
                prepare_loops(backend, self.dtype, "forward")
        A = activation_buffers(X, self.sizes, max(min(rows, X.shape[0]), 1), self.dtype, gather=False)
        outputs = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        kernels = get_backend(backend)
        if not threaded:
            kernels.predict(self.theta, self.sizes, self.codes, X, A, outputs, n_threads, tiles)
        else:
            with numba_threads(n_threads):
                kernels.predict(self.theta, self.sizes, self.codes, X, A, outputs, n_threads, tiles)
        return outputs

    def fit(
        self,
        X,
        Y,
        epochs: int = 10,
        learning_rate: float = 0.1,
        batch_size: int = 32,
        shuffle: bool = True,
        backend: str = "serial",
        callback: Callable | None = None,
    ) -> "Network":
        """Train by mini-batch gradient descent, continuing from the current weights.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (N, n_0)
            Inputs, one sample per row.  Sparse inputs (any scipy format) are
            read as CSR rows, never densified: layer 1 sums over the nonzero
            inputs only (:mod:`fastbp.backends.cpu.csr`); the CUDA backend
            refuses them.
        Y : array-like of shape (N, n_L)
            Targets (one-hot rows for softmax outputs).
        epochs : int
            Passes over the training set.
        learning_rate : float
            alpha in ``W <- W - alpha dC/dW``.
        batch_size : int
            Samples per update: ``N`` (or more) is batch gradient descent,
            1 is online learning.
        shuffle : bool
            Reshuffle the samples before each epoch.
        backend : str
            Which backend runs the epochs (see :mod:`fastbp.backends`).
        callback : callable, optional
            Called as ``callback(network, epoch, loss)`` after every epoch;
            returning True stops training.

        Returns
        -------
        self

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C, once the epochs computing when it was pressed are
            recorded (a second Ctrl-C cuts them short and undoes them): the
            network keeps the weights of the last completed epoch, with the
            loss curve and shuffling state that match them, and the interrupt
            goes on to the caller (see :mod:`fastbp.engine.interrupts`).
        ValueError
            Also when the training buffers would not fit in memory (the size is named).

        Warns
        -----
        DivergenceWarning
            When an epoch's cost or the weights after it are NaN or infinite;
            training stops there and the network keeps the state it had after
            the epoch before (the warning names the epoch).
        """
        X = check_inputs(X, self.sizes[0], self.dtype)
        Y = check_targets(Y, X.shape[0], self.sizes[-1], self.dtype)
        epochs = check_positive_int(epochs, "epochs")
        learning_rate = check_non_negative_float(learning_rate, "learning_rate", positive=True)
        batch_size = min(check_positive_int(batch_size, "batch_size"), X.shape[0])
        trainer = Trainer(self, hyperparameters(learning_rate), "sgd", backend)
        # The last fit's work buffers, where they fit: allocating them took longer than the rest of
        # the Python around a short fit (benchmarks/README.md, "Network.fit's Python per call").
        trainer.reuse(self._scratch)
        trainer.run(X, Y, np.ones(X.shape[0], dtype=self.dtype), epochs, batch_size, bool(shuffle), callback)
        self._scratch = trainer.scratch
        return self

    def kernel_arguments(self, l2: float | None = None) -> tuple:
        """``(theta, sizes, codes, cost, l2)``: the network as the kernels take it (:mod:`fastbp.backends.contract`).

        ``l2`` replaces the network's lambda (data-parallel ranks each pass their share).
        """
        return (self.theta, self.sizes, self.codes, self.cost_argument, self.l2 if l2 is None else float(l2))

    def copy(self) -> "Network":
        """An independent copy: the same parameters, shuffling state and loss curve."""
        return copy.deepcopy(self)

    def to_arrays(self) -> dict:
        """The arrays of fastbp's model file (see :mod:`fastbp.engine.io`) that describe this network."""
        parameters = {"huber_epsilon": np.array(self.huber_epsilon)} if self.cost_code == HUBER else {}
        hidden = np.array(self.hidden_activation)  # one name, shape (); or one per hidden layer, shape (L-1,)
        return {
            "format": np.array(FORMAT),
            "format_version": np.array(format_version(hidden), dtype=np.int64),
            "fastbp_version": np.array(__version__),
            "sizes": self.sizes,
            "hidden_activation": hidden,
            "output_activation": np.array(self.output_activation),
            "cost": np.array(self.cost),
            "l2": np.array(self.l2),
            "theta": self.theta,
            "rng_state": self.rng_state,
            "loss_curve": np.array(self.loss_curve, dtype=np.float64),
            **parameters,
        }

    def save(self, path) -> None:
        """Write the network to ``path`` in fastbp's ``.npz`` format (see :mod:`fastbp.engine.io`).

        Raises
        ------
        ValueError
            If the parameters hold NaN or infinite values (set by hand: training never leaves them),
            which :meth:`load` would refuse.
        """
        if not all_finite(self.theta):
            raise ValueError("the network's parameters contain NaN or infinite values; refusing to save them")
        save_arrays(path, self.to_arrays())

    @classmethod
    def load(cls, path) -> "Network":
        """Read a network written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a complete, consistent fastbp network file.
        """
        return cls.from_arrays(load_arrays(path), path)

    @classmethod
    def from_arrays(cls, arrays: dict, path) -> "Network":
        """The network described by the checked arrays of a model file (``path`` names it in errors)."""
        try:
            network = cls(
                arrays["sizes"].tolist(),
                hidden_activation=arrays["hidden_activation"],
                output_activation=str(arrays["output_activation"]),
                cost=str(arrays["cost"]),
                l2=float(arrays["l2"]),
                dtype=arrays["theta"].dtype,
                seed=0,
                huber_epsilon=float(arrays.get("huber_epsilon", HUBER_EPSILON)),
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: inconsistent fastbp model file: {error}") from error
        theta = arrays["theta"]
        if theta.shape != network.theta.shape:
            raise ValueError(
                f"{path}: theta has {theta.shape[0]} values but layer sizes {arrays['sizes'].tolist()} "
                f"need {network.theta.shape[0]}"
            )
        if not all_finite(theta):
            raise ValueError(f"{path}: theta contains NaN or infinite values")
        if arrays["rng_state"].shape != (1,):
            raise ValueError(f"{path}: rng_state must hold exactly one value")
        network.theta[:] = theta
        network.rng_state[:] = arrays["rng_state"]
        network.loss_curve = arrays["loss_curve"].tolist()
        return network

    def __repr__(self) -> str:
        sizes = "-".join(str(int(size)) for size in self.sizes)
        hidden = self.hidden_activation if isinstance(self.hidden_activation, str) else ",".join(self.hidden_activation)
        return (
            f"Network({sizes}, hidden={hidden}, output={self.output_activation}, "
            f"cost={self.cost}, l2={self.l2}, dtype={self.dtype})"
        )


@functools.lru_cache(maxsize=1024)
def predict_plan(
    sizes: tuple[int, ...], rows: int, backend: str, n_jobs: int | None, numba_thread_count: int, sparse: bool = False
) -> tuple[int | None, bool | None, bool]:
    """The predict kernel's ``(n_threads, tiles)`` for ``rows`` rows at a time, and ``threaded``.

    The threads are those of a chunk of ``PREDICT_ROWS`` rows, whatever
    ``rows``: one compiled forward pass then serves one row and many (it
    shares among the threads only the layers with enough work).  The tiles
    are those of ``rows``.  ``threaded`` says whether some layer has work for
    the threads at ``rows`` rows, and so whether Numba's thread count must be
    set for the call.  Cached: a one-row prediction costs little more than
    its arithmetic.  ``numba_thread_count`` (Numba's thread count of the
    calling thread, which ``n_jobs=None`` means) is part of the cache's key.
    ``sparse``: the inputs are CSR rows (see :func:`fastbp.backends.kernel_plan`).
    """
    full_chunk = thread_count(backend, sizes, PREDICT_ROWS, n_jobs)
    threaded = full_chunk > 1 and thread_count(backend, sizes, rows, n_jobs) > 1
    return (full_chunk if full_chunk > 1 else None), tiles_for(backend, sizes, rows, sparse), threaded


def warm_up(backend: str = "serial", dtype="float64", tiles: bool = False) -> float:
    """Compile (or load from Numba's cache) ``backend``'s kernels for ``dtype``.

    Trains a small network for one epoch and predicts with it, which needs
    every kernel that :meth:`Network.fit` and :meth:`Network.predict` call
    for networks of small layers.  With ``tiles``, the network has a layer
    big enough for the register tiles (256 inputs, 1024 units, a batch of
    128), so that the kernels with the tiles' code compile (on CPUs that
    have no tiles, the same as without).

    Returns
    -------
    float
        The seconds it took: the compile time a first fit would pay.
    """
    started = time.perf_counter()
    sizes, rows = ([256, 1024, 1], 128) if tiles else ([1, 1, 1], 1)
    network = Network(sizes, dtype=dtype, seed=0)
    X, Y = np.ones((rows, sizes[0])), np.ones((rows, 1))
    network.fit(X, Y, epochs=1, batch_size=rows, backend=backend)
    network.predict(X, backend=backend)
    return time.perf_counter() - started
