"""Sparse inputs: scipy's CSR (and other formats) trained and predicted without densifying, on every CPU backend.

The same network trained on a sparse matrix and on its dense twin must agree
(the oracle to the tolerance of each dtype; the compiled backends the same),
serial and parallel bitwise, the gradients with finite differences, the
estimators with scikit-learn step for step; bad sparse input gets a clear error.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

sparse = pytest.importorskip("scipy.sparse")

from conftest import OUTPUT_COSTS, TOLERANCE, random_targets  # noqa: E402

from fastbp import MLPClassifier, MLPRegressor, Network  # noqa: E402
from fastbp.backends import thread_count  # noqa: E402
from fastbp.engine import functional  # noqa: E402
from fastbp.engine.gradcheck import check_gradients  # noqa: E402
from fastbp.engine.validation import check_backend_reads, check_sparse  # noqa: E402
from fastbp.numerics.sparse import CSRRows, batch_capacity  # noqa: E402

CPU_BACKENDS = ["numpy", "serial", "parallel", "auto"]


def sparse_problem(seed, n_samples=40, n_inputs=30, density=0.15, output="softmax", cost="categorical_cross_entropy"):
    """A CSR matrix with empty rows among its rows, targets for ``output``, and the sizes of a 2-hidden-layer net."""
    rng = np.random.default_rng(seed)
    X = sparse.random(n_samples, n_inputs, density=density, random_state=seed, format="csr")
    X = sparse.csr_matrix(X.multiply(rng.normal(size=(1, n_inputs))))
    X[3] = 0  # an empty row
    X.eliminate_zeros()
    Y = random_targets(rng, n_samples, 3, output, cost)
    return X, Y, [n_inputs, 7, 5, 3]


def trained(X, Y, sizes, backend, dtype, hidden="tanh", output="softmax", cost="categorical_cross_entropy", l2=0.01):
    network = Network(sizes, hidden, output, cost, l2=l2, dtype=dtype, seed=3)
    network.fit(X, Y, epochs=3, batch_size=8, learning_rate=0.05, backend=backend)
    return network


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_fit_on_sparse_inputs_is_the_fit_on_their_dense_twin(backend, dtype):
    X, Y, sizes = sparse_problem(0)
    oracle = trained(X.toarray(), Y, sizes, "numpy", dtype)
    network = trained(X, Y, sizes, backend, dtype)
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(network.theta, oracle.theta, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(network.loss_curve, oracle.loss_curve, rtol=rtol)
    np.testing.assert_allclose(network.predict(X, backend=backend), oracle.predict(X.toarray()), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("output, cost", OUTPUT_COSTS)
@pytest.mark.parametrize("hidden", ["sigmoid", "relu"])
def test_every_activation_and_cost_agrees_with_the_oracle_on_sparse_inputs(hidden, output, cost, backend):
    X, Y, sizes = sparse_problem(1, output=output, cost=cost)
    oracle = trained(X.toarray(), Y, sizes, "numpy", "float64", hidden, output, cost)
    network = trained(X, Y, sizes, backend, "float64", hidden, output, cost)
    np.testing.assert_allclose(network.theta, oracle.theta, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_serial_and_parallel_are_bitwise_equal_on_sparse_inputs_with_the_threads_at_work(dtype):
    # Enough nonzeros and units for layer 1 to go to the threads (tuning.worth_csr_threads).
    X, Y, _ = sparse_problem(2, n_samples=96, n_inputs=3000, density=0.02)
    sizes = [3000, 96, 3]
    if thread_count("parallel", sizes, 32) < 2:
        pytest.skip("one thread only")
    networks = [Network(sizes, "relu", "softmax", "categorical_cross_entropy", l2=0.1, dtype=dtype, seed=0)
                for _ in range(2)]  # fmt: skip
    for network, backend in zip(networks, ["serial", "parallel"]):
        network.fit(X, Y, epochs=2, batch_size=32, backend=backend)
    assert np.array_equal(networks[0].theta, networks[1].theta)
    assert networks[0].loss_curve == networks[1].loss_curve
    assert np.array_equal(networks[0].predict(X, backend="serial"), networks[1].predict(X, backend="parallel"))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_backpropagation_on_sparse_inputs_agrees_with_finite_differences(backend):
    X, Y, sizes = sparse_problem(4, n_samples=6, n_inputs=9, density=0.3)
    network = Network(sizes, "tanh", "softmax", "categorical_cross_entropy", l2=0.3, seed=1)
    result = check_gradients(network, X, Y, backend=backend)
    assert result.relative_error < 1e-7


def test_the_functional_steps_take_sparse_inputs_and_give_the_dense_results(backend):
    X, Y, sizes = sparse_problem(5)
    network = Network(sizes, "sigmoid", "softmax", "categorical_cross_entropy", l2=0.2, seed=0)
    a_sparse = functional.forward(network, X, backend)
    a_dense = functional.forward(network, X.toarray(), backend)
    assert a_sparse[0] is X
    for got, want in zip(a_sparse[1:], a_dense[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    d = functional.deltas(network, a_sparse, Y, backend)
    for got, want in zip(
        functional.gradients(network, a_sparse, d, backend), functional.gradients(network, a_dense, d)
    ):
        for g, w in zip(got[1:], want[1:]):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-14)
    assert functional.cost(network, X, Y, backend) == pytest.approx(functional.cost(network, X.toarray(), Y))


@pytest.mark.parametrize("kind", ["csc_matrix", "coo_matrix", "lil_matrix", "csr_array", "coo_array", "dok_matrix"])
def test_every_scipy_format_is_read_as_csr_and_left_untouched(kind):
    X, Y, sizes = sparse_problem(6)
    given = getattr(sparse, kind)(X)
    before = given.copy()
    network = trained(given, Y, sizes, "serial", "float64")
    reference = trained(X, Y, sizes, "serial", "float64")
    assert np.array_equal(network.theta, reference.theta)
    assert type(given) is type(before) and (given != before).nnz == 0


def unsorted_with_duplicates(X):
    """The same matrix, each row's entries reversed and one entry split in two."""
    indices, data, indptr = [], [], [0]
    for n in range(X.shape[0]):
        row = X.getrow(n)
        cols, vals = list(row.indices[::-1]), list(row.data[::-1])
        if cols:
            half = vals[0] / 2
            cols, vals = cols + [cols[0]], [half, *vals[1:], half]
        indices += cols
        data += vals
        indptr.append(len(indices))
    return sparse.csr_matrix((data, indices, indptr), shape=X.shape)


