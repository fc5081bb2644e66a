"""fastbp side by side with PyTorch, JAX, scikit-learn and NumPy, in one run.

Run::

    fastbp bench                                      # every workload, float32, all cores
    fastbp bench --workloads digits,online --threads 1 --rounds 10
    python -m benchmarks.compare ...                  # the same, from the repository root

Each workload (:mod:`fastbp.bench.workloads`) trains the same network on the
same data with every peer: mini-batch SGD, learning rate 0.1, no momentum,
L2 1e-4 on the weights, sigmoid hidden units, reshuffled every epoch.

Peers (none is a fastbp dependency; a peer that is not installed is skipped
with a note):

* ``fastbp-<backend>``: every registered compiled backend, through the public
  ``Network(...).fit(...)``;
* ``numpy``: fastbp's NumPy oracle (the matrix form), ``backend="numpy"``;
* ``jax`` (``pip install jax jaxlib``): the whole measurement unit in one
  ``jax.jit``, ``lax.scan`` over the mini-batches of each epoch;
* ``torch`` (``pip install torch``, CPU): ``torch.nn.Linear`` layers and
  ``torch.optim.SGD``, a Python loop over mini-batches;
* ``sklearn``: ``MLPClassifier`` / ``MLPRegressor`` with ``solver="sgd"``,
  one ``partial_fit`` call per epoch.

The peers are timed in rounds: each round trains every peer for one
measurement unit (one epoch; 10000 epochs for xor), the order rotated from
round to round, so that drift of the machine (clock, caches, other load)
hits every peer alike.  After each unit of a peer that runs on another
thread pool (BLAS, PyTorch's, XLA's) the next peer waits ``SETTLE_SECONDS``
untimed: those pools keep their threads spinning for a while after their
work, on the cores the next peer needs.  Reported: the median seconds per
unit over the rounds, each peer's time divided by the best fastbp backend's (above 1:
fastbp is that many times faster), GFLOP/s and the fraction of the peak,
the peak being the best of several large matrix products through NumPy's
BLAS in the same dtype and thread count.  One untimed unit per peer comes
first, so compilation is excluded from the times; compile times are printed
on their own (fastbp: :func:`fastbp.engine.network.warm_up`, which loads Numba's
on-disk cache when it is warm; JAX: lowering and compiling the unit).

The FLOP count of one epoch of ``N`` samples in batches of ``B``, for layer
sizes ``n_0 .. n_L`` (multiply-add = 2 FLOPs, activations not counted):

* forward, per sample and layer ``l``: ``z^l = W^l a^{l-1}``: ``2 n_l n_{l-1}``;
* backward deltas, per sample and layer ``l >= 2``:
  ``(W^l)^T delta^l``: ``2 n_l n_{l-1}`` (none for ``l = 1``: the input has no delta);
* weight gradients, per sample and layer: ``delta^l (a^{l-1})^T``: ``2 n_l n_{l-1}``;
* update, per batch: ``2 P`` for the ``P`` parameters (gradient scale and step).
"""

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from fastbp.bench.workloads import L2, LEARNING_RATE, WORKLOADS, Workload, compiled_backends, unavailable

# xor: PyTorch and scikit-learn take 10 to 40 s per 10000 epochs, hence 3 rounds
DEFAULT_ROUNDS = {"digits": 20, "mnistlike": 5, "wide": 3, "online": 7, "xor": 3}
# BLAS, PyTorch and XLA thread pools keep spinning for a while after their work: an epoch that
# starts at once after such a peer runs on busy cores (benchmarks/README.md has the figures).
SETTLE_SECONDS = 0.2
QUICK_ROUNDS = 2
PEERS = ["fastbp", "numpy", "jax", "torch", "sklearn"]


def flops_per_unit(workload: Workload, n_samples: int) -> float:
    """FLOPs of one measurement unit, counted as in the module docstring."""
    sizes = workload.sizes
    per_sample = 0
    for l in range(1, len(sizes)):
        passes = 3 if l >= 2 else 2  # forward, weight gradient, and the delta below it for l >= 2
        per_sample += passes * 2 * sizes[l] * sizes[l - 1]
    parameters = sum(sizes[l] * sizes[l - 1] + sizes[l] for l in range(1, len(sizes)))
    n_batches = math.ceil(n_samples / workload.batch_size)
    return float(workload.epochs * (n_samples * per_sample + n_batches * 2 * parameters))


