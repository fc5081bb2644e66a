"""The benchmark workloads of issue 5, shared by the asv suite and ``compare.py``.

The asv suite loads this file by its path (see ``benchmarks/workloads.py``) to
measure older commits too, so it imports only fastbp's public API and
nothing relative.

Every workload is mini-batch SGD with learning rate 0.1, no momentum, L2
weight decay 1e-4 and sigmoid hidden units, reshuffling the samples before
each epoch.  ``text`` is the sparse one: its inputs are a scipy CSR matrix
(issue 17).  The synthetic data sets are drawn from a fixed seed, so every
peer and every run trains on the same numbers.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fastbp import Network
from fastbp.backends import BACKENDS
from fastbp.datasets import load_digits, one_hot

LEARNING_RATE = 0.1
L2 = 1e-4
DATA_SEED = 20240505
NETWORK_SEED = 0


def digits_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits shipped with fastbp, pixels scaled to [0, 1], one-hot targets."""
    pixels, labels = load_digits()
    return pixels / 16.0, one_hot(labels, 10)


def teacher_classes(rng: np.random.Generator, n_samples: int, n_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs labelled by a random linear teacher (argmax over 10 classes), one-hot."""
    X = rng.normal(size=(n_samples, n_inputs))
    labels = np.argmax(X @ rng.normal(size=(n_inputs, 10)), axis=1)
    return X, one_hot(labels, 10)


def regression_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """2000 Gaussian inputs in 16 dimensions, target ``sin(x . v)`` plus a little noise."""
    X = rng.normal(size=(2000, 16))
    y = np.sin(X @ rng.normal(size=16) / 4.0) + 0.05 * rng.normal(size=2000)
    return X, y[:, None]


def text_data(rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """A TF-IDF-like sparse matrix: 20000 documents of 50 terms each from a vocabulary of 50000, 20 topics.

    Each document has a topic (its class) and draws each of its terms from
    the topic's own 2500 terms with probability 1/4, else from the whole
    vocabulary; term weights are uniform in (0, 1], each row scaled to unit
    length, as TF-IDF rows are.  0.1% of the entries are nonzero (a few
    fewer where a document draws a term twice: those are summed).  CSR,
    float64, one-hot targets (scipy is imported here: only this workload needs it).
    """
    import scipy.sparse

    n_samples, n_terms, n_classes, per_document = 20000, 50000, 20, 50
    topics = rng.integers(0, n_classes, n_samples)
    own = rng.random((n_samples, per_document)) < 0.25
    topic_terms = topics[:, None] * (n_terms // n_classes) + rng.integers(0, n_terms // n_classes, own.shape)
    terms = np.where(own, topic_terms, rng.integers(0, n_terms, own.shape))
    weights = 1.0 - rng.random(own.shape)
    rows = np.repeat(np.arange(n_samples), per_document)
    X = scipy.sparse.csr_matrix((weights.ravel(), (rows, terms.ravel())), shape=(n_samples, n_terms))
    X.sum_duplicates()
    lengths = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return scipy.sparse.csr_matrix(scipy.sparse.diags(1 / lengths) @ X), one_hot(topics, n_classes)


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a scipy sparse matrix (the text workload's inputs)."""
    return hasattr(X, "tocsr")


def xor_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The four XOR samples."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    return X, np.array([[0], [1], [1], [0]], dtype=np.float64)


@dataclass(frozen=True)
class Workload:
    """One network, one data set, one batch size.

    ``epochs`` is the measurement unit: the number of epochs one timed call
    trains (1, except for xor, whose unit is 10000 epochs).
    """

    name: str
    sizes: tuple[int, ...]
    output_activation: str
    cost: str
    batch_size: int
    epochs: int
    make_data: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]

    def data(self, dtype: npt.DTypeLike) -> tuple[Any, np.ndarray]:
        """``(X, Y)`` in ``dtype``, C-contiguous (X a CSR matrix for sparse workloads), the same on every call."""
        X, Y = self.make_data(np.random.default_rng(DATA_SEED))
        X = X.astype(dtype) if is_sparse(X) else np.ascontiguousarray(X, dtype=dtype)
        return X, np.ascontiguousarray(Y, dtype=dtype)

    def network(self, dtype: npt.DTypeLike) -> Network:
        """A fresh fastbp network for this workload, always with the same initial weights."""
        return Network(self.sizes, "sigmoid", self.output_activation, self.cost, l2=L2, dtype=dtype, seed=NETWORK_SEED)

    def train_unit(self, network: Network, X: np.ndarray, Y: np.ndarray, backend: str) -> None:
        """Train ``network`` for one measurement unit with ``backend``, through ``Network.fit``."""
        network.fit(X, Y, epochs=self.epochs, learning_rate=LEARNING_RATE, batch_size=self.batch_size, backend=backend)


WORKLOADS = {
    workload.name: workload
    for workload in (
        Workload("digits", (64, 32, 10), "softmax", "categorical_cross_entropy", 32, 1, digits_data),
        Workload(
            "mnistlike",
            (784, 128, 64, 10),
            "softmax",
            "categorical_cross_entropy",
            64,
            1,
            lambda rng: teacher_classes(rng, 10000, 784),
        ),
        Workload(
            "wide",
            (1024, 1024, 1024, 10),
            "softmax",
            "categorical_cross_entropy",
            256,
            1,
            lambda rng: teacher_classes(rng, 8192, 1024),
        ),
        Workload("online", (16, 32, 1), "identity", "mse", 1, 1, regression_data),
        Workload("xor", (2, 4, 1), "sigmoid", "binary_cross_entropy", 4, 10000, xor_data),
        Workload("text", (50000, 100, 20), "softmax", "categorical_cross_entropy", 200, 1, text_data),
    )
}


def compiled_backends() -> list[str]:
    """Every registered fastbp backend built for speed: not the NumPy oracle nor the reference loops."""
    return [name for name in BACKENDS if name not in ("numpy", "reference")]


def unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot be measured on this machine, or None if it can.

    A CUDA backend needs a real GPU: timings under Numba's CUDA simulator
    would mean nothing.
    """
    if backend != "cuda":
        return None
    import numba.cuda

    if numba.config.ENABLE_CUDASIM or not numba.cuda.is_available():
        return "no CUDA GPU"
    return None
