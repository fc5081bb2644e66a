"""The command line and the examples, run as a user runs them: in a fresh interpreter."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastbp import Network, cli
from fastbp.cli.predictor import Predictor

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def environment() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def run(*arguments, cwd=ROOT):
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, cwd=cwd, env=environment(), timeout=300
    )


def assert_png(path: Path) -> None:
    """``path`` is a PNG image that matplotlib reads back, with some pixels."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 100 and width > 100


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    """A CSV file with a header, three numeric inputs and a text label in the third column."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    labels = np.array(["red", "green", "blue"])[np.argmax(X @ rng.normal(size=(3, 3)), axis=1)]
    path = tmp_path_factory.mktemp("data") / "colours.csv"
    lines = ["a,b,colour,c"] + [f"{x[0]:.5f},{x[1]:.5f},{label},{x[2]:.5f}" for x, label in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(colours, tmp_path_factory):
    """``fastbp train ... --save --plot`` on the colours: the run and the folder it wrote to."""
    folder = tmp_path_factory.mktemp("trained")
    result = run(
        "-m",
        "fastbp",
        "train",
        str(colours),
        "--target",
        "colour",
        "--hidden",
        "8,4",
        "--epochs",
        "5",
        "--solver",
        "sgd",
        "--learning-rate",
        "0.05",
        "--save",
        "model.npz",
        "--plot",
        "curve.png",
        cwd=folder,
    )
    return result, folder


def test_main_job_prints_accuracy_epochs_and_times():
    # README's first command: `python -m fastbp`, no arguments
    result = run("-m", "fastbp")
    assert result.returncode == 0, result.stderr
    assert re.search(r"compile \(or load from cache\): \d+\.\d+ s", result.stdout)
    assert re.search(r"training: 30 epochs in \d+\.\d+ s", result.stdout)
    accuracy = float(re.search(r"held-out accuracy: (\d+\.\d)%", result.stdout).group(1))
    assert accuracy >= 95.0


def test_train_saves_the_model_and_plots_the_loss_curve(trained):
    result, folder = trained
    assert result.returncode == 0, result.stderr
    assert "colours.csv: 90 samples, 3 inputs, target 'colour' (3 classes)" in result.stdout
    assert "training on 68, holding out 22" in result.stdout
    assert "network 3-8-4-3, relu hidden, softmax output" in result.stdout
    assert re.search(r"training: 5 epochs in \d+\.\d+ s", result.stdout)
    assert re.search(r"held-out accuracy: \d+\.\d%", result.stdout)
    assert_png(folder / "curve.png")
    predictor = Predictor.load(folder / "model.npz")
    assert predictor.classes.tolist() == ["blue", "green", "red"]
    assert predictor.input_names == ["a", "b", "c"] and predictor.target_name == "colour"
    assert len(predictor.network.loss_curve) == 5


def test_predict_writes_labels_to_stdout_and_to_a_file(trained, colours):
    _, folder = trained
    printed = run("-m", "fastbp", "predict", "model.npz", str(colours), cwd=folder)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0] == "colour" and len(lines) == 91
    assert set(lines[1:]) <= {"red", "green", "blue"}
    written = run("-m", "fastbp", "predict", "model.npz", str(colours), "--output", "predictions.csv", cwd=folder)
    assert written.returncode == 0, written.stderr
    assert (folder / "predictions.csv").read_text() == printed.stdout
    # the file is a plain network file too: its outputs, on the raw inputs, give the same labels
    table = np.genfromtxt(colours, delimiter=",", skip_header=1, usecols=(0, 1, 3))
    outputs = Network.load(folder / "model.npz").predict(table)
    assert np.array(["blue", "green", "red"])[np.argmax(outputs, axis=1)].tolist() == lines[1:]


def test_train_takes_one_activation_per_hidden_layer(colours, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    arguments = ["train", str(colours), "--target", "colour", "--hidden", "8,4", "--activation", "sigmoid,tanh"]
    assert cli.main([*arguments, "--epochs", "3", "--save", "model.npz"]) == 0
    assert "network 3-8-4-3, sigmoid,tanh hidden, softmax output" in capsys.readouterr().out
    assert Predictor.load(tmp_path / "model.npz").network.hidden_activation == ("sigmoid", "tanh")


def test_train_with_class_weight_balanced_prints_the_weights_and_the_balanced_accuracy(
    colours, tmp_path, monkeypatch, capsys
):
    from fastbp.datasets import split

    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", str(colours), "--target", "colour", "--epochs", "3", "--class-weight", "balanced"]) == 0
    printed = capsys.readouterr().out
    labels = np.loadtxt(colours, delimiter=",", skiprows=1, usecols=2, dtype=str)[split(90, 0.25, 0)[0]]
    weights = ", ".join(f"{name} {labels.size / (3 * np.sum(labels == name)):.3g}" for name in ("blue", "green", "red"))
    assert f"class weights (balanced): {weights}\n" in printed
    assert re.search(r"held-out balanced accuracy: \d+\.\d% \(the mean of the classes' recalls\)", printed)


def test_regression_on_an_npz_file_with_lbfgs(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    np.savez(tmp_path / "data.npz", X=X, y=X[:, 0] - 0.5 * X[:, 1] + 0.3)
    trained = run(
        "-m",
        "fastbp",
        "train",
        "data.npz",
        "--solver",
        "lbfgs",
        "--epochs",
        "20",
        "--hidden",
        "4",
        "--activation",
        "tanh",
        "--save",
        "model.npz",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    assert "target 'y' (regression)" in trained.stdout
    assert re.search(r"training: \d+ iterations", trained.stdout)
    r2 = float(re.search(r"held-out R\^2: (-?\d+\.\d+)", trained.stdout).group(1))
    assert r2 > 0.5
    predicted = run("-m", "fastbp", "predict", "model.npz", "data.npz", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    values = np.array(predicted.stdout.splitlines()[1:], dtype=float)
    assert values.shape == (60,)
    assert np.allclose(values, Predictor.load(tmp_path / "model.npz").predict(X))


def test_a_sparse_matrix_of_scipy_save_npz_trains_and_predicts_without_densifying(tmp_path):
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.random(300, 400, density=0.02, random_state=0, format="csr")
    y = np.asarray((X @ np.random.default_rng(0).normal(size=(400, 3))).argmax(axis=1)).ravel()
    sparse.save_npz(tmp_path / "X.npz", X)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "y.txt").write_text("\n".join(str(label) for label in y))
    for labels in ("y.npy", "y.txt"):
        trained = run("-m", "fastbp", "train", "X.npz", "--labels", labels, "--hidden", "8", "--epochs", "5",
                      "--save", "model.npz", cwd=tmp_path)  # fmt: skip
        assert trained.returncode == 0, trained.stderr
        assert "X.npz: 300 samples, 400 inputs, target 'y' (3 classes)" in trained.stdout
    predicted = run("-m", "fastbp", "predict", "model.npz", "X.npz", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    labels = np.array(predicted.stdout.splitlines()[1:], dtype=int)
    # the saved model folds the scaling in: it takes the raw sparse matrix
    assert np.array_equal(labels, Predictor.load(tmp_path / "model.npz").predict(X.toarray()))
    unlabelled = run("-m", "fastbp", "train", "X.npz", cwd=tmp_path)
    assert unlabelled.returncode != 0
    assert unlabelled.stderr.strip() == (
        "fastbp: error: X.npz holds a sparse matrix (scipy.sparse.save_npz), no targets: give them with --labels"
    )


def test_info_reports_versions_threads_cuda_and_cache():
    result = run("-m", "fastbp", "info")
    assert result.returncode == 0, result.stderr
    import numba

    for line in (
        "fastbp: 0.1.0",
        f"NumPy: {np.__version__}",
        f"Numba: {numba.__version__}",
        "Numba threads: ",
        "threading layer: ",
        "CUDA device: ",
        "Numba cache: ",
        "kernel cache key: fastbp sources ",
    ):
        assert line in result.stdout


def test_compile_reports_each_configuration_it_compiled_or_found(capsys):
    assert cli.main(["compile", "--dtype", "float64", "--backend", "serial"]) == 0
    out = capsys.readouterr().out.splitlines()
    configurations = ["float64, one thread", "float64, one thread, register tiles"]
    count = len(configurations) * 2  # Network's kernels, then the estimators'
    assert [line.split(": ")[:2] for line in out[:-1]] == [
        [f"[{i + 1}/{count}] {who}", configuration]
        for i, (configuration, who) in enumerate(
            (configuration, who) for configuration in configurations for who in ("Network", "estimators")
        )
    ]
    assert re.fullmatch(r"compiled \(or found in the cache\) in \d+\.\d s", out[-1])


def test_compile_runs_configurations_in_processes_of_their_own(capfd, monkeypatch):
    def in_this_process(job):
        raise AssertionError("a configuration ran in the calling process")

    # The spawned processes import fastbp afresh, without this replacement.
    monkeypatch.setattr("fastbp.engine.compiling.timed", in_this_process)
    assert cli.main(["compile", "--dtype", "float64", "--backend", "serial", "--jobs", "2"]) == 0
    captured = capfd.readouterr()
    out = captured.out.splitlines()
    names = [line.split("] ")[1].split(": ")[0:2] for line in out[:-1]]
    assert sorted(map(tuple, names)) == sorted(
        (who, configuration)
        for configuration in ("float64, one thread", "float64, one thread, register tiles")
        for who in ("Network", "estimators")
    )
    assert [line.split("] ")[0] for line in out[:-1]] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert re.fullmatch(r"compiled \(or found in the cache\) in \d+\.\d s", out[-1])
    assert "fastbp: compil" not in captured.err  # the processes' own notices stay silent


def test_info_names_the_missing_cuda_package_or_the_simulator(monkeypatch):
    from fastbp.cli import info

    monkeypatch.setitem(sys.modules, "numba.cuda", None)  # as if numba-cuda were not installed
    assert info.cuda_device() == 'none: numba-cuda is not installed (pip install "fastbp[cuda]")'
    monkeypatch.setattr("numba.config.ENABLE_CUDASIM", 1)
    assert info.cuda_device().startswith("Numba's CUDA simulator")


def test_bench_quick_prints_a_table():
    result = run("-m", "fastbp", "bench", "--rounds", "1", "--workloads", "xor", "--peers", "fastbp")
    assert result.returncode == 0, result.stderr
    assert "xor: 2-4-1 sigmoid output" in result.stdout
    assert re.search(r"^  fastbp-serial +\d", result.stdout, flags=re.MULTILINE)


BAD_INPUT = [
    (["train", "missing.csv"], "fastbp: error: no such file or shipped dataset: missing.csv (datasets: digits)"),
    (
        ["train", "{colours}", "--target", "shade"],
        "fastbp: error: {colours} has no column 'shade' (columns: a, b, colour, c)",
    ),
    (["train", "{colours}"], "fastbp: error: {colours}, line 2, column 'colour': 'red' is not a finite number"),
    (["train", "{colours}", "--epochs", "0"], "fastbp train: error: argument --epochs: must be at least 1, got 0"),
    (
        ["train", "{colours}", "--learning-rate", "fast"],
        "fastbp train: error: argument --learning-rate: 'fast' is not a number",
    ),
    (
        ["train", "{colours}", "--hidden", "8,x"],
        "fastbp train: error: argument --hidden: '8,x' is not a comma-separated list",
    ),
    (["predict", "{colours}", "{colours}"], "fastbp: error: {colours} is not a readable fastbp model file"),
    (["predict", "missing.npz", "{colours}"], "fastbp: error: missing.npz: No such file or directory"),
    (["bench", "--workloads", "huge"], "fastbp bench: error: unknown workloads: huge"),
    (["compile", "--jobs", "0"], "fastbp compile: error: argument --jobs: must be at least 1, got 0"),
    (["train", "digits", "--labels", "y.npy"], "fastbp: error: --labels is for a sparse DATA"),
    (
        ["train", "digits", "--task", "regress", "--class-weight", "balanced"],
        "fastbp: error: --class-weight is for classification; digits's target is regressed",
    ),
    (["demo", "--epochs", "0"], "fastbp demo: error: argument --epochs: must be at least 1, got 0"),
    (
        ["train", "{colours}", "--activation", "relu,swish"],
        "fastbp train: error: argument --activation: unknown activation 'swish' in 'relu,swish'",
    ),
    (
        ["train", "{colours}", "--hidden", "8,4", "--activation", "relu,tanh,relu"],
        "fastbp: error: --activation relu,tanh,relu names 3 activations but --hidden 8,4 has 2 hidden layer(s)",
    ),
]


@pytest.mark.parametrize("arguments, message", BAD_INPUT)
def test_bad_input_is_one_line_on_stderr(arguments, message, colours, tmp_path, monkeypatch, capsys):
    # in this process: an exception that main() let through would fail the test
    monkeypatch.chdir(tmp_path)
    try:
        status = cli.main([argument.format(colours=colours) for argument in arguments])
    except SystemExit as exit:  # argparse's errors
        status = exit.code
    captured = capsys.readouterr()
    assert status != 0 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith(message.format(colours=colours))


@pytest.mark.parametrize("arguments, message", [BAD_INPUT[0], BAD_INPUT[4], BAD_INPUT[6]])
def test_bad_input_in_a_fresh_interpreter_has_no_traceback(arguments, message, colours, tmp_path):
    result = run("-m", "fastbp", *[argument.format(colours=colours) for argument in arguments], cwd=tmp_path)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "Traceback" not in result.stderr
    assert result.stderr.startswith(message.format(colours=colours))


def default_sigint() -> None:
    """In the child before it runs Python: SIGINT as in a terminal's foreground, whatever pytest inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_a_file(folder: Path, seconds: float) -> None:
    """Wait until something is written under ``folder``."""
    deadline = time.monotonic() + seconds
    while not any(path.is_file() for path in folder.rglob("*")):
        assert time.monotonic() < deadline, f"nothing written to {folder} in {seconds} s"
        time.sleep(0.05)