def measure_peak(dtype: str, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of ``repeats`` products of two ``size x size`` matrices."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best / 1e9


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
        self.settle_seconds = SETTLE_SECONDS if backend == "numpy" else 0.0
        self.network = workload.network(X.dtype)

    def train(self) -> None:
        """One measurement unit."""
        self.network.fit(
            self.X,
            self.Y,
            epochs=self.workload.epochs,
            learning_rate=LEARNING_RATE,
            batch_size=self.workload.batch_size,
            backend=self.backend,
        )


class EstimatorPeer:
    """fastbp's scikit-learn estimators (the auto backend): the cost of the estimator layer, measured.

    The same settings as :class:`SklearnPeer`; one unit is a ``fit`` of the
    workload's epochs continuing the last (``warm_start``), so it is the unit of
    :class:`FastbpPeer` (one ``Network.fit`` call) through the estimator.
    """

    name = "fastbp-estimator"
    settle_seconds = 0.0

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


class TorchPeer:
    """``torch.nn.Linear`` layers and ``torch.optim.SGD``, started from fastbp's initial weights."""

    name = "torch"
    compile_seconds = None
    settle_seconds = SETTLE_SECONDS

    def __init__(self, workload: Workload, X: np.ndarray, Y: np.ndarray, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.torch, self.workload = torch, workload
        self.X = torch.from_numpy(X)
        self.Y = torch.from_numpy(Y)
        self.labels = torch.from_numpy(np.argmax(Y, axis=1))
        initial = workload.network(X.dtype)
        layers = []
        for l in range(1, len(workload.sizes)):
            linear = torch.nn.Linear(workload.sizes[l - 1], workload.sizes[l], dtype=self.X.dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(initial.W[l]))
                linear.bias.copy_(torch.from_numpy(initial.b[l]))
            layers += [linear, torch.nn.Sigmoid()]
        self.model = torch.nn.Sequential(*layers[:-1])  # the output activation lives in the loss
        # torch's weight_decay adds wd * W to the gradient; fastbp's L2 term adds
        # (lambda / N) W for a batch of N, so wd = lambda / B (exact for full batches).
        weights = [layer.weight for layer in self.model if isinstance(layer, torch.nn.Linear)]
        biases = [layer.bias for layer in self.model if isinstance(layer, torch.nn.Linear)]
        self.optimizer = torch.optim.SGD(
            [{"params": weights, "weight_decay": L2 / workload.batch_size}, {"params": biases, "weight_decay": 0.0}],
            lr=LEARNING_RATE,
            momentum=0.0,
        )
        self.generator = torch.Generator().manual_seed(0)

    def loss(self, output: Any, rows: Any) -> Any:
        """The mean cost of the batch ``rows`` (output activation included)."""
        functional = self.torch.nn.functional
        if self.workload.cost == "categorical_cross_entropy":
            return functional.cross_entropy(output, self.labels[rows])
        if self.workload.cost == "binary_cross_entropy":
            return functional.binary_cross_entropy_with_logits(output, self.Y[rows], reduction="sum") / rows.shape[0]
        return 0.5 * ((output - self.Y[rows]) ** 2).sum() / rows.shape[0]

    def train(self) -> None:
        """One measurement unit."""
        n_samples, batch_size = self.X.shape[0], self.workload.batch_size
        for _ in range(self.workload.epochs):
            order = self.torch.randperm(n_samples, generator=self.generator)
            for start in range(0, n_samples, batch_size):
                rows = order[start : start + batch_size]
                self.optimizer.zero_grad(set_to_none=True)
                self.loss(self.model(self.X[rows]), rows).backward()
                self.optimizer.step()


class JaxPeer:
    """A measurement unit as one ``jax.jit``: ``lax.scan`` over epochs, and over mini-batches in each."""

    name = "jax"
    settle_seconds = SETTLE_SECONDS

    def __init__(self, workload: Workload, X: np.ndarray, Y: np.ndarray):
        import jax
        import jax.numpy as jnp

        if X.dtype == np.float64:
            jax.config.update("jax_enable_x64", True)
        self.jax, self.workload = jax, workload
        initial = workload.network(X.dtype)
        self.params = [(jnp.asarray(initial.W[l]), jnp.asarray(initial.b[l])) for l in range(1, len(workload.sizes))]
        self.X, self.Y = jnp.asarray(X), jnp.asarray(Y)
        self.key = jax.random.PRNGKey(0)
        started = time.perf_counter()
        self.unit = jax.jit(self.make_unit()).lower(self.params, self.key, self.X, self.Y).compile()
        self.compile_seconds = time.perf_counter() - started

    def make_unit(self) -> Callable[..., Any]:
        """The function ``(params, key, X, Y) -> (params, key)`` that trains one unit."""
        jax, workload = self.jax, self.workload
        jnp, lax = jax.numpy, jax.lax
        n_samples, batch_size = self.X.shape[0], workload.batch_size
        n_full = n_samples // batch_size

        def cost(params, x, y):
            # (1/N) sum_n C_n + (lambda / 2N) sum W^2, sigma_L applied inside the cost
            a = x
            for W, b in params[:-1]:
                a = jax.nn.sigmoid(a @ W.T + b)
            W, b = params[-1]
            z = a @ W.T + b
            if workload.cost == "categorical_cross_entropy":
                per_sample = -jnp.sum(y * jax.nn.log_softmax(z), axis=1)
            elif workload.cost == "binary_cross_entropy":
                per_sample = jnp.sum(jnp.logaddexp(0.0, z) - y * z, axis=1)
            else:
                per_sample = 0.5 * jnp.sum((z - y) ** 2, axis=1)
            squares = sum(jnp.sum(W**2) for W, _ in params)
            return jnp.mean(per_sample) + L2 / (2 * x.shape[0]) * squares

        def step(params, batch):
            gradient = jax.grad(cost)(params, *batch)
            return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, gradient), None

        def epoch(params, key, X, Y):
            order = jax.random.permutation(key, n_samples)
            X, Y = X[order], Y[order]
            batches = (
                X[: n_full * batch_size].reshape(n_full, batch_size, -1),
                Y[: n_full * batch_size].reshape(n_full, batch_size, -1),
            )
            params, _ = lax.scan(step, params, batches)
            if n_full * batch_size < n_samples:
                params, _ = step(params, (X[n_full * batch_size :], Y[n_full * batch_size :]))
            return params

        def unit(params, key, X, Y):
            keys = jax.random.split(key, workload.epochs + 1)
            params, _ = lax.scan(lambda p, k: (epoch(p, k, X, Y), None), params, keys[1:])
            return params, keys[0]

        return unit

    def train(self) -> None:
        """One measurement unit."""
        self.params, self.key = self.unit(self.params, self.key, self.X, self.Y)
        self.jax.block_until_ready(self.params)


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


def make_peers(
    names: list[str], workload: Workload, X: np.ndarray, Y: np.ndarray, threads: int, notes: list[str]
) -> list[Peer]:
    """The peers named in ``names`` that can run here; a note for each that cannot."""
    peers: list[Peer] = []
    for name in names:
        if name == "fastbp":
            for backend in compiled_backends():
                reason = unavailable(backend)
                if reason is None:
                    peers.append(FastbpPeer(workload, X, Y, backend))
                else:
                    notes.append(f"fastbp-{backend} skipped: {reason}")
            try:
                peers.append(EstimatorPeer(workload, X, Y))
            except ImportError as error:
                notes.append(f"fastbp-estimator skipped: scikit-learn not installed ({error})")
            continue
        try:
            if name == "numpy":
                peers.append(FastbpPeer(workload, X, Y, "numpy"))
            elif name == "torch":
                peers.append(TorchPeer(workload, X, Y, threads))
            elif name == "jax":
                peers.append(JaxPeer(workload, X, Y))
            elif name == "sklearn":
                peers.append(SklearnPeer(workload, X, Y))
        except ImportError as error:
            notes.append(f"{name} skipped: not installed ({error})")
    return peers


def measure_rounds(peers: list[Peer], rounds: int) -> dict[str, list[float]]:
    """Seconds of each peer's measurement units, ``rounds`` of them, order rotated each round."""
    for peer in peers:
        peer.train()  # untimed: first calls (allocation, lazy initialisation) excluded
    seconds: dict[str, list[float]] = {peer.name: [] for peer in peers}
    for round_index in range(rounds):
        shift = round_index % len(peers)
        for peer in peers[shift:] + peers[:shift]:
            started = time.perf_counter()
            peer.train()
            seconds[peer.name].append(time.perf_counter() - started)
            time.sleep(peer.settle_seconds)
    return seconds


def milliseconds(seconds: float) -> str:
    """``seconds`` in milliseconds, four significant digits, never in exponent form."""
    value = seconds * 1e3
    return f"{value:.0f}" if value >= 1000 else f"{value:.4g}"


def report(
    workload: Workload,
    n_samples: int,
    seconds: dict[str, list[float]],
    compile_seconds: dict[str, float | None],
    peak: float,
    rounds: int,
) -> str:
    """The table of one workload."""
    flops = flops_per_unit(workload, n_samples)
    unit = (
        "10000 epochs"
        if workload.epochs == 10000
        else f"{workload.epochs} epoch" + ("s" if workload.epochs > 1 else "")
    )
    median = {name: statistics.median(times) for name, times in seconds.items()}
    fastbp = [name for name in median if name.startswith("fastbp-")]
    best = min(median[name] for name in fastbp) if fastbp else None
    lines = [
        f"{workload.name}: {'-'.join(map(str, workload.sizes))} {workload.output_activation} output, "
        f"{workload.cost}, {n_samples} samples, batch {workload.batch_size}; unit = {unit}, "
        f"{flops / 1e9:.4g} GFLOP; median of {rounds} rounds",
        f"  {'peer':<16}{'ms/unit':>12}{'x fastbp':>10}{'GFLOP/s':>10}{'% peak':>8}{'compile s':>11}",
    ]
    for name in sorted(median, key=lambda name: median[name]):
        ratio = f"{median[name] / best:.2f}" if best else "-"
        rate = flops / median[name] / 1e9
        compiled = compile_seconds.get(name)
        lines.append(
            f"  {name:<16}{milliseconds(median[name]):>12}{ratio:>10}{rate:>10.3g}{100 * rate / peak:>8.1f}"
            f"{'-' if compiled is None else f'{compiled:.3g}':>11}"
        )
    return "\n".join(lines)


def limit_threads(threads: int) -> Any:
    """A context limiting the BLAS/OpenMP pools (NumPy, scikit-learn) to ``threads``, if threadpoolctl is there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The comparison's options, on ``parser`` (this module's own, or ``fastbp bench``'s)."""
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated, from: " + ", ".join(WORKLOADS)
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, from: " + ", ".join(PEERS))
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per workload (default: per workload)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="threads for every peer (default: Numba's count)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds: checks that the comparison runs")


