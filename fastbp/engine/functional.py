"""Each step of backpropagation as a function, for readers and for tests.

These functions run one step of the derivation on a :class:`~fastbp.Network`
and return plain arrays indexed as in docs/notation.md (``activations[l]`` is
``a^l``, ``deltas[l]`` is ``delta^l``, ``dW[l]`` is ``dC/dW^l``; index 0 of
``deltas``, ``dW`` and ``db`` is None).  Chained, they compute exactly what
one training step computes::

    a = forward(net, X)                  # a^0 .. a^L
    d = deltas(net, a, Y)                # delta^1 .. delta^L
    dW, db = gradients(net, a, d)        # dC/dW^l, dC/db^l
    update(net, dW, db, learning_rate)   # W <- W - alpha dC/dW

Each accepts ``backend=`` to run the same step on another backend.
"""

from contextlib import contextmanager

import numpy as np

from fastbp.backends import get_backend, kernel_plan, numba_threads
from fastbp.engine.compiling import NOTICE
from fastbp.engine.network import Network
from fastbp.engine.validation import (
    check_array,
    check_backend_reads,
    check_buffers_fit,
    check_inputs,
    check_layer_list,
    check_network,
    check_non_negative_float,
    check_sparse,
    check_targets,
    is_sparse,
)
from fastbp.numerics import layout
from fastbp.numerics.optim import SGD, hyperparameters
from fastbp.numerics.sparse import SparseActivations, activations_layer, activations_of


@contextmanager
def backend_threads(backend: str, network: Network, n_samples: int):
    """The kernels' ``(n_threads, tiles)`` of ``backend`` for this batch, with Numba's thread count set meanwhile."""
    with NOTICE.index_loops():
        plan = kernel_plan(backend, network.sizes, n_samples, network.dtype)
    with numba_threads(plan[0]):
        yield plan


def samples_in(arrays, sizes, first_layer: int, name: str) -> int:
    """N, the rows of per-layer arrays laid out as :func:`forward` and :func:`deltas` return them."""
    check_layer_list(arrays, sizes, name)
    shape = np.shape(arrays[first_layer])
    if len(shape) != 2:
        raise ValueError(f"{name}[{first_layer}] must be a 2-dimensional array, got shape {shape}")
    return shape[0]


def pack_activations(arrays, sizes, n_samples: int, dtype):
    """``A`` from per-layer arrays: :func:`pack`, or a :class:`SparseActivations` where ``a^0`` is scipy sparse."""
    if not is_sparse(arrays[0]):
        return pack(arrays, sizes, n_samples, 0, "activations", dtype)
    inputs = check_sparse(arrays[0], "activations[0]", dtype)
    if inputs.shape != (n_samples, sizes[0]):
        raise ValueError(f"activations[0] must have shape {(n_samples, int(sizes[0]))}, got {inputs.shape}")
    return SparseActivations(pack(arrays, sizes, n_samples, 1, "activations", dtype), inputs)


def pack(arrays, sizes, n_samples: int, first_layer: int, name: str, dtype) -> np.ndarray:
    """Lay per-layer ``(N, n_l)`` arrays out in one flat buffer, as the kernels read them."""
    samples_in(arrays, sizes, first_layer, name)
    parts = []
    for l in range(first_layer, len(sizes)):
        values = check_array(arrays[l], f"{name}[{l}]", dtype)
        if values.shape != (n_samples, sizes[l]):
            raise ValueError(f"{name}[{l}] must have shape {(n_samples, int(sizes[l]))}, got {values.shape}")
        parts.append(values.ravel())
    return np.concatenate(parts)


def unpack(buffer, sizes, n_samples: int, first_layer: int) -> list:
    """Copies of the per-layer blocks of a flat buffer; None below ``first_layer``."""
    return [None] * first_layer + [
        layout.layer(buffer, sizes, l, n_samples, first_layer).copy() for l in range(first_layer, len(sizes))
    ]


def forward(network: Network, X, backend: str = "serial") -> list:
    """The forward pass: ``[a^0, a^1, ..., a^L]``, each of shape ``(N, n_l)``.

    A scipy sparse ``X`` is read as CSR rows, never densified, and returned
    itself as ``a^0``.
    """
    check_network(network)
    given = X
    X = check_inputs(X, network.sizes[0], network.dtype)
    check_backend_reads(backend, X)
    check_buffers_fit(network.sizes, X.shape[0], network.dtype, "the forward pass", deltas=False)
    A = activations_of(X, network.sizes, network.dtype)
    with backend_threads(backend, network, X.shape[0]) as plan:
        get_backend(backend).forward(network.theta, network.sizes, network.codes, A, X.shape[0], *plan)
    if isinstance(A, SparseActivations):
        return [given, *unpack(A.hidden, network.sizes, X.shape[0], 1)[1:]]
    return unpack(A, network.sizes, X.shape[0], 0)