def test_unsorted_and_duplicate_indices_are_put_in_order_on_a_copy():
    X, Y, sizes = sparse_problem(7)
    messy = unsorted_with_duplicates(X)
    assert not messy.has_canonical_format
    indices = messy.indices.copy()
    network = trained(messy, Y, sizes, "serial", "float64")
    reference = trained(X, Y, sizes, "serial", "float64")
    np.testing.assert_allclose(network.theta, reference.theta, rtol=1e-12, atol=1e-15)
    assert np.array_equal(messy.indices, indices)


def test_int64_indices_an_all_zero_matrix_and_empty_rows_are_valid_inputs():
    X, Y, sizes = sparse_problem(8)
    wide = sparse.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    rows = check_sparse(wide, "X", "float64")
    assert rows.indices.dtype == np.int32 and rows.indptr.dtype == np.int32
    assert np.array_equal(
        trained(wide, Y, sizes, "serial", "float64").theta, trained(X, Y, sizes, "serial", "float64").theta
    )
    zeros = sparse.csr_matrix(X.shape)
    network = trained(zeros, Y, sizes, "parallel", "float32")
    oracle = trained(np.zeros(X.shape), Y, sizes, "numpy", "float32")
    np.testing.assert_allclose(network.theta, oracle.theta, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda X: X.multiply(np.nan).tocsr(), ValueError, "NaN or infinite stored values"),
        (lambda X: sparse.csr_matrix((np.full(X.nnz, np.inf), X.indices, X.indptr), shape=X.shape), ValueError, "NaN"),
        (lambda X: X[:, :-1], ValueError, "29 feature(s) but the network has 30"),
        (lambda X: X.astype(np.complex128), TypeError, "complex"),
        (lambda X: sparse.csr_matrix((0, 30)), ValueError, "is empty"),
    ],
)
def test_bad_sparse_input_gets_a_clear_error_and_the_network_is_kept(make, error, words):
    X, Y, sizes = sparse_problem(9)
    network = trained(X, Y, sizes, "serial", "float64")
    theta = network.theta.copy()
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        network.fit(make(X), Y[: make(X).shape[0]], epochs=1)
    with pytest.raises(error):
        network.predict(make(X))
    assert np.array_equal(network.theta, theta)


