"""Bad input at every public entry point: a ValueError or TypeError naming the argument and the problem.

One table: every kind of bad array x every entry point that takes it.
``python tests/test_bad_input.py`` prints each input tried and the message it got.
"""

import re
import warnings

import numpy as np
import pytest

from fastbp import MLPClassifier, MLPRegressor, Network, check_gradients, from_sklearn, functional
from fastbp.backends.cpu import serial
from fastbp.engine import validation

RNG = np.random.default_rng(0)
N = 20
X = RNG.normal(size=(N, 3))
LABELS = np.arange(N) % 3
ONE_HOT = np.eye(3)[LABELS]
VALUES = RNG.normal(size=N)


def ragged(good):
    rows = good.tolist()
    rows[1] = rows[1][:-1] if isinstance(rows[1], list) else [rows[1], rows[1]]
    return rows


def with_value(good, value):
    bad = good.astype(float if not isinstance(value, dict) else object)
    bad.flat[1] = value
    return bad


# name -> (how to spoil a good array, what the message must mention)
BAD = {
    "NaN": (lambda g: with_value(g, np.nan), r"NaN"),
    "infinity": (lambda g: with_value(g, np.inf), r"inf"),
    "one dimension too many": (lambda g: np.expand_dims(g, 0), r"dim|samples|label type"),
    "zero samples": (lambda g: g[:0], r"0 sample|empty|samples"),
    "one sample short": (lambda g: g[:-1], r"samples"),
    "strings": (lambda g: np.full(g.shape, "abc"), r"number|string|float|label"),
    "object array holding a dict": (lambda g: with_value(g, {"a": 1}), r"number|float|label|argument|sortable"),
    "complex numbers": (lambda g: g + 1j, r"[Cc]omplex"),
    "ragged nested lists": (ragged, r"rectangular|inhomogeneous|sequence"),
    "None": (lambda g: None, r"None|number|object|array"),
}
BAD_FEATURES = {**BAD, "zero features": (lambda g: g[:, :0], r"0 feature|empty")}
# (fewer samples are fine where nothing else has to match them)
BAD_PREDICT_FEATURES = {name: spoil for name, spoil in BAD_FEATURES.items() if name != "one sample short"}
BAD_LABELS = {
    name: BAD[name]
    for name in (
        "NaN",
        "infinity",
        "one dimension too many",
        "zero samples",
        "one sample short",
        "object array holding a dict",
        "complex numbers",
        "None",
    )
}
BAD_PARAMETERS = {
    **{name: BAD[name] for name in ("NaN", "infinity", "strings", "complex numbers", "ragged nested lists")},
    "one dimension too many": (lambda g: np.expand_dims(g, 0), r"1-dimensional"),
    "one value short": (lambda g: g[:-1], r"theta has 30 values but layer sizes \[3, 4, 3\] need 31"),
    "zero values": (lambda g: g[:0], r"theta has 0 values"),
}
UNSEEN_LABELS = {"labels never seen in fit": (lambda g: np.where(g == 2, 7, g), r"label\(s\) \[7\]")}


def network():
    return Network([3, 4, 3], "tanh", "softmax", "categorical_cross_entropy", seed=0)


def classifier():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier((4,), max_iter=2, random_state=0, backend="serial").fit(X, LABELS)


def regressor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0, backend="serial").fit(X, VALUES)


