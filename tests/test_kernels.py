"""Each compiled kernel against the NumPy oracle, for every activation and cost, both dtypes."""

import numba
import numpy as np
import pytest
from conftest import HIDDEN, OUTPUT_COSTS, TOLERANCE, random_problem

from fastbp import functional
from fastbp.backends.cpu import loops
from fastbp.backends.cpu.tuning import GRADIENT_ROWS, few_inputs
from fastbp.numerics.layout import borrowed

SEEDS = range(4)


def assert_layers_close(actual, expected, dtype):
    for l, (a, e) in enumerate(zip(actual, expected)):
        if e is None:
            assert a is None
            continue
        assert a.dtype == np.dtype(dtype), f"layer {l} came back as {a.dtype}"
        np.testing.assert_allclose(a, e, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * max(1.0, np.abs(e).max()))


@pytest.mark.with_reference
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("seed", SEEDS)
def test_each_step_matches_oracle(backend, hidden, output, cost, dtype, seed):
    network, X, Y = random_problem(seed, hidden, output, cost, dtype=dtype, l2=0.3)
    a = functional.forward(network, X, backend)
    a_ref = functional.forward(network, X, "numpy")
    assert_layers_close(a, a_ref, dtype)

    d = functional.deltas(network, a_ref, Y, backend)
    d_ref = functional.deltas(network, a_ref, Y, "numpy")
    assert_layers_close(d, d_ref, dtype)

    for got, want in zip(
        functional.gradients(network, a_ref, d_ref, backend), functional.gradients(network, a_ref, d_ref, "numpy")
    ):
        assert_layers_close(got, want, dtype)

    assert functional.cost(network, X, Y, backend) == pytest.approx(
        functional.cost(network, X, Y, "numpy"), rel=TOLERANCE[dtype]
    )


@pytest.mark.with_reference
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_matches_oracle(backend, dtype):
    network, X, Y = random_problem(7, "tanh", "softmax", "categorical_cross_entropy", dtype=dtype, n_layers=3)
    a = functional.forward(network, X)
    dW, db = functional.gradients(network, a, functional.deltas(network, a, Y))
    twin = network.__class__(
        network.sizes.tolist(), "tanh", "softmax", "categorical_cross_entropy", dtype=dtype, seed=7
    )
    functional.update(network, dW, db, 0.3, backend)
    functional.update(twin, dW, db, 0.3, "numpy")
    np.testing.assert_allclose(network.theta, twin.theta, rtol=TOLERANCE[dtype])
    expected = twin.W[1]
    assert np.shares_memory(network.W[1], network.theta)
    np.testing.assert_allclose(network.W[1], expected, rtol=TOLERANCE[dtype])


@pytest.mark.with_reference
def test_float32_in_float32_out(backend):
    network, X, _ = random_problem(3, "sigmoid", "softmax", "categorical_cross_entropy", dtype="float32")
    outputs = functional.forward(network, X.astype(np.float32), backend)
    assert all(a.dtype == np.float32 for a in outputs)


def check_cost_and_gradient(backend, hidden, output, cost, dtype, seed, n_samples=None):
    """The batch step of ``backend`` against the oracle's: N C, dC/dtheta, the activations and deltas it leaves."""
    from fastbp.backends import get_backend
    from fastbp.numerics import layout

    network, X, Y = random_problem(seed, hidden, output, cost, dtype=dtype, l2=0.3, n_samples=n_samples)
    n_samples = X.shape[0]
    S = np.linspace(0.5, 1.5, n_samples).astype(dtype)
    results = []
    for name in (backend, "numpy"):
        A = layout.activation_buffer(network.sizes, n_samples, network.dtype)
        D = layout.delta_buffer(network.sizes, n_samples, network.dtype)
        layout.layer(A, network.sizes, 0, n_samples, 0)[:] = X
        grad = np.empty_like(network.theta)
        total = get_backend(name).cost_and_gradient(
            *network.kernel_arguments(), A, D, Y.astype(dtype), S, n_samples, float(S.sum()), grad, None, None
        )
        results.append((total, grad, A, D))
    (total, grad, A, D), (total_ref, grad_ref, A_ref, D_ref) = results
    assert total == pytest.approx(total_ref, rel=TOLERANCE[dtype])
    for got, want in ((grad, grad_ref), (A, A_ref), (D, D_ref)):
        np.testing.assert_allclose(
            got, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * max(1.0, np.abs(want).max())
        )


@pytest.mark.with_reference
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_cost_and_gradient_matches_oracle(backend, output, cost, dtype):
    check_cost_and_gradient(backend, "tanh", output, cost, dtype, seed=11)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", SEEDS)
