"""One activation per hidden layer: the API, the initial weights, the kernels and the gradients of mixed networks."""

import numpy as np
import pytest
from conftest import TOLERANCE

from fastbp import Network, check_gradients, functional
from fastbp.engine.initialization import glorot_uniform

MIXED = ("relu", "tanh", "sigmoid", "identity")
# (output activation, cost) pairs of the mixed networks below
OUTPUTS = [("softmax", "categorical_cross_entropy"), ("identity", "mse"), ("sigmoid", "binary_cross_entropy")]
ALL_BACKENDS = ["serial", "parallel", "reference", "numpy"]


def mixed_problem(seed, hidden=MIXED, output="softmax", cost="categorical_cross_entropy", dtype="float64", l2=0.3):
    """A network whose hidden layers have the activations ``hidden``, of random widths, and a batch for it."""
    rng = np.random.default_rng(seed)
    sizes = [int(size) for size in rng.integers(2, 8, len(hidden) + 2)]
    network = Network(sizes, list(hidden), output, cost, l2=l2, dtype=dtype, seed=seed)
    X = rng.normal(size=(9, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 9)] if output == "softmax" else rng.uniform(0, 1, (9, sizes[-1]))
    return network, X, Y


def float64_twin(network):
    """The same network (same parameters) in float64."""
    twin = Network(
        network.sizes.tolist(), network.hidden_activation, network.output_activation, network.cost, l2=network.l2
    )
    twin.theta[:] = network.theta
    return twin


# ---- the Network API -----------------------------------------------------------------


def test_each_hidden_layer_gets_its_own_code():
    network = Network([3, 4, 5, 6, 7, 2], list(MIXED), "softmax", "categorical_cross_entropy")
    assert network.hidden_activations == MIXED
    assert network.hidden_activation == MIXED
    assert network.output_activation == "softmax"
    assert "hidden=relu,tanh,sigmoid,identity," in repr(network)
    again = Network(network.sizes, network.hidden_activation, "softmax", "categorical_cross_entropy")
    np.testing.assert_array_equal(again.codes, network.codes)


@pytest.mark.parametrize("names", [["relu", "relu"], ("tanh", "tanh"), np.array(["logistic", "logistic"])])
def test_one_name_repeated_is_that_name(names):
    network = Network([3, 4, 5, 2], names, seed=0)
    one = Network([3, 4, 5, 2], str(names[0]), seed=0)
    assert network.hidden_activation == one.hidden_activation and isinstance(network.hidden_activation, str)
    assert network.hidden_activations == (one.hidden_activation,) * 2
    np.testing.assert_array_equal(network.codes, one.codes)
    assert network.theta.tobytes() == one.theta.tobytes()
    assert repr(network) == repr(one)


def test_a_network_without_hidden_layers_takes_an_empty_sequence():
    network = Network([3, 2], [], seed=0)
    assert network.hidden_activations == ()
    assert network.hidden_activation == "sigmoid"
    assert network.theta.tobytes() == Network([3, 2], "relu", seed=0).theta.tobytes()


@pytest.mark.parametrize(
    "sizes, hidden, error, message",
    [
        ([3, 4, 5, 2], ["relu"], ValueError, r"has 1 name\(s\) but the network has 2 hidden layer\(s\)"),
        ([3, 4, 5, 2], ["relu", "tanh", "relu"], ValueError, r"has 3 name\(s\) but the network has 2 hidden"),
        ([3, 4, 5, 2], [], ValueError, r"has 0 name\(s\) but the network has 2 hidden"),
        ([3, 2], ["relu"], ValueError, r"has 1 name\(s\) but the network has 0 hidden"),
        ([3, 4, 5, 2], ["relu", "swish"], ValueError, "unknown hidden layer 2 activation 'swish'"),
        ([3, 4, 5, 2], ["softmax", "relu"], ValueError, "unknown hidden layer 1 activation 'softmax'"),
        ([3, 4, 5, 2], ["relu", 3], TypeError, "hidden layer 2 activation must be a string, got 3"),
        ([3, 4, 5, 2], {"relu", "tanh"}, TypeError, "one activation name, or a sequence of names"),
        ([3, 4, 5, 2], 3, TypeError, "one activation name, or a sequence of names"),
        ([3, 4, 5, 2], None, TypeError, "one activation name, or a sequence of names"),
        ([3, 4, 5, 2], b"relu", TypeError, "one activation name, or a sequence of names"),
    ],
)
def test_bad_hidden_activations_are_refused(sizes, hidden, error, message):
    with pytest.raises(error, match=message):
        Network(sizes, hidden)


# ---- the initial weights ------------------------------------------------------------


def bounds(sizes, sigmoid_hidden):
    """The bound r_l that glorot_uniform draws each layer's weights and biases within, per layer."""
    theta = glorot_uniform(sizes, sigmoid_hidden, lambda bound, shape: np.full(shape, bound))
    probe = Network(sizes)
    probe.theta[:] = theta
    assert all(np.all(probe.W[l] == probe.b[l][0]) for l in range(1, len(sizes)))
    return [float(probe.b[l][0]) for l in range(1, len(sizes))]


@pytest.mark.parametrize(
    "sigmoid_hidden, factors",
    [
        (True, [2, 2, 2, 2]),  # scikit-learn: activation='logistic' sets every layer's factor
        (False, [6, 6, 6, 6]),
        ([True, True, True], [2, 2, 2, 2]),
        ([False, False, False], [6, 6, 6, 6]),
        ([True, False, True], [2, 6, 2, 2]),  # the output layer takes the last hidden layer's factor
        ([False, True, False], [6, 2, 6, 6]),
    ],
)
def test_each_layer_draws_with_the_factor_of_its_activation(sigmoid_hidden, factors):
    sizes = [3, 4, 5, 6, 2]
    expected = [np.sqrt(f / (sizes[l - 1] + sizes[l])) for l, f in enumerate(factors, 1)]
    np.testing.assert_array_equal(bounds(sizes, sigmoid_hidden), expected)