# "warm": the suite's shared Numba cache, Ctrl-C one second after training is announced. "cold": an empty
# cache of the test's own, Ctrl-C once Numba has cached its first function, so while it compiles the rest
# (a KeyboardInterrupt raised inside the compiler once broke this: exit by SIGINT, an unraisable exception).
@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_ctrl_c_during_training_exits_with_one_line_and_saves_nothing(cache, tmp_path):
    work, numba_cache = tmp_path / "work", tmp_path / "numba-cache"
    work.mkdir()
    env = environment()
    if cache == "cold":
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastbp",
            "train",
            "digits",
            "--epochs",
            "100000",
            "--tol",
            "0",
            "--solver",
            "sgd",
            "--batch-size",
            "1",
            "--backend",
            "serial",
            "--save",
            "model.npz",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        for line in process.stdout:
            if line.startswith("training on"):
                break
        if cache == "cold":
            wait_for_a_file(numba_cache, seconds=120)
        else:
            time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=180)
    finally:
        process.kill()
    # A cold cache also says what it compiled (fastbp.engine.compiling), before the interruption.
    said = [line for line in stderr.splitlines() if not line.startswith("fastbp: compil")]
    assert (process.returncode, said) == (130, ["fastbp: interrupted (Ctrl-C); nothing was saved"])
    assert not list(work.iterdir())


