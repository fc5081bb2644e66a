"""asv benchmarks: training time and memory per epoch, import time, first-fit cost.

Parametrised over backend (every registered compiled backend, see
:func:`fastbp.bench.workloads.compiled_backends`, loaded by :mod:`benchmarks.workloads`) x dtype x workload.  ``wide``
(seconds per epoch) has a class of its own, float32 only, so that the main
grid stays quick.  A backend that cannot run here (CUDA without a GPU) is
skipped: asv treats ``NotImplementedError`` raised in ``setup`` as "skipped".
"""

try:
    from fastbp import warm_up
except ImportError:  # asv measures commits older than this suite: before 0.2 it was fastbp.network.warm_up
    from fastbp.network import warm_up

from .workloads import L2, LEARNING_RATE, NETWORK_SEED, WORKLOADS, compiled_backends, unavailable

DTYPES = ["float32", "float64"]
SMALL_WORKLOADS = ["digits", "mnistlike", "online", "xor"]
# Setup code for timeraw: the fresh process gets an empty Numba cache of its own.
EMPTY_CACHE = "import os, tempfile\ncache = tempfile.TemporaryDirectory()\nos.environ['NUMBA_CACHE_DIR'] = cache.name\n"


class TrainEpoch:
    """One measurement unit of training (one epoch; 10000 for xor) through ``Network.fit``."""

    params = (compiled_backends(), DTYPES, SMALL_WORKLOADS)
    param_names = ["backend", "dtype", "workload"]
    timeout = 300.0

    def setup(self, backend: str, dtype: str, workload: str) -> None:
        """Build the network and data, then train one unit so the JIT is warm."""
        reason = unavailable(backend)
        if reason is not None:
            raise NotImplementedError(reason)
        self.workload = WORKLOADS[workload]
        self.X, self.Y = self.workload.data(dtype)
        self.network = self.workload.network(dtype)
        self.backend = backend
        self.train()

    def train(self) -> None:
        """Train the network for one measurement unit."""
        self.workload.train_unit(self.network, self.X, self.Y, self.backend)

    def time_epoch(self, backend: str, dtype: str, workload: str) -> None:
        """Seconds per unit, JIT excluded."""
        self.train()

    def peakmem_epoch(self, backend: str, dtype: str, workload: str) -> None:
        """Peak resident memory of a process that trains one unit."""
        self.train()


class TrainWideEpoch(TrainEpoch):
    """One epoch of ``wide`` (1024-1024-1024-10, batch 256), float32 only."""

    params = (compiled_backends(), ["float32"], ["wide"])
    number = 1
    repeat = (1, 3, 60.0)


def timeraw_import() -> str:
    """``import fastbp`` in a fresh interpreter (it imports no backend)."""
    return "import fastbp"


class FirstFit:
    """A fresh process's first fit of one digits epoch, compile or cache load included."""

    params = (compiled_backends(), DTYPES)
    param_names = ["backend", "dtype"]
    timeout = 300.0

    def setup(self, backend: str, dtype: str) -> None:
        """Skip backends that cannot run here; fill Numba's default on-disk cache for the warm case."""
        reason = unavailable(backend)
        if reason is not None:
            raise NotImplementedError(reason)
        warm_up(backend, dtype)

    def timeraw_warm_cache(self, backend: str, dtype: str) -> tuple[str, str]:
        """Numba's on-disk cache already filled: the kernels are loaded, not compiled."""
        return first_fit(backend, dtype, "")

    def timeraw_cold_cache(self, backend: str, dtype: str) -> tuple[str, str]:
        """An empty Numba cache: every kernel that a fit needs is compiled for ``dtype``."""
        return first_fit(backend, dtype, EMPTY_CACHE)

    timeraw_cold_cache.repeat = (1, 2, 120.0)


def first_fit(backend: str, dtype: str, before_import: str) -> tuple[str, str]:
    """``(code, setup)`` for asv's timeraw: setup loads digits, code builds and fits the network.

    The fresh interpreter sees only the installed fastbp, so the code spells
    the digits workload out instead of importing this package.
    """
    workload = WORKLOADS["digits"]
    setup = (
        before_import
        + "from fastbp import Network\n"
        + "from fastbp.datasets import load_digits, one_hot\n"
        + "pixels, labels = load_digits()\n"
        + f"X = (pixels / 16.0).astype({dtype!r})\n"
        + f"Y = one_hot(labels, 10).astype({dtype!r})\n"
    )
    code = (
        f"Network({workload.sizes}, 'sigmoid', {workload.output_activation!r}, {workload.cost!r}, "
        f"l2={L2}, dtype={dtype!r}, seed={NETWORK_SEED}).fit(X, Y, epochs=1, "
        f"learning_rate={LEARNING_RATE}, batch_size={workload.batch_size}, backend={backend!r})"
    )
    return code, setup


class FirstEstimatorFit:
    """A fresh process's first ``MLPClassifier(random_state=0)`` fit on the digits, then ``predict``."""

    timeout = 300.0

    def setup(self) -> None:
        """Skip where scikit-learn is missing; fill Numba's default on-disk cache for the warm case."""
        try:
            import sklearn  # noqa: F401
        except ImportError as error:
            raise NotImplementedError("scikit-learn is not installed") from error
        code, setup = estimator_first_fit("")
        exec(setup + code, {})

    def timeraw_warm_cache(self) -> tuple[str, str]:
        """Numba's on-disk cache already filled."""
        return estimator_first_fit("")

    def timeraw_cold_cache(self) -> tuple[str, str]:
        """An empty Numba cache: every kernel the fit and the predict run is compiled."""
        return estimator_first_fit(EMPTY_CACHE)

    timeraw_cold_cache.repeat = (1, 2, 120.0)