# entry point -> (argument name, good value, bad values, call with the bad value)
ENTRY_POINTS = {
    "Network(theta)": ("theta", network().theta, BAD_PARAMETERS, lambda bad: Network([3, 4, 3], theta=bad)),
    "Network.fit(X)": ("X", X, BAD_FEATURES, lambda bad: network().fit(bad, ONE_HOT, epochs=1)),
    "Network.fit(Y)": ("Y", ONE_HOT, BAD, lambda bad: network().fit(X, bad, epochs=1)),
    "Network.predict(X)": ("X", X, BAD_PREDICT_FEATURES, lambda bad: network().predict(bad)),
    "functional.forward(X)": ("X", X, BAD_PREDICT_FEATURES, lambda bad: functional.forward(network(), bad)),
    "functional.deltas(Y)": (
        "Y",
        ONE_HOT,
        BAD,
        lambda bad: functional.deltas(network(), functional.forward(network(), X), bad),
    ),
    "functional.cost(Y)": ("Y", ONE_HOT, BAD, lambda bad: functional.cost(network(), X, bad)),
    "check_gradients(X)": ("X", X, BAD_FEATURES, lambda bad: check_gradients(network(), bad, ONE_HOT)),
    "check_gradients(Y)": ("Y", ONE_HOT, BAD, lambda bad: check_gradients(network(), X, bad)),
    "MLPClassifier.fit(X)": ("X", X, BAD_FEATURES, lambda bad: MLPClassifier((4,), max_iter=1).fit(bad, LABELS)),
    "MLPClassifier.fit(y)": ("y", LABELS, BAD_LABELS, lambda bad: MLPClassifier((4,), max_iter=1).fit(X, bad)),
    "MLPClassifier.partial_fit(X)": ("X", X, BAD_FEATURES, lambda bad: classifier().partial_fit(bad, LABELS)),
    "MLPClassifier.partial_fit(y)": (
        "y",
        LABELS,
        {**BAD_LABELS, **UNSEEN_LABELS},
        lambda bad: classifier().partial_fit(X, bad),
    ),
    "MLPClassifier.predict(X)": ("X", X, BAD_PREDICT_FEATURES, lambda bad: classifier().predict(bad)),
    "MLPClassifier.predict_proba(X)": ("X", X, BAD_PREDICT_FEATURES, lambda bad: classifier().predict_proba(bad)),
    "MLPClassifier.score(X)": ("X", X, BAD_FEATURES, lambda bad: classifier().score(bad, LABELS)),
    "MLPClassifier.score(y)": ("y", LABELS, {**BAD_LABELS, **UNSEEN_LABELS}, lambda bad: classifier().score(X, bad)),
    "MLPRegressor.fit(X)": ("X", X, BAD_FEATURES, lambda bad: MLPRegressor(max_iter=1).fit(bad, VALUES)),
    "MLPRegressor.fit(y)": ("y", VALUES, BAD, lambda bad: MLPRegressor(max_iter=1).fit(X, bad)),
    "MLPRegressor.partial_fit(y)": ("y", VALUES, BAD, lambda bad: regressor().partial_fit(X, bad)),
    "MLPRegressor.predict(X)": ("X", X, BAD_PREDICT_FEATURES, lambda bad: regressor().predict(bad)),
    "MLPRegressor.score(y)": ("y", VALUES, BAD, lambda bad: regressor().score(X, bad)),
}
CASES = [(entry, bad) for entry, (_, _, table, _) in ENTRY_POINTS.items() for bad in table]


def message_for(entry: str, bad: str) -> tuple:
    """Call ``entry`` with the ``bad`` input: (exception type, message), or (None, '') if accepted."""
    name, good, table, call = ENTRY_POINTS[entry]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(table[bad][0](good))
    except Exception as error:  # noqa: BLE001 - the table records whatever is raised
        return type(error), str(error)
    return None, ""


@pytest.mark.parametrize("entry, bad", CASES)
def test_bad_input_gets_a_clear_error(entry, bad):
    name, _, table, _ = ENTRY_POINTS[entry]
    error, message = message_for(entry, bad)
    assert error is not None and issubclass(error, (ValueError, TypeError)), (error, message)
    assert re.search(rf"\b{name}\b", message), f"the message does not name {name}: {message}"
    assert re.search(table[bad][1], message), f"the message does not say what is wrong: {message}"
    assert "numba" not in message.lower() and "typing" not in message.lower()