EXAMPLES = {
    "gradient_descent_1d.py": ["--steps", "5"],
    "linear_regression.py": ["--iterations", "50"],
    "xor.py": [],
    "digits.py": ["--epochs", "3"],
    "backends.py": ["--epochs", "2"],
    "estimator_vs_sklearn.py": ["--max-iter", "5"],
}
# Examples that print their results and draw nothing.
EXAMPLES_WITHOUT_FIGURES = {
    "dask_search.py": ["--workers", "2"],
    "worked_step.py": [],  # run and its output checked by tests/test_worked_step.py
}


def test_every_python_example_is_tested():
    tested = sorted([*EXAMPLES, *EXAMPLES_WITHOUT_FIGURES])
    assert sorted(path.name for path in (ROOT / "examples").glob("*.py")) == tested


def test_dask_search_example_runs_on_a_local_cluster(tmp_path):
    result = run(str(ROOT / "examples" / "dask_search.py"), *EXAMPLES_WITHOUT_FIGURES["dask_search.py"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fits on 2 Dask workers" in result.stdout
    assert len(re.findall(r"\d+ Numba threads, \d+ kernel signatures", result.stdout)) == 2, result.stdout
    assert re.search(r"held-out accuracy 0\.(8|9)\d\d", result.stdout), result.stdout


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_and_writes_its_figure(script, tmp_path):
    figure = tmp_path / "figure.png"
    result = run(str(ROOT / "examples" / script), *EXAMPLES[script], "--output", str(figure), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {figure}" in result.stdout
    assert_png(figure)
    if script == "xor.py":
        assert "all four correct: True" in result.stdout
    if script == "estimator_vs_sklearn.py":
        difference = re.search(r"largest relative difference between the loss curves: (\S+)", result.stdout)
        assert float(difference.group(1)) < 1e-10, result.stdout


def test_asv_example_is_valid_bash_and_names_a_benchmark_of_the_suite():
    script = ROOT / "examples" / "asv_two_commits.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    default = re.search(r'benchmarks="\$\{3:-([\w.]+)\}"', script.read_text()).group(1)
    from benchmarks import bench_training

    benchmark_class, method = default.split(".")
    assert hasattr(getattr(bench_training, benchmark_class), method)
