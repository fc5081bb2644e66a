"""Bad input at the API boundary: a clear ValueError or TypeError, and nothing trained is lost."""

import numpy as np
import pytest

from fastbp import Network, check_gradients, functional

GOOD_X = np.ones((4, 3))
GOOD_Y = np.zeros((4, 2))


@pytest.fixture
def network():
    return Network([3, 5, 2], "tanh", "softmax", "categorical_cross_entropy", seed=0)


@pytest.mark.parametrize(
    "X, error, message",
    [
        (np.ones((4, 4)), ValueError, "X has 4 feature"),
        (np.ones(3), ValueError, "2-dimensional"),
        (np.ones((2, 2, 3)), ValueError, "2-dimensional"),
        (np.ones((0, 3)), ValueError, "empty"),
        (np.full((4, 3), np.nan), ValueError, "NaN or infinite"),
        (np.full((4, 3), np.inf), ValueError, "NaN or infinite"),
        (np.full((4, 3), "a"), TypeError, "must hold numbers"),
        (np.ones((4, 3), dtype=object), TypeError, "must hold numbers"),
        (np.ones((4, 3), dtype=complex), TypeError, "complex"),
    ],
)
def test_bad_inputs(network, X, error, message):
    before = network.theta.copy()
    with pytest.raises(error, match=message):
        network.fit(X, GOOD_Y, epochs=1)
    with pytest.raises(error, match=message):
        network.predict(X)
    with pytest.raises(error, match=message):
        functional.forward(network, X)
    assert np.array_equal(network.theta, before)


def test_values_that_overflow_float32_are_refused():
    network = Network([3, 2], dtype="float32", seed=0)
    with pytest.raises(ValueError, match=r"NaN or infinite values \(after conversion to float32\)"):
        network.predict(np.full((2, 3), 1e300))


@pytest.mark.parametrize(
    "Y, error, message",
    [
        (np.zeros((5, 2)), ValueError, "different numbers of samples"),
        (np.zeros((4, 3)), ValueError, "3 column"),
        (np.zeros(4), ValueError, "2-dimensional"),
        (np.full((4, 2), np.nan), ValueError, "NaN"),
        (np.full((4, 2), "x"), TypeError, "numbers"),
    ],
)
def test_bad_targets(network, Y, error, message):
    before = network.theta.copy()
    with pytest.raises(error, match=message):
        network.fit(GOOD_X, Y, epochs=1)
    with pytest.raises(error, match=message):
        check_gradients(network, GOOD_X, Y)
    assert np.array_equal(network.theta, before)


def test_integer_boolean_fortran_and_readonly_inputs_are_accepted(network):
    reference = network.predict(GOOD_X)
    fortran = np.asfortranarray(GOOD_X)
    readonly = GOOD_X.copy()
    readonly.flags.writeable = False
    strided = np.ones((8, 6))[::2, ::2]
    for X in (GOOD_X.astype(int), GOOD_X.astype(bool), fortran, readonly, strided):
        np.testing.assert_array_equal(network.predict(X), reference)
    network.fit(fortran, GOOD_Y.astype(np.int32), epochs=1)


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (dict(sizes=[3]), ValueError, "at least an input and an output"),
        (dict(sizes=[3, 0, 2]), ValueError, "at least 1"),
        (dict(sizes=[3, 2.5, 2]), TypeError, "integers"),
        (dict(sizes=3), TypeError, "sequence"),
        (dict(hidden_activation="swish"), ValueError, "unknown hidden activation 'swish'"),
        (dict(hidden_activation="softmax"), ValueError, "unknown hidden activation 'softmax'"),
        (dict(output_activation="relu"), ValueError, "unknown output activation 'relu'"),
        (dict(cost="hinge"), ValueError, "unknown cost 'hinge'"),
        (dict(output_activation="identity", cost="binary_cross_entropy"), ValueError, "needs outputs in"),
        (dict(l2=-1.0), ValueError, "l2 must be finite and >= 0"),
        (dict(l2=float("nan")), ValueError, "l2"),
        (dict(dtype="float16"), TypeError, "float32 or float64"),
        (dict(dtype="int64"), TypeError, "float32 or float64"),
        (dict(seed=-1), TypeError, "seed"),
        (dict(seed="zero"), TypeError, "seed"),
    ],
)
def test_bad_network_definitions(arguments, error, message):
    options = dict(
        sizes=[3, 4, 2], hidden_activation="sigmoid", output_activation="softmax", cost="categorical_cross_entropy"
    )
    options.update(arguments)
    with pytest.raises(error, match=message):
        Network(**options)


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(epochs=0), ValueError, "epochs must be at least 1"),
        (dict(epochs=2.0), TypeError, "epochs must be an integer"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(learning_rate=0.0), ValueError, "learning_rate must be finite and > 0"),
        (dict(learning_rate=float("inf")), ValueError, "learning_rate"),
        (dict(learning_rate="fast"), TypeError, "learning_rate"),
        (dict(backend="gpu"), ValueError, "unknown backend 'gpu'"),
    ],
)
def test_bad_training_options(network, options, error, message):
    before = network.theta.copy()
    with pytest.raises(error, match=message):
        network.fit(GOOD_X, GOOD_Y, **options)
    assert np.array_equal(network.theta, before)
    assert network.loss_curve == []


def test_functional_api_checks_layer_shapes(network):
    a = functional.forward(network, GOOD_X)
    a[1] = a[1][:, :2]
    with pytest.raises(ValueError, match=r"activations\[1\] must have shape \(4, 5\)"):
        functional.deltas(network, a, GOOD_Y)
    dW, db = functional.gradients(
        network,
        functional.forward(network, GOOD_X),
        functional.deltas(network, functional.forward(network, GOOD_X), GOOD_Y),
    )
    dW[2] = dW[2].T
    with pytest.raises(ValueError, match=r"dW\[2\] must have shape"):
        functional.update(network, dW, db, 0.1)