def test_boolean_and_integer_sparse_inputs_are_converted():
    X, Y, sizes = sparse_problem(10)
    ones = (X != 0).astype(bool)
    reference = trained(ones.astype(np.float64), Y, sizes, "serial", "float64")
    for kind in (bool, np.int16):
        assert np.array_equal(trained(ones.astype(kind), Y, sizes, "serial", "float64").theta, reference.theta)


def test_the_cuda_backend_refuses_sparse_inputs_and_says_what_to_do():
    X, _, _ = sparse_problem(11)
    with pytest.raises(TypeError, match=r"cuda backend takes dense inputs only.*X\.toarray\(\)"):
        check_backend_reads("cuda", check_sparse(X, "X", "float64"))
    check_backend_reads("serial", X)


def test_a_batch_has_room_for_its_longest_rows_and_no_more():
    X, _, _ = sparse_problem(12)
    rows = check_sparse(X, "X", "float64")
    lengths = np.sort(np.diff(X.indptr))
    assert batch_capacity(rows, 5) == lengths[-5:].sum()
    assert batch_capacity(rows, 10**6) == X.nnz


def test_a_fit_on_sparse_inputs_never_allocates_the_dense_matrix():
    n_samples, n_inputs = 2000, 100_000
    X = sparse.random(n_samples, n_inputs, density=0.001, random_state=0, format="csr", dtype=np.float32)
    y = np.arange(n_samples) % 4
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, batch_size=50, random_state=0).fit(X[:50], y[:50])
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, batch_size=50, random_state=0).fit(X, y)
        model.predict_proba(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dense = n_samples * n_inputs * 4
    parameters = 8 * n_inputs * 4
    # the parameters, the optimiser's moments, gradients and copies: a few dozen parameter-sized arrays at most
    assert peak < 40 * parameters + 20 * X.nnz * 8 < dense / 4


@pytest.mark.parametrize(
    "solver, early_stopping",
    [("adam", False), ("sgd", False), ("adam", True), ("sgd", True), ("lbfgs", False)],
)
def test_the_classifier_follows_scikit_learn_step_for_step_on_sparse_inputs(solver, early_stopping):
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    X, _, _ = sparse_problem(13, n_samples=120, n_inputs=80, density=0.05)
    y = np.random.default_rng(0).integers(0, 3, X.shape[0])
    options = dict(hidden_layer_sizes=(12,), solver=solver, early_stopping=early_stopping, max_iter=15,
                   random_state=0, alpha=0.01, learning_rate_init=0.01)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MLPClassifier(**options).fit(X, y)
        theirs = SklearnMLPClassifier(**options).fit(X, y)
    tolerance = 1e-8 if solver == "lbfgs" else 1e-10
    for got, want in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=tolerance)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(ours.predict_log_proba(X.tocsc()), theirs.predict_log_proba(X), rtol=1e-8)
    assert ours.score(X, y) == theirs.score(X, y)


def test_the_regressor_and_partial_fit_take_sparse_inputs():
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

    X, _, _ = sparse_problem(14, n_samples=90, n_inputs=50)
    y = np.asarray(X.sum(axis=1)).ravel()
    ours, theirs = (
        MLPRegressor(hidden_layer_sizes=(6,), random_state=0),
        SklearnMLPRegressor(hidden_layer_sizes=(6,), random_state=0),
    )
    for _ in range(3):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10, atol=1e-12)
    assert ours.score(X.tocoo(), y) == pytest.approx(theirs.score(X, y), rel=1e-10)


def test_sparse_rows_present_their_shape_and_dtype_to_python():
    rows = check_sparse(sparse.csr_matrix(np.eye(3, 5)), "X", "float32")
    assert isinstance(rows, CSRRows) and rows.shape == (3, 5) and rows.dtype == np.float32


@pytest.mark.parametrize("early_stopping", [False, True])
def test_sample_weights_with_sparse_inputs_follow_scikit_learn(early_stopping):
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    X, _, _ = sparse_problem(15, n_samples=150, n_inputs=60, density=0.1)
    rng = np.random.default_rng(1)
    y, weights = rng.integers(0, 3, X.shape[0]), rng.random(X.shape[0])
    options = dict(hidden_layer_sizes=(7,), random_state=0, max_iter=10, early_stopping=early_stopping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MLPClassifier(**options).fit(X, y, sample_weight=weights)
        theirs = SklearnMLPClassifier(**options).fit(X, y, sample_weight=weights)
    for got, want in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