def deltas(network: Network, activations, Y, backend: str = "serial") -> list:
    """The output delta and the delta recursion: ``[None, delta^1, ..., delta^L]``."""
    n_samples = samples_in(activations, check_network(network).sizes, 0, "activations")
    A = pack_activations(activations, network.sizes, n_samples, network.dtype)
    Y = check_targets(Y, n_samples, network.sizes[-1], network.dtype)
    D = layout.delta_buffer(network.sizes, n_samples, network.dtype)
    kernels = get_backend(backend)
    L = network.L
    kernels.output_delta(
        network.cost_argument,
        network.codes[L],
        activations_layer(A, network.sizes, L, n_samples),
        Y,
        np.ones(n_samples, dtype=network.dtype),
        layout.layer(D, network.sizes, L, n_samples, 1),
    )
    with backend_threads(backend, network, n_samples) as plan:
        kernels.backprop_deltas(network.theta, network.sizes, network.codes, A, D, n_samples, *plan)
    return unpack(D, network.sizes, n_samples, 1)


def gradient_vector(network: Network, activations, deltas_, backend: str = "serial") -> np.ndarray:
    """dC/dtheta, laid out as ``network.theta``."""
    n_samples = samples_in(activations, check_network(network).sizes, 0, "activations")
    check_backend_reads(backend, activations[0])
    A = pack_activations(activations, network.sizes, n_samples, network.dtype)
    D = pack(deltas_, network.sizes, n_samples, 1, "deltas", network.dtype)
    grad = np.empty_like(network.theta)
    with backend_threads(backend, network, n_samples) as plan:
        get_backend(backend).accumulate_gradients(
            network.theta, network.sizes, A, D, n_samples, float(n_samples), network.l2, grad, *plan
        )
    return grad


def gradients(network: Network, activations, deltas_, backend: str = "serial") -> tuple:
    """``(dW, db)``: ``dW[l]`` = dC/dW^l of shape ``(n_l, n_{l-1})``, ``db[l]`` = dC/db^l."""
    grad = gradient_vector(network, activations, deltas_, backend)
    layers = range(1, network.L + 1)
    dW = [None] + [layout.weights(grad, network.sizes, l) for l in layers]
    db = [None] + [layout.biases(grad, network.sizes, l) for l in layers]
    return dW, db


def cost(network: Network, X, Y, backend: str = "serial") -> float:
    """C = (1/N) sum_n C_n + (lambda / 2N) sum_l sum_kj (W^l_kj)^2 over the batch (X, Y)."""
    a = forward(network, X, backend)
    Y = check_targets(Y, a[0].shape[0], network.sizes[-1], network.dtype)
    kernels = get_backend(backend)
    total = kernels.data_cost(network.cost_argument, a[-1], Y, np.ones(Y.shape[0], dtype=network.dtype))
    total += 0.5 * network.l2 * kernels.squared_weights(network.theta, network.sizes)
    return float(total / a[0].shape[0])


def update(network: Network, dW, db, learning_rate: float, backend: str = "serial") -> None:
    """Gradient descent: ``W^l <- W^l - alpha dC/dW^l`` and ``b^l <- b^l - alpha dC/db^l``."""
    check_layer_list(dW, check_network(network).sizes, "dW")
    check_layer_list(db, network.sizes, "db")
    learning_rate = check_non_negative_float(learning_rate, "learning_rate", positive=True)
    grad = np.empty_like(network.theta)
    for l in range(1, network.L + 1):
        for target, values, name in (
            (layout.weights(grad, network.sizes, l), dW[l], f"dW[{l}]"),
            (layout.biases(grad, network.sizes, l), db[l], f"db[{l}]"),
        ):
            values = check_array(values, name, network.dtype, ndim=target.ndim)
            if values.shape != target.shape:
                raise ValueError(f"{name} must have shape {target.shape}, got {values.shape}")
            target[:] = values
    velocity = np.zeros_like(network.theta)
    counters = np.zeros(2, dtype=np.int64)
    get_backend(backend).apply_update(
        network.theta, grad, SGD, hyperparameters(learning_rate), velocity, velocity, counters, 1
    )