def check_arguments(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> argparse.Namespace:
    """Split the comma-separated lists and check every name and number (``parser.error`` otherwise)."""
    for option, known in (("workloads", WORKLOADS), ("peers", PEERS)):
        names = getattr(arguments, option).split(",")
        unknown = [name for name in names if name not in known]
        if unknown:
            parser.error(f"unknown {option}: {', '.join(unknown)}")
        setattr(arguments, option, names)
    if arguments.rounds is not None and arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    if arguments.threads is not None:
        import numba

        if not 1 <= arguments.threads <= numba.config.NUMBA_NUM_THREADS:
            parser.error(
                f"--threads must be from 1 to NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, "
                f"got {arguments.threads}"
            )
    return arguments


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line of ``python -m benchmarks.compare``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return check_arguments(parser, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the comparison and print one table per workload."""
    return run(parse_arguments(argv))


def run(arguments: argparse.Namespace) -> int:
    """Run the comparison of checked ``arguments`` and print one table per workload."""
    import numba

    threads_before = numba.get_num_threads()
    threads = arguments.threads or threads_before
    notes = []
    if "jax" in arguments.peers and "jax" not in sys.modules:
        if threads == 1:
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            )
        elif threads != os.cpu_count():
            notes.append(f"jax uses all {os.cpu_count()} cores: XLA has no flag for {threads} threads")
    limits = limit_threads(threads)
    if limits is None:
        notes.append("threadpoolctl not installed: NumPy's BLAS threads not limited")
    numba.set_num_threads(threads)
    try:
        peak = measure_peak(arguments.dtype)
        print(
            f"fastbp compare: {arguments.dtype}, {threads} thread(s), {os.cpu_count()} CPU(s); "
            f"peak {peak:.1f} GFLOP/s ({arguments.dtype} {2048}x{2048} matrix product through NumPy, best of 5)"
        )
        print(f"load average at start (1, 5, 15 min): {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
        print("ms/unit: median seconds per unit x 1000; x fastbp: peer time / best fastbp backend time\n")
        for name in arguments.workloads:
            workload = WORKLOADS[name]
            X, Y = workload.data(arguments.dtype)
            peers = make_peers(arguments.peers, workload, X, Y, threads, notes)
            rounds = arguments.rounds or (QUICK_ROUNDS if arguments.quick else DEFAULT_ROUNDS[name])
            seconds = measure_rounds(peers, rounds)
            compile_seconds = {peer.name: peer.compile_seconds for peer in peers}
            print(report(workload, X.shape[0], seconds, compile_seconds, peak, rounds) + "\n", flush=True)
    finally:
        numba.set_num_threads(threads_before)
        if limits is not None:
            limits.restore_original_limits()
    for note in dict.fromkeys(notes):
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
