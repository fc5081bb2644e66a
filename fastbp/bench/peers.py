"""The comparison's peers: fastbp, and each other library as its own experts write it.

Every peer trains the same network from the same initial weights on the
same data with the same rule (mini-batch SGD without momentum, L2 on the
weights, sigmoid hidden units, reshuffled every epoch); ``train`` runs one
measurement unit (one epoch; 10000 for xor).  ``tests/test_benchmarks.py``
checks that the JAX and PyTorch peers, given fastbp's order of the samples,
end with fastbp's weights.

* ``fastbp-<backend>``: ``Network(...).fit(...)`` with that backend;
  ``fastbp-estimator``: the scikit-learn estimators; ``numpy``: fastbp's
  NumPy oracle (the matrix form);
* ``jax``: the unit in one ``jax.jit``: ``lax.scan`` over the epochs and the
  mini-batches, each batch's rows gathered inside the scan from the epoch's
  order (drawn by NumPy outside and passed in as an ``(epochs, N)`` int32
  array, as JAX's users shuffle), weights stored ``(n_in, n_out)`` and applied
  as ``a @ W + b``, the parameters donated to the call;
* ``torch``: eager PyTorch, ``torch.nn.Linear`` layers, ``torch.optim.SGD``
  (fused where this PyTorch has it), rows gathered by indexing;
  ``torch-compile``: the same with the cost and its gradient compiled by
  ``torch.compile``.  The table shows both: PyTorch's fastest form is
  whichever measures faster on the machine;
* ``sklearn``: ``MLPClassifier`` / ``MLPRegressor`` with ``solver="sgd"``, one
  ``partial_fit`` (one epoch) at a time.
"""

import time
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from fastbp.bench.workloads import L2, LEARNING_RATE, Workload, is_sparse

# BLAS, PyTorch and XLA thread pools keep spinning for a while after their work: an epoch that
# starts at once after such a peer runs on busy cores (benchmarks/README.md has the figures).
SETTLE_SECONDS = 0.2


class Peer(Protocol):
    """What the rounds need of a peer: its name, its compile time (None: not measured), its settling, a unit."""

    @property
    def name(self) -> str: ...

    @property
    def compile_seconds(self) -> float | None: ...

    @property
    def settle_seconds(self) -> float: ...

    def train(self) -> None:
        """One measurement unit."""


class FastbpPeer:
    """fastbp through its public API, with the backend ``backend``."""

    def __init__(self, workload: Workload, X: np.ndarray, Y: np.ndarray, backend: str):
        from fastbp.engine.network import warm_up

        self.name = "numpy" if backend == "numpy" else f"fastbp-{backend}"
        self.workload, self.X, self.Y, self.backend = workload, X, Y, backend
        self.compile_seconds = None if backend == "numpy" else warm_up(backend, X.dtype)
        # Numba's OpenMP threads, like the BLAS pools, spin for a while after a parallel region.
        self.settle_seconds = 0.0 if backend == "serial" else SETTLE_SECONDS
        self.network = workload.network(X.dtype)

    def train(self) -> None:
        """One measurement unit."""
        self.workload.train_unit(self.network, self.X, self.Y, self.backend)


class EstimatorPeer:
    """fastbp's scikit-learn estimators (the auto backend): the cost of the estimator layer, measured.

    The same settings as :class:`SklearnPeer`; one unit is a ``fit`` of the
    workload's epochs continuing the last (``warm_start``), so it is the unit of
    :class:`FastbpPeer` (one ``Network.fit`` call) through the estimator.
    """

    name = "fastbp-estimator"
    settle_seconds = SETTLE_SECONDS

    def __init__(self, workload: Workload, X: np.ndarray, Y: np.ndarray):
        from fastbp.engine.network import warm_up
        from fastbp.sklearn import MLPClassifier, MLPRegressor

        self.compile_seconds = warm_up("auto", X.dtype)
        self.X = X
        options = dict(sklearn_options(workload), warm_start=True, max_iter=workload.epochs, tol=0.0,
                       n_iter_no_change=2**31 - 1)  # fmt: skip
        if workload.output_activation == "identity":
            self.model, self.y = MLPRegressor(**options), Y[:, 0]
        else:
            self.model, self.y = MLPClassifier(**options), class_labels(Y)

    def train(self) -> None:
        """One measurement unit."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached: the ConvergenceWarning of every unit
            self.model.fit(self.X, self.y)


def sklearn_options(workload: Workload) -> dict:
    """scikit-learn's parameters for a workload: SGD without momentum, logistic hidden units, L2, shuffled."""
    return dict(
        hidden_layer_sizes=workload.sizes[1:-1],
        activation="logistic",
        solver="sgd",
        alpha=L2,
        batch_size=workload.batch_size,
        learning_rate="constant",
        learning_rate_init=LEARNING_RATE,
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=True,
        random_state=0,
    )