def test_network_definition_and_file_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="network must be a fastbp.Network, got MLPClassifier"):
        functional.forward(MLPClassifier(), X)
    with pytest.raises(TypeError, match="network must be a fastbp.Network"):
        check_gradients("not a network", X, ONE_HOT)
    a = functional.forward(network(), X)
    with pytest.raises(TypeError, match="activations must be a list of one array per layer 0 .. 2, got ndarray"):
        functional.deltas(network(), X, ONE_HOT)
    with pytest.raises(ValueError, match=r"activations must hold one array per layer 0 .. 2, got 2"):
        functional.gradient_vector(network(), a[:2], a)
    bad = network()
    bad.theta[0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values; refusing to save"):
        bad.save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_from_sklearn_refuses_bad_models_and_options():
    from sklearn.neural_network import MLPClassifier as SklearnClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SklearnClassifier((4,), max_iter=2, random_state=0).fit(X, LABELS)
    with pytest.raises(TypeError, match="needs a scikit-learn MLPClassifier or MLPRegressor, got str"):
        from_sklearn("model")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        from_sklearn(model, backend="gpu")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        from_sklearn(model, dtype="int8")
    model.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"model.coefs_ contains NaN or infinite values"):
        from_sklearn(model)


def test_sizes_beyond_memory_are_refused_before_allocating(monkeypatch):
    with pytest.raises(ValueError, match=r"parameters of layer sizes \[3, 1000000000, 3\] would need [\d,.]+ GiB"):
        MLPClassifier(hidden_layer_sizes=(10**9,)).fit(X, LABELS)
    with pytest.raises(
        ValueError, match=r"layer sizes \[1000000, 1000000\] would need [\d,.]+ GiB \([\d,]+ bytes\), more than"
    ):
        Network([10**6, 10**6])
    with pytest.raises(ValueError, match=r"would need"):
        Network([3, 10**20, 1])
    # The work buffers: 10^6 samples x 10^6 units, whatever this machine's memory.
    wide = Network([1, 10**6, 1], seed=0)
    with pytest.raises(ValueError, match=r"training with batches of 1,000,000 samples would need [\d,.]+ GiB"):
        wide.fit(np.zeros((10**6, 1)), np.zeros((10**6, 1)), epochs=1, batch_size=10**6)
    assert wide.loss_curve == []
    # The other buffers, against a pretend machine of 1 GiB.
    monkeypatch.setattr(validation, "physical_memory", lambda: 2**30)
    rows = np.zeros((300, 1))
    with pytest.raises(
        ValueError, match=r"predicting \(300 samples through layers of 1,000,002 units\) would need 2.2 GiB"
    ):
        wide.predict(rows)
    with pytest.raises(ValueError, match=r"the forward pass \(300 samples"):
        functional.forward(wide, rows)
    with pytest.raises(ValueError, match=r"L-BFGS over the whole training set \(300 samples"):
        MLPRegressor(hidden_layer_sizes=(10**6,), solver="lbfgs").fit(rows, rows[:, 0])


def test_layouts_and_types_are_converted_without_compiling_again():
    net = network()
    net.fit(X, ONE_HOT, epochs=1)
    model = MLPClassifier((4,), max_iter=1, shuffle=False, random_state=0, backend="serial", dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, LABELS)
    compiled = (len(serial.train_epochs.signatures), len(serial.forward.signatures))
    read_only = X.copy()
    read_only.flags.writeable = False
    unaligned = np.frombuffer(b"\0" + X.tobytes(), offset=1).reshape(X.shape)
    variants = {
        "read-only": read_only,
        "Fortran order": np.asfortranarray(X),
        "non-contiguous": np.repeat(X, 2, axis=1)[:, ::2],
        "unaligned": unaligned,
        "big-endian": X.astype(">f8"),
        "float32": X.astype(np.float32),
        "int64": np.round(X).astype(np.int64),
        "bool": X > 0,
    }
    for name, values in variants.items():
        plain = np.array(values, dtype=np.float64)
        np.testing.assert_array_equal(net.predict(values), net.predict(plain), err_msg=name)
        net.fit(values, ONE_HOT.astype(np.int32), epochs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(values, LABELS)
        model.predict(values)
    assert (len(serial.train_epochs.signatures), len(serial.forward.signatures)) == compiled


def report() -> str:
    """Every bad input tried at every entry point, and the message it got."""
    lines = []
    for entry, bad in CASES:
        error, message = message_for(entry, bad)
        first_line = message.splitlines()[0] if message else ""
        lines.append(f"{entry:32s} {bad:30s} {error.__name__ if error else 'ACCEPTED'}: {first_line[:150]}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