def test_without_hidden_layers_the_one_flag_decides_and_no_flags_mean_six():
    assert bounds([3, 2], True) == [np.sqrt(2 / 5)]
    assert bounds([3, 2], []) == bounds([3, 2], False) == [np.sqrt(6 / 5)]


def test_the_network_draws_each_layer_with_its_own_factor():
    sizes = [40, 50, 60, 30]
    network = Network(sizes, ["sigmoid", "relu"], seed=0)
    for l, factor in ((1, 2), (2, 6), (3, 6)):
        bound = np.sqrt(factor / (sizes[l - 1] + sizes[l]))
        assert 0.98 * bound < np.abs(network.W[l]).max() <= bound
    flipped = Network(sizes, ["relu", "sigmoid"], seed=0)
    for l, factor in ((1, 6), (2, 2), (3, 2)):
        bound = np.sqrt(factor / (sizes[l - 1] + sizes[l]))
        assert 0.98 * bound < np.abs(flipped.W[l]).max() <= bound


# ---- the gradients and the kernels of mixed networks ------------------------------------


@pytest.mark.parametrize("output,cost", OUTPUTS)
@pytest.mark.parametrize("hidden", [MIXED, MIXED[::-1], ("sigmoid", "relu", "tanh")])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_backprop_of_mixed_networks_matches_finite_differences(backend, hidden, output, cost):
    network, X, Y = mixed_problem(1, hidden, output, cost)
    result = check_gradients(network, X, Y, backend=backend)
    assert result.relative_error < 1e-6, result
    assert result.max_abs_error < 1e-6, result


@pytest.mark.parametrize("output,cost", OUTPUTS)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_float32_backprop_of_mixed_networks_matches_finite_differences(backend, output, cost):
    # In float32 the differences drown in rounding (see check_gradients): they are taken of the
    # float64 network with the same parameters, the function the float32 one computes in rounding.
    network, X, Y = mixed_problem(2, MIXED, output, cost, dtype="float32")
    a = functional.forward(network, X, backend)
    analytical = functional.gradient_vector(network, a, functional.deltas(network, a, Y, backend), backend)
    assert analytical.dtype == np.float32
    numerical = check_gradients(float64_twin(network), X, Y).numerical
    error = np.linalg.norm(analytical - numerical) / (np.linalg.norm(analytical) + np.linalg.norm(numerical))
    assert error < 1e-5


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", OUTPUTS)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("backend", ["serial", "parallel", "reference"])
def test_each_step_of_mixed_networks_matches_the_oracle(backend, seed, output, cost, dtype):
    hidden = [MIXED[(seed + i) % 4] for i in range(4)]
    network, X, Y = mixed_problem(seed, hidden, output, cost, dtype=dtype)
    tolerance = dict(rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    a, a_ref = functional.forward(network, X, backend), functional.forward(network, X, "numpy")
    d, d_ref = functional.deltas(network, a_ref, Y, backend), functional.deltas(network, a_ref, Y, "numpy")
    for got, want in zip(a[1:] + d[1:], a_ref[1:] + d_ref[1:]):
        np.testing.assert_allclose(got, want, **tolerance)
    np.testing.assert_allclose(
        functional.gradient_vector(network, a_ref, d_ref, backend),
        functional.gradient_vector(network, a_ref, d_ref, "numpy"),
        **tolerance,
    )
    np.testing.assert_allclose(network.predict(X, backend), a_ref[-1], **tolerance)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["serial", "parallel", "reference"])
def test_training_a_mixed_network_matches_the_oracle(backend, dtype):
    network, X, Y = mixed_problem(4, dtype=dtype, l2=1e-2)
    options = dict(epochs=3, learning_rate=0.2, batch_size=4)
    trained = network.copy().fit(X, Y, backend=backend, **options)
    oracle = network.copy().fit(X, Y, backend="numpy", **options)
    np.testing.assert_allclose(trained.theta, oracle.theta, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(trained.loss_curve, oracle.loss_curve, rtol=TOLERANCE[dtype])


def test_the_gradient_of_a_mixed_network_is_pytorchs():
    torch = pytest.importorskip("torch")
    network, X, Y = mixed_problem(5, MIXED, "softmax", "categorical_cross_entropy", l2=0.3)
    W = [torch.tensor(W, requires_grad=True) for W in network.W[1:]]
    b = [torch.tensor(b, requires_grad=True) for b in network.b[1:]]
    sigma = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z}
    a = torch.tensor(X)
    for l in range(network.L - 1):
        a = sigma[MIXED[l]](a @ W[l].T + b[l])
    logits = a @ W[-1].T + b[-1]
    n_samples = X.shape[0]
    data = torch.nn.functional.cross_entropy(logits, torch.tensor(Y.argmax(axis=1)), reduction="sum")
    cost = (data + 0.5 * network.l2 * sum((weights**2).sum() for weights in W)) / n_samples
    cost.backward()
    assert cost.item() == pytest.approx(functional.cost(network, X, Y), rel=1e-12)
    a = functional.forward(network, X)
    dW, db = functional.gradients(network, a, functional.deltas(network, a, Y))
    for l in range(1, network.L + 1):
        np.testing.assert_allclose(dW[l], W[l - 1].grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db[l], b[l - 1].grad.numpy(), rtol=1e-10, atol=1e-14)
