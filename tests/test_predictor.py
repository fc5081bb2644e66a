"""The command line's pieces in-process: tables from files, the saved model with its labels, folding."""

import numpy as np
import pytest

from fastbp import Network
from fastbp.cli.predictor import Predictor, fold_standardization
from fastbp.cli.tabular import read_table
from fastbp.engine.io import load_arrays, save_arrays


def test_folding_the_standardization_gives_the_same_outputs_on_raw_inputs():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=3.0, size=(20, 4))
    mean, scale = X.mean(axis=0), X.std(axis=0)
    network = Network([4, 6, 2], "tanh", "softmax", "categorical_cross_entropy", seed=0)
    expected = network.predict((X - mean) / scale)
    fold_standardization(network, mean, scale)
    np.testing.assert_allclose(network.predict(X), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "classes", [np.array(["no", "yes"]), np.array([3, 7, 9])], ids=["binary-text", "multiclass-int"]
)
def test_a_saved_predictor_keeps_its_labels_and_predicts_them(classes, tmp_path):
    binary = classes.shape[0] == 2
    network = Network(
        [2, 3, 1 if binary else 3],
        "relu",
        "sigmoid" if binary else "softmax",
        "binary_cross_entropy" if binary else "categorical_cross_entropy",
        seed=1,
    )
    Predictor(network, classes, ["u", "v"], "label", 1).save(tmp_path / "model.npz")
    loaded = Predictor.load(tmp_path / "model.npz")
    assert loaded.classes.dtype == classes.dtype and loaded.classes.tolist() == classes.tolist()
    assert (loaded.input_names, loaded.target_name, loaded.target_column) == (["u", "v"], "label", 1)
    X = np.random.default_rng(2).normal(size=(8, 2))
    outputs = network.predict(X)
    expected = classes[(outputs[:, 0] > 0.5).astype(int)] if binary else classes[np.argmax(outputs, axis=1)]
    assert loaded.predict(X).tolist() == expected.tolist()


def test_a_plain_network_file_predicts_its_output_values(tmp_path):
    network = Network([3, 2, 1], output_activation="identity", cost="mse", seed=0)
    network.save(tmp_path / "network.npz")
    loaded = Predictor.load(tmp_path / "network.npz")
    assert loaded.classes is None and loaded.input_names == ["x0", "x1", "x2"]
    X = np.ones((2, 3))
    np.testing.assert_array_equal(loaded.predict(X), network.predict(X)[:, 0])


def test_a_class_count_that_does_not_match_the_outputs_is_refused(tmp_path):
    network = Network([2, 3], output_activation="softmax", cost="categorical_cross_entropy", seed=0)
    save_arrays(tmp_path / "model.npz", network.to_arrays() | {"classes": np.array(["a", "b"])})
    assert "classes" in load_arrays(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="2 classes for a network of 3 output unit"):
        Predictor.load(tmp_path / "model.npz")


def test_an_optional_array_of_the_wrong_kind_is_refused(tmp_path):
    network = Network([2, 1], seed=0)
    save_arrays(tmp_path / "model.npz", network.to_arrays() | {"input_names": np.array([1.0, 2.0])})
    with pytest.raises(ValueError, match="'input_names' has dtype float64"):
        load_arrays(tmp_path / "model.npz")


def test_a_csv_header_is_found_and_columns_are_named_or_numbered(tmp_path):
    (tmp_path / "named.csv").write_text("x,y,label\n1,2,a\n3,4,b\n")
    (tmp_path / "plain.csv").write_text("1,2,0\n3,4,1\n")
    named, plain = read_table(str(tmp_path / "named.csv"), True), read_table(str(tmp_path / "plain.csv"), True)
    assert named.names == ["x", "y", "label"] and plain.names == ["0", "1", "2"]
    assert named.column_index(None) == 2 and named.column_index("y") == 1 and named.column_index("-3") == 0
    np.testing.assert_array_equal(named.inputs([0, 1]), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(plain.numbers(2), [0, 1])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("a,b\n", "has a header but no samples"),
        ("a,b\n1,2\n3\n", "line 3: 1 fields, but the first line has 2"),
        ("a,b\n1,2\n,4\n", "line 3, column 'a': an empty field"),
        ("a,b\n1,2\ninf,4\n", "line 3, column 'a': 'inf' is not a finite number"),
    ],
)
def test_bad_csv_files_are_named_by_line_and_column(text, message, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_table(str(path), True).inputs([0])


def test_npz_files_need_X_and_y(tmp_path):
    np.savez(tmp_path / "data.npz", X=np.ones((3, 2)))
    assert read_table(str(tmp_path / "data.npz"), False).names == ["x0", "x1"]
    with pytest.raises(ValueError, match="has no array 'y'"):
        read_table(str(tmp_path / "data.npz"), True)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not an .npz file"):
        read_table(str(tmp_path / "text.npz"), True)


def test_the_progress_bar_draws_on_a_terminal_only():
    import io

    from fastbp.cli.progress import EpochBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = EpochBar(4, stream=stream, width=8)
        bar.update(1, loss=0.5)
        bar.update(2, loss=0.25)
        bar.close()
    assert pipe.getvalue() == ""
    assert terminal.getvalue().split("\r")[-1] == "[####....] 2/4 epochs  loss 0.25\033[K\n"