def estimator_first_fit(before_import: str) -> tuple[str, str]:
    """``(code, setup)`` for asv's timeraw: setup loads the digits, code fits scikit-learn's defaults and predicts."""
    setup = before_import + "from sklearn.datasets import load_digits\nX, y = load_digits(return_X_y=True)\n"
    code = "from fastbp import MLPClassifier\nMLPClassifier(random_state=0).fit(X, y).predict(X)\n"
    return code, setup


class MainJob:
    """``python -m fastbp``, the README's first command (the digits demo), in a fresh process."""

    timeout = 300.0

    def timeraw_cold_cache(self) -> tuple[str, str]:
        """An empty Numba cache: the demo compiles what it runs."""
        # timeraw reads the time from the process's standard output: the demo's report goes elsewhere.
        code = "import contextlib, io\nfrom fastbp.cli import main\n"
        code += "with contextlib.redirect_stdout(io.StringIO()) as report:\n    main([])\n"
        return code, EMPTY_CACHE

    timeraw_cold_cache.repeat = (1, 2, 120.0)


class Estimator:
    """``fastbp.MLPClassifier`` on the digits: a whole fit of scikit-learn's defaults, and one-row predictions.

    Measures the estimator layer (validation, shuffling, stopping rules, label
    encoding) on top of the kernels; asv skips it where scikit-learn is missing.
    """

    timeout = 300.0

    def setup(self) -> None:
        """Digits pixels scaled to [0, 1] and their labels; a fitted model for the predictions."""
        try:
            from fastbp import MLPClassifier
            from fastbp.datasets import load_digits

            pixels, self.labels = load_digits()
        except ImportError as error:
            raise NotImplementedError(f"needs scikit-learn: {error}") from error
        self.X = pixels / 16.0
        self.model_class = MLPClassifier
        self.fitted = self.quiet_fit(MLPClassifier(max_iter=5, random_state=0))
        self.row = self.X[:1].copy()
        from sklearn.datasets import load_iris

        iris, self.iris_labels = load_iris(return_X_y=True)
        self.iris = (iris - iris.mean(axis=0)) / iris.std(axis=0)

    def quiet_fit(self, model, X=None, y=None):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(self.X if X is None else X, self.labels if y is None else y)

    def time_fit_sklearn_defaults(self) -> None:
        """``MLPClassifier(random_state=0).fit``: 100 relu units, adam, batch 200, up to 200 epochs, float64."""
        self.quiet_fit(self.model_class(random_state=0))

    def time_fit_iris_sized(self) -> None:
        """An iris-sized fit: 150 samples, 4 features, 32 relu units, adam, 300 epochs, float64."""
        self.quiet_fit(self.model_class(hidden_layer_sizes=(32,), max_iter=300, tol=0, random_state=0),
                       self.iris, self.iris_labels)  # fmt: skip

    def time_predict_one_row(self) -> None:
        self.fitted.predict(self.row)

    def time_predict_proba_digits(self) -> None:
        self.fitted.predict_proba(self.X)


class SparseText:
    """The ``text`` workload's sparse inputs (20000 x 50000 CSR, 0.1% nonzero, 20 classes, 100 hidden units).

    One epoch through ``Network.fit`` per compiled backend and dtype, and one
    epoch of ``MLPClassifier`` (scikit-learn's defaults but ``max_iter=1``:
    adam, relu, batch 200) on the same matrix, with the peak memory of each;
    the dense matrix (4 GB in float32) is never built.  asv skips it where
    scipy is missing, and for commits older than sparse inputs.
    """

    params = (compiled_backends(), DTYPES)
    param_names = ["backend", "dtype"]
    number = 1
    repeat = (1, 3, 60.0)
    timeout = 600.0

    def setup(self, backend: str, dtype: str) -> None:
        """The matrix and a network; one epoch first, so that the kernels are compiled."""
        reason = unavailable(backend)
        if reason is not None:
            raise NotImplementedError(reason)
        if backend == "cuda":
            raise NotImplementedError("the cuda backend takes dense inputs only")
        try:
            self.workload = WORKLOADS["text"]
            self.X, self.Y = self.workload.data(dtype)
        except (ImportError, KeyError) as error:
            raise NotImplementedError(f"needs scipy and a fastbp with sparse inputs: {error}") from error
        self.network, self.backend = self.workload.network(dtype), backend
        self.labels = self.Y.argmax(axis=1)
        self.train()

    def train(self) -> None:
        """One epoch through ``Network.fit``."""
        self.workload.train_unit(self.network, self.X, self.Y, self.backend)

    def fit_estimator(self) -> None:
        """One epoch of ``MLPClassifier`` with scikit-learn's defaults, its warning silenced."""
        import warnings

        from fastbp import MLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(max_iter=1, random_state=0, backend=self.backend).fit(self.X, self.labels)

    def time_epoch(self, backend: str, dtype: str) -> None:
        self.train()

    def peakmem_epoch(self, backend: str, dtype: str) -> None:
        self.train()

    def time_estimator_epoch(self, backend: str, dtype: str) -> None:
        self.fit_estimator()

    def peakmem_estimator_epoch(self, backend: str, dtype: str) -> None:
        self.fit_estimator()