def class_labels(Y: np.ndarray) -> np.ndarray:
    """Softmax outputs: class labels; one sigmoid output (xor): labels 0/1, binary cross-entropy."""
    return np.argmax(Y, axis=1) if Y.shape[1] > 1 else Y[:, 0].astype(np.int64)


def identity_orders(epochs: int, n_samples: int) -> np.ndarray:
    """``(epochs, n_samples)`` int32: every epoch in the data's own order (the peers' check against fastbp)."""
    return np.tile(np.arange(n_samples, dtype=np.int32), (epochs, 1))


class TorchPeer:
    """PyTorch on the CPU, eager or with ``torch.compile``, started from fastbp's initial weights."""

    settle_seconds = SETTLE_SECONDS

    def __init__(self, workload: Workload, X: Any, Y: np.ndarray, threads: int, compiled: bool = False):
        import torch

        torch.set_num_threads(threads)
        self.name = "torch-compile" if compiled else "torch"
        self.torch, self.workload = torch, workload
        self.sparse = is_sparse(X)
        self.n_samples = X.shape[0]
        self.Y = torch.from_numpy(Y)
        self.labels = torch.from_numpy(np.argmax(Y, axis=1))
        initial = workload.network(Y.dtype)
        dtype = self.Y.dtype
        layers = []
        for l in range(1, len(workload.sizes)):
            linear = torch.nn.Linear(workload.sizes[l - 1], workload.sizes[l], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(initial.W[l]))
                linear.bias.copy_(torch.from_numpy(initial.b[l]))
            layers += [linear, torch.nn.Sigmoid()]
        if self.sparse:
            # Sparse inputs as PyTorch's users write them: layer 1 an EmbeddingBag that sums the
            # rows of W^T picked by each sample's nonzero inputs, weighted by their values.
            self.X: Any = tuple(
                torch.from_numpy(array) for array in (X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data)
            )
            self.bag = torch.nn.EmbeddingBag(workload.sizes[0], workload.sizes[1], mode="sum", dtype=dtype)
            with torch.no_grad():
                self.bag.weight.copy_(torch.from_numpy(np.ascontiguousarray(initial.W[1].T)))
            self.first_bias: Any = layers[0].bias
            layers = layers[2:]  # layer 1 and its sigmoid are computed by inputs()
        else:
            self.X = torch.from_numpy(X)
        self.model = torch.nn.Sequential(*layers[:-1])  # the output activation lives in the loss
        # torch's weight_decay adds wd * W to the gradient; fastbp's L2 term adds
        # (lambda / N) W for a batch of N, so wd = lambda / N, set before each batch.
        weights = [layer.weight for layer in self.linears()]
        biases = [layer.bias for layer in self.linears()]
        if self.sparse:
            weights, biases = [self.bag.weight, *weights], [self.first_bias, *biases]
        groups = [
            {"params": weights, "weight_decay": L2 / workload.batch_size},
            {"params": biases, "weight_decay": 0.0},
        ]
        try:
            self.optimizer = torch.optim.SGD(groups, lr=LEARNING_RATE, momentum=0.0, fused=True)
        except (RuntimeError, TypeError, ValueError):  # a PyTorch without the fused CPU step
            self.optimizer = torch.optim.SGD(groups, lr=LEARNING_RATE, momentum=0.0, foreach=True)
        self.batch_loss = torch.compile(self.loss) if compiled else self.loss
        self.generator = torch.Generator().manual_seed(0)
        self.compile_seconds = None
        if compiled:  # the first unit compiles (a second graph for a last, smaller batch)
            started = time.perf_counter()
            self.train()
            self.compile_seconds = time.perf_counter() - started

    def linears(self) -> list[Any]:
        """The ``torch.nn.Linear`` layers, first to last."""
        return [layer for layer in self.model if isinstance(layer, self.torch.nn.Linear)]

    def inputs(self, rows: Any) -> Any:
        """The batch's input to ``self.model``: its rows of X, or for sparse X the sigmoid of layer 1."""
        if not self.sparse:
            return self.X[rows]
        torch = self.torch
        indptr, indices, values = self.X
        starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
        offsets = torch.cumsum(lengths, 0) - lengths
        positions = torch.repeat_interleave(starts - offsets, lengths) + torch.arange(int(lengths.sum()))
        summed = self.bag(indices[positions], offsets, per_sample_weights=values[positions])
        return torch.sigmoid(summed + self.first_bias)

    def loss(self, rows: Any) -> Any:
        """The mean cost of the batch ``rows`` (output activation included)."""
        functional = self.torch.nn.functional
        output = self.model(self.inputs(rows))
        if self.workload.cost == "categorical_cross_entropy":
            return functional.cross_entropy(output, self.labels[rows])
        if self.workload.cost == "binary_cross_entropy":
            return functional.binary_cross_entropy_with_logits(output, self.Y[rows], reduction="sum") / rows.shape[0]
        return 0.5 * ((output - self.Y[rows]) ** 2).sum() / rows.shape[0]

    def run(self, orders: Any) -> None:
        """One epoch per row of ``orders`` (int tensor or array), mini-batches in that order."""
        n_samples, batch_size = self.n_samples, self.workload.batch_size
        weights = self.optimizer.param_groups[0]
        for order in self.torch.as_tensor(orders, dtype=self.torch.int64):
            for start in range(0, n_samples, batch_size):
                rows = order[start : start + batch_size]
                weights["weight_decay"] = L2 / rows.shape[0]  # (lambda / N) W, also for a last, smaller batch
                self.optimizer.zero_grad(set_to_none=True)
                self.batch_loss(rows).backward()
                self.optimizer.step()

    def train(self) -> None:
        """One measurement unit."""
        n_samples = self.n_samples
        orders = [self.torch.randperm(n_samples, generator=self.generator) for _ in range(self.workload.epochs)]
        self.run(self.torch.stack(orders))

    def layer_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(W^l, b^l)`` for l = 1 .. L, W^l as fastbp stores it, ``(n_l, n_{l-1})``."""
        layers = [
            (layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()) for layer in self.linears()
        ]
        if self.sparse:
            layers.insert(0, (self.bag.weight.detach().numpy().T.copy(), self.first_bias.detach().numpy().copy()))
        return layers


class JaxPeer:
    """The unit in one ``jax.jit``, as JAX's users write it (see the module docstring)."""

    name = "jax"
    settle_seconds = SETTLE_SECONDS

    def __init__(self, workload: Workload, X: np.ndarray, Y: np.ndarray):
        import jax
        import jax.numpy as jnp

        if Y.dtype == np.float64:
            jax.config.update("jax_enable_x64", True)
        self.jax, self.workload = jax, workload
        initial = workload.network(Y.dtype)
        self.params = [
            (jnp.asarray(np.ascontiguousarray(initial.W[l].T)), jnp.asarray(initial.b[l]))
            for l in range(1, len(workload.sizes))
        ]
        # Sparse inputs as JAX's users write them: each row's nonzeros padded to the longest row,
        # (indices, values), so that rows gather like dense ones; layer 1 sums the rows of W^1
        # (stored (n_in, n_out)) they pick, weighted by the values.
        self.X = tuple(jnp.asarray(array) for array in padded_rows(X)) if is_sparse(X) else jnp.asarray(X)
        self.Y = jnp.asarray(Y)
        self.rng = np.random.default_rng(0)
        started = time.perf_counter()
        orders = identity_orders(workload.epochs, Y.shape[0])
        jitted = jax.jit(self.make_unit(), donate_argnums=0)
        self.unit = jitted.lower(self.params, orders, self.X, self.Y).compile()
        self.compile_seconds = time.perf_counter() - started

    def make_unit(self) -> Callable[..., Any]:
        """The function ``(params, orders, X, Y) -> params`` that trains one epoch per row of ``orders``."""
        jax, workload = self.jax, self.workload
        jnp, lax = jax.numpy, jax.lax
        n_samples, batch_size = self.Y.shape[0], workload.batch_size
        n_full = n_samples // batch_size

        def first_layer(W, x):
            if isinstance(x, tuple):  # padded sparse rows: sum_p W[indices[p]] values[p]
                indices, values = x
                return jnp.einsum("bp,bpk->bk", values, W[indices])
            return x @ W

        def cost(params, x, y):
            # (1/N) sum_n C_n + (lambda / 2N) sum W^2, sigma_L applied inside the cost
            a = x
            for l, (W, b) in enumerate(params[:-1]):
                a = jax.nn.sigmoid((first_layer(W, a) if l == 0 else a @ W) + b)
            W, b = params[-1]
            z = (first_layer(W, a) if len(params) == 1 else a @ W) + b
            if workload.cost == "categorical_cross_entropy":
                per_sample = -jnp.sum(y * jax.nn.log_softmax(z), axis=1)
            elif workload.cost == "binary_cross_entropy":
                per_sample = jnp.sum(jnp.logaddexp(0.0, z) - y * z, axis=1)
            else:
                per_sample = 0.5 * jnp.sum((z - y) ** 2, axis=1)
            squares = sum(jnp.sum(W**2) for W, _ in params)
            return jnp.mean(per_sample) + L2 / (2 * y.shape[0]) * squares

        def step(params, rows, X, Y):
            x = tuple(part[rows] for part in X) if isinstance(X, tuple) else X[rows]
            gradient = jax.grad(cost)(params, x, Y[rows])
            return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, gradient)

        def epoch(params, order, X, Y):
            batches = order[: n_full * batch_size].reshape(n_full, batch_size)
            params, _ = lax.scan(lambda p, rows: (step(p, rows, X, Y), None), params, batches)
            if n_full * batch_size < n_samples:
                params = step(params, order[n_full * batch_size :], X, Y)
            return params

        def unit(params, orders, X, Y):
            params, _ = lax.scan(lambda p, order: (epoch(p, order, X, Y), None), params, orders)
            return params

        return unit

    def run(self, orders: np.ndarray) -> None:
        """One epoch per row of ``orders`` (``(epochs, N)`` int32), mini-batches in that order."""
        self.params = self.unit(self.params, orders, self.X, self.Y)
        self.jax.block_until_ready(self.params)

    def train(self) -> None:
        """One measurement unit, with a fresh order per epoch drawn by NumPy."""
        self.run(self.rng.permuted(identity_orders(self.workload.epochs, self.Y.shape[0]), axis=1))

    def layer_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(W^l, b^l)`` for l = 1 .. L, W^l as fastbp stores it, ``(n_l, n_{l-1})``."""
        return [(np.asarray(W).T.copy(), np.asarray(b).copy()) for W, b in self.params]


def padded_rows(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """A CSR matrix as ``(indices, values)``, each ``(N, longest row)``: a row's nonzeros, then zeros at index 0."""
    lengths = np.diff(X.indptr)
    width = max(int(lengths.max(initial=0)), 1)
    indices = np.zeros((X.shape[0], width), dtype=np.int32)
    values = np.zeros((X.shape[0], width), dtype=X.dtype)
    slots = np.arange(X.nnz) - np.repeat(X.indptr[:-1], lengths)
    rows = np.repeat(np.arange(X.shape[0]), lengths)
    indices[rows, slots], values[rows, slots] = X.indices, X.data
    return indices, values


class SklearnPeer:
    """scikit-learn's MLP with ``solver="sgd"``, one ``partial_fit`` (one epoch) at a time."""

    name = "sklearn"
    compile_seconds = None
    settle_seconds = SETTLE_SECONDS

    def __init__(self, workload: Workload, X: np.ndarray, Y: np.ndarray):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        self.workload, self.X = workload, X
        options = sklearn_options(workload)
        if workload.output_activation == "identity":
            self.model, self.y, self.classes = MLPRegressor(**options), Y[:, 0], None
        else:
            labels = class_labels(Y)
            self.model, self.y, self.classes = MLPClassifier(**options), labels, np.unique(labels)

    def train(self) -> None:
        """One measurement unit."""
        for _ in range(self.workload.epochs):
            if self.classes is None:
                self.model.partial_fit(self.X, self.y)
            else:
                self.model.partial_fit(self.X, self.y, classes=self.classes)
