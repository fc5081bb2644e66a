"""The .npz model file: round trips, atomic writes, and every kind of bad file refused."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from fastbp import Network


@pytest.fixture
def trained(tmp_path):
    rng = np.random.default_rng(0)
    network = Network([4, 6, 3], "relu", "softmax", "categorical_cross_entropy", l2=1e-3, dtype="float32", seed=5)
    network.fit(rng.normal(size=(30, 4)), np.eye(3)[rng.integers(0, 3, 30)], epochs=3)
    path = tmp_path / "model.npz"
    network.save(path)
    return network, path


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)


def test_round_trip_keeps_everything(trained):
    network, path = trained
    loaded = Network.load(path)
    assert loaded.theta.tobytes() == network.theta.tobytes()
    assert loaded.dtype == np.float32
    assert (loaded.hidden_activation, loaded.output_activation, loaded.cost, loaded.l2) == (
        "relu",
        "softmax",
        "categorical_cross_entropy",
        1e-3,
    )
    assert loaded.loss_curve == network.loss_curve
    X = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_array_equal(loaded.predict(X), network.predict(X))
    Y = np.eye(3)[[0, 1, 2, 0, 1]]
    assert loaded.fit(X, Y, epochs=2).theta.tobytes() == network.fit(X, Y, epochs=2).theta.tobytes()


def test_save_is_atomic_and_leaves_no_temporary_files(trained, tmp_path, monkeypatch):
    network, path = trained
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        network.save(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(theta=np.ones(5, np.float32)), "theta has 5 values"),
        (dict(theta=None), "missing theta"),
        (dict(sizes=None), "missing sizes"),
        (dict(format_version=np.array(99)), "format version 99"),
        (dict(format=np.array("something-else")), "not a fastbp network file"),
        (dict(cost=np.array("hinge")), "unknown cost 'hinge'"),
        (dict(sizes=np.array([4.0, 6.0, 3.0])), "'sizes' has dtype float64"),
        (dict(theta=np.full(51, np.nan, np.float32)), "NaN or infinite"),
        (dict(sizes=np.array([4, -6, 3])), "at least 1"),
    ],
)
def test_hand_edited_files_are_refused(trained, change, message):
    _, path = trained
    rewrite(path, **change)
    with pytest.raises(ValueError, match=message):
        Network.load(path)


def test_truncated_and_corrupted_files_are_refused(trained):
    _, path = trained
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable fastbp model file"):
        Network.load(path)
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match="not a readable fastbp model file"):
        Network.load(path)


def test_pickled_objects_are_never_loaded(trained):
    _, path = trained
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("theta_evil.npy", buffer.getvalue())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("payload.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a readable fastbp model file"):
        Network.load(path)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "absent.npz")


def npy_bytes(array, shape=None) -> bytes:
    """An .npy file of ``array``, its header declaring ``shape`` if given."""
    buffer = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(array)
    if shape is not None:
        header["shape"] = shape
    np.lib.format.write_array_header_1_0(buffer, header)
    buffer.write(array.tobytes())
    return buffer.getvalue()


def replace_member(path, name, data: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


@pytest.mark.parametrize(
    "member, data, message",
    [
        ("theta.npy", npy_bytes(np.ones(51, np.float32), shape=(10**12,)), r"declares shape \(1000000000000,\)"),
        ("theta.npy", npy_bytes(np.array([1.0, None], dtype=object)[:1].astype(object)), "Python objects"),
        ("theta.npy", b"\x93NUMPY\x09\x00" + b"\x00" * 20, "format"),
        ("theta.npy", b"", "not a readable"),
    ],
)
def test_hand_edited_headers_are_refused_before_reading(trained, member, data, message):
    _, path = trained
    replace_member(path, member, data)
    with pytest.raises(ValueError, match=message):
        Network.load(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(theta=np.ones(51, np.float16)), "float32 or float64"),
        (dict(theta=np.ones(51, np.int64)), "'theta' has dtype int64"),
        (dict(rng_state=np.ones(1, np.float64)), "'rng_state' has dtype float64"),
        (dict(rng_state=np.ones(2, np.uint64)), "rng_state must hold exactly one value"),
        (dict(sizes=np.array([4, 10**12, 3])), r"would need [\d,.]+ GiB"),
        (dict(l2=np.array(-1.0)), "l2 must be finite"),
        (dict(hidden_activation=np.array("swish")), "unknown hidden activation"),
        (dict(theta=np.ones((51, 1), np.float32)), r"2 dimension\(s\)"),
    ],
)
def test_more_hand_edited_files_are_refused(trained, change, message):
    _, path = trained
    rewrite(path, **change)
    with pytest.raises(ValueError, match=message):
        Network.load(path)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_files_cut_anywhere_are_refused(trained, fraction):
    _, path = trained
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match="not a readable fastbp model file"):
        Network.load(path)


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="not a readable fastbp model file"):
        Network.load(tmp_path)


def test_one_activation_per_hidden_layer_round_trips_in_format_version_2(tmp_path):
    network = Network([3, 5, 4, 2], ["tanh", "relu"], "softmax", "categorical_cross_entropy", seed=1)
    network.save(tmp_path / "mixed.npz")
    with np.load(tmp_path / "mixed.npz") as archive:
        assert int(archive["format_version"]) == 2
        assert archive["hidden_activation"].tolist() == ["tanh", "relu"]
    loaded = Network.load(tmp_path / "mixed.npz")
    assert loaded.hidden_activation == ("tanh", "relu")
    np.testing.assert_array_equal(loaded.codes, network.codes)
    assert loaded.theta.tobytes() == network.theta.tobytes()


def test_a_network_of_one_hidden_activation_is_written_in_version_1_as_before(trained):
    # what fastbp wrote before version 2, and what it still writes where one name serves every hidden
    # layer: readers of version 1 read these files
    network, path = trained
    with np.load(path) as archive:
        assert int(archive["format_version"]) == 1
        assert archive["hidden_activation"].shape == () and str(archive["hidden_activation"]) == "relu"
    assert Network.load(path).hidden_activation == "relu"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hidden_activation=np.array(["relu"])), r"version 2, not 1"),
        (dict(format_version=np.array(2), hidden_activation=np.array(["relu", "tanh"])), r"has 2 name\(s\)"),
        (dict(format_version=np.array(2), hidden_activation=np.array(["swish"])), "unknown hidden layer 1 activation"),
        (dict(format_version=np.array(3)), "format version 3; this fastbp reads versions 1 to 2"),
        (dict(hidden_activation=np.array([["relu"]])), r"'hidden_activation' has dtype <U4 and 2 dimension\(s\)"),
    ],
)
def test_hand_edited_hidden_activations_are_refused(trained, change, message):
    _, path = trained
    rewrite(path, **change)
    with pytest.raises(ValueError, match=message):
        Network.load(path)