def test_cost_and_gradient_of_one_sample_matches_oracle(backend, dtype, seed):
    # Online learning's gradients run in one pass over the rows (loops.online_gradients), adding the
    # rows' squares for the L2 term chunk by chunk: every row must count, the last chunk's too.
    check_cost_and_gradient(backend, "relu", "identity", "mse", dtype, seed=seed, n_samples=1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "n_samples,n_inputs,n_units", [(150, 4, 64), (37, 13, 18), (9, 16, 16), (6, 3, 30), (23, 30, 33)]
)
def test_gradients_of_few_inputs_are_bitwise_those_of_the_chunks(n_samples, n_inputs, n_units, dtype):
    # A whole layer of few inputs sums its gradients with the units innermost (loops.gradients_by_inputs);
    # the threads' chunks of four rows keep the inputs innermost (loops.chunk_gradients).  Both must add
    # the same products in the same order, or one thread and two would train different weights.
    rng = np.random.default_rng(n_inputs)
    W = rng.normal(size=(n_units, n_inputs)).astype(dtype)
    a_prev = rng.normal(size=(n_samples, n_inputs)).astype(dtype)
    delta = rng.normal(size=(n_samples, n_units)).astype(dtype)
    inv_n, decay = np.dtype(dtype).type(1 / n_samples), np.dtype(dtype).type(0.3 / n_samples)
    assert few_inputs(n_inputs, n_units) and not few_inputs(n_inputs, GRADIENT_ROWS)
    whole, chunks = [(np.empty_like(W), np.empty(n_units, dtype)) for _ in range(2)]
    squares = loops.layer_gradients(W, a_prev, delta, inv_n, decay, *whole, np.int64(0), np.int64(n_units))
    chunk_ranges = [(np.int64(k), np.int64(min(k + GRADIENT_ROWS, n_units))) for k in range(0, n_units, GRADIENT_ROWS)]
    chunk_squares = [loops.layer_gradients(W, a_prev, delta, inv_n, decay, *chunks, *rows) for rows in chunk_ranges]
    assert whole[0].tobytes() == chunks[0].tobytes() and whole[1].tobytes() == chunks[1].tobytes()
    assert squares == loops.chunks_total(np.array(chunk_squares))
    np.testing.assert_allclose(whole[0], delta.T @ a_prev * inv_n + decay * W, rtol=TOLERANCE[dtype] * 10)
    np.testing.assert_allclose(whole[1], delta.sum(axis=0) * inv_n, rtol=TOLERANCE[dtype] * 10)
    assert squares == pytest.approx(float(np.sum(W.astype(np.float64) ** 2)), rel=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_samples,n_inputs,n_units", [(150, 4, 64), (37, 13, 18), (6, 3, 30), (23, 30, 33)])
def test_input_sums_of_few_inputs_are_the_same_in_every_share(n_samples, n_inputs, n_units, dtype):
    # A layer of few inputs runs its blocks of samples with the units innermost (loops.input_sum_by_inputs),
    # the samples left over with the inputs innermost.  The threads share units, or samples, in ranges that
    # start at multiples of four: every share must compute each z^l_k as the whole layer does.
    rng = np.random.default_rng(n_units)
    W = rng.normal(size=(n_units, n_inputs)).astype(dtype)
    b = rng.normal(size=n_units).astype(dtype)
    a_prev = rng.normal(size=(n_samples, n_inputs)).astype(dtype)
    assert few_inputs(n_inputs, n_units)
    whole, by_units, by_samples = (np.empty((n_samples, n_units), dtype) for _ in range(3))
    loops.input_sum(W, b, a_prev, whole, np.int64(0), np.int64(n_units))
    for k in range(0, n_units, 8):
        loops.input_sum(W, b, a_prev, by_units, np.int64(k), np.int64(min(k + 8, n_units)))
    for n in range(0, n_samples, 8):
        loops.input_sum(W, b, a_prev[n : n + 8], by_samples[n : n + 8], np.int64(0), np.int64(n_units))
    assert whole.tobytes() == by_units.tobytes() == by_samples.tobytes()
    np.testing.assert_allclose(whole, a_prev @ W.T + b, rtol=TOLERANCE[dtype] * 10, atol=TOLERANCE[dtype] * 10)


@numba.njit
def written_through_borrowed_views(a, b):
    a, b = borrowed(a, b)
    b[0] = 7.0
    return np.sum(a) + np.sum(b), a.shape[0], b.strides[0]


def test_borrowed_arrays_are_views_of_the_same_memory():
    # The training loop borrows its arguments (no reference counts as it passes them to its steps):
    # the borrowed views must read and write the caller's arrays, with their shapes and strides.
    a, b = np.ones(3), np.zeros(4, np.float32)
    assert written_through_borrowed_views(a, b) == (10.0, 3, 4)
    assert b.tolist() == [7.0, 0.0, 0.0, 0.0]
