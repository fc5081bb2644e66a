"""``fastbp train``: fit an ``MLPClassifier`` or ``MLPRegressor`` to a table, score, save, plot.

The inputs are standardised with the training rows' means and deviations
(the saved model folds that into its first layer, see
:func:`fastbp.cli.predictor.fold_standardization`).  A random ``--test-size``
fraction of the rows is held out: its cost is recorded after every epoch
(the validation curve of ``--plot``) and its accuracy (classification) or
R^2 (regression) is reported at the end.  Nothing chooses the model on the
held-out rows, so their score is an honest estimate.
"""

import argparse
import importlib.util
import os
import time
import warnings
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from fastbp.backends import BACKENDS, numpy_ref
from fastbp.cli.arguments import (
    Subparsers,
    activations,
    batch_size,
    fraction,
    layer_sizes,
    non_negative_float,
    positive_float,
    positive_int,
)
from fastbp.cli.plotting import MISSING
from fastbp.cli.predictor import Predictor, fold_standardization
from fastbp.cli.progress import EpochBar
from fastbp.cli.tabular import Table, is_sparse_npz, read_labels, read_sparse, read_table
from fastbp.datasets import split, standardization
from fastbp.engine.interrupts import TrainingInterrupted
from fastbp.engine.validation import REGRESSION_LOSSES, check_inputs, is_sparse
from fastbp.numerics.formulas import HUBER_EPSILON

if TYPE_CHECKING:  # at run time, scikit-learn and the estimators are imported by estimator_for only
    from fastbp.sklearn import MLPClassifier, MLPRegressor

Estimator: TypeAlias = "MLPClassifier | MLPRegressor"

# A numeric target is a class label when it is integral with at most this many distinct values.
MAX_INFERRED_CLASSES = 20


def add_parser(subparsers: Subparsers) -> None:
    """Add ``fastbp train`` and its options."""
    parser = subparsers.add_parser(
        "train",
        help="train on a CSV or .npz file, or a shipped dataset",
        description="Train an MLPClassifier or MLPRegressor on DATA, print the held-out score, "
        "optionally save the model and plot the loss curve. Inputs are standardised with the "
        "training rows' statistics (the saved model takes raw inputs).",
    )
    parser.add_argument(
        "data",
        help="a CSV file (header optional), an .npz file with arrays X and y, a sparse matrix written by "
        "scipy.sparse.save_npz (targets from --labels), or: digits",
    )
    parser.add_argument("--target", help="the target column of a CSV file: its name or index (default: the last)")
    parser.add_argument(
        "--labels",
        metavar="FILE",
        help="the targets of a sparse DATA, one per row: a .npy file, or a text file of one per line",
    )
    parser.add_argument(
        "--task",
        choices=["classify", "regress"],
        help="default: classify when the target is not numeric or is integers with at most 20 values",
    )
    parser.add_argument("--hidden", type=layer_sizes, default=(64,), help="hidden layer sizes, e.g. 64,32 (default 64)")
    parser.add_argument(
        "--activation",
        type=activations,
        default="relu",
        metavar="NAME[,NAME...]",
        help="sigma of the hidden layers: sigmoid, tanh, relu or identity for all of them, or one per hidden "
        "layer, e.g. relu,tanh for --hidden 64,32 (default relu)",
    )
    parser.add_argument(
        "--loss",
        choices=REGRESSION_LOSSES,
        help="regression loss (default squared_error); absolute_error, huber and log_cosh are less swayed by outliers",
    )
    parser.add_argument(
        "--huber-epsilon",
        type=positive_float,
        default=HUBER_EPSILON,
        help=f"where --loss huber turns linear (default {HUBER_EPSILON})",
    )
    parser.add_argument(
        "--class-weight",
        choices=["balanced"],
        help="classification: weigh each class by n_samples / (n_classes * its count) in the training cost, "
        "so that rare classes count as much as common ones (default: every sample weighs 1)",
    )
    parser.add_argument("--solver", choices=["sgd", "adam", "lbfgs"], default="adam", help="(default adam)")
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=200,
        help="the most epochs (lbfgs: iterations); training stops earlier when the training "
        "cost improves by less than --tol for 10 epochs (default 200)",
    )
    parser.add_argument("--tol", type=non_negative_float, default=1e-4, help="(default 1e-4)")
    parser.add_argument(
        "--batch-size", type=batch_size, default="auto", help="samples per update (default auto: min(200, N))"
    )
    parser.add_argument("--learning-rate", type=positive_float, default=0.001, help="alpha (default 0.001)")
    parser.add_argument(
        "--l2", type=non_negative_float, default=1e-4, help="lambda of the L2 weight decay (default 1e-4)"
    )
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="auto", help="(default auto)")
    parser.add_argument("--threads", type=positive_int, help="threads for the parallel backends (default: Numba's)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64", help="(default float64)")
    parser.add_argument(
        "--test-size", type=fraction, default=0.25, help="fraction of rows held out for scoring (default 0.25)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the initial weights and the shuffling")
    parser.add_argument("--save", metavar="MODEL.npz", help="write the trained model here (fastbp's .npz format)")
    parser.add_argument("--plot", metavar="CURVE.png", help="write the training and held-out cost per epoch here")
    parser.set_defaults(run=run)


def infer_task(table: Table, target: int) -> str:
    """``"classify"`` when the target is not numeric, or integral with few distinct values; else ``"regress"``."""
    try:
        values = table.numbers(target)
    except ValueError:
        return "classify"
    integral = np.all(values == np.round(values))
    return "classify" if integral and np.unique(values).size <= MAX_INFERRED_CLASSES else "regress"


def class_labels(table: Table, target: int) -> np.ndarray:
    """The target as labels: integers or floats when they are all numbers, else the strings themselves."""
    try:
        values = table.numbers(target)
    except ValueError:
        return np.asarray(table.columns[target], dtype=str)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def estimator_for(arguments: argparse.Namespace, task: str, callback: "Recorder") -> Estimator:
    """The scikit-learn-compatible estimator the options describe (scikit-learn is imported here)."""
    from fastbp.sklearn import MLPClassifier, MLPRegressor

    names = ["logistic" if name == "sigmoid" else name for name in arguments.activation]
    common = dict(
        hidden_layer_sizes=arguments.hidden,
        activation=names[0] if len(names) == 1 else names,
        solver=arguments.solver,
        alpha=arguments.l2,
        batch_size=arguments.batch_size,
        learning_rate_init=arguments.learning_rate,
        max_iter=arguments.epochs,
        tol=arguments.tol,
        random_state=arguments.seed,
        backend=arguments.backend,
        n_jobs=arguments.threads,
        dtype=arguments.dtype,
        callback=callback,
    )
    if task == "classify":
        return MLPClassifier(class_weight=arguments.class_weight, **common)
    return MLPRegressor(loss=arguments.loss or "squared_error", huber_epsilon=arguments.huber_epsilon, **common)


def target_matrix(estimator: Estimator, y: np.ndarray) -> np.ndarray:
    """``y`` as the network's targets: one-hot over ``classes_`` (one column for two classes), or a column."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return y[:, None].astype(np.float64)
    if classes.shape[0] == 2:
        return (y == classes[1])[:, None].astype(np.float64)
    return (y[:, None] == classes[None, :]).astype(np.float64)


def held_out_cost(estimator: Estimator, X, Y: np.ndarray) -> float:
    """C = (1/N) sum_n C_n + (lambda / 2N) sum_l sum_kj (W^l_kj)^2 of the held-out rows, at this epoch's parameters.

    ``estimator.network_`` is the fitted network itself (no copy).  Its
    outputs come from the predict kernel the fit compiles anyway, with the
    estimator's backend and threads (sparse ``X`` stays sparse; the NumPy
    oracle would densify it); the cost of those outputs from the oracle's
    functions, which compile nothing.
    """
    network = estimator.network_
    X = check_inputs(X, network.sizes[0], network.dtype)
    outputs = network.outputs(X, estimator.backend, estimator.n_jobs)
    weights = np.ones(outputs.shape[0], dtype=network.dtype)
    total = numpy_ref.data_cost(network.cost_argument, outputs, Y.astype(network.dtype), weights)
    total += 0.5 * network.l2 * numpy_ref.squared_weights(network.theta, network.sizes)
    return float(total / outputs.shape[0])


class Recorder:
    """The estimator's callback: the training cost and held-out cost of every epoch, and the bar."""

    def __init__(self, X_test: np.ndarray, y_test: np.ndarray, total: int):
        self.X_test, self.y_test = X_test, y_test
        self.training: list[float] = []
        self.held_out: list[float] = []
        self.bar = EpochBar(total)

    def __call__(self, estimator: Estimator, epoch: int, loss: float) -> bool:
        """Record epoch ``epoch``; never asks to stop."""
        self.training.append(float(loss))
        values = {"loss": loss}
        if self.y_test.shape[0]:
            cost = held_out_cost(estimator, self.X_test, target_matrix(estimator, self.y_test))
            self.held_out.append(cost)
            values["held-out"] = cost
        self.bar.update(epoch, **values)
        return False


def check_outputs(arguments: argparse.Namespace) -> None:
    """Fail before training, not after, when ``--save`` or ``--plot`` could not be written."""
    for option in ("save", "plot"):
        path = getattr(arguments, option)
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise FileNotFoundError(f"--{option} {path}: no such folder")
    if arguments.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise ImportError(MISSING)


def check_activations(arguments: argparse.Namespace) -> None:
    """Fail before reading the data when ``--activation`` names neither one activation nor one per hidden layer."""
    names, hidden = arguments.activation, arguments.hidden
    if len(names) > 1 and len(names) != len(hidden):
        raise ValueError(
            f"--activation {','.join(names)} names {len(names)} activations but --hidden "
            f"{','.join(map(str, hidden))} has {len(hidden)} hidden layer(s): give one activation for all of them, "
            "or one per hidden layer"
        )


def read_data(arguments: argparse.Namespace) -> tuple:
    """``(X, table, target, input_names)``: the inputs, the table holding the target column, its index, the names.

    A sparse matrix (``scipy.sparse.save_npz``) stays sparse; its targets are
    the one column of a table read from ``--labels``.
    """
    if is_sparse_npz(arguments.data):
        if arguments.labels is None:
            raise ValueError(
                f"{arguments.data} holds a sparse matrix (scipy.sparse.save_npz), no targets: give them with --labels"
            )
        X = read_sparse(arguments.data)
        table = Table(arguments.labels, ["y"], [read_labels(arguments.labels, X.shape[0])], 0)
        return X, table, 0, [f"x{index}" for index in range(X.shape[1])]
    if arguments.labels is not None:
        raise ValueError(f"--labels is for a sparse DATA (scipy.sparse.save_npz); {arguments.data} is not one")
    table = read_table(arguments.data, with_target=True)
    if len(table.names) < 2:
        raise ValueError(f"{table.source} has one column: nothing to learn the target from")
    target = table.column_index(arguments.target)
    inputs = [index for index in range(len(table.names)) if index != target]
    return table.inputs(inputs), table, target, [table.names[index] for index in inputs]


def standardized(X, train: np.ndarray) -> tuple:
    """``(X', mean, scale)``: ``X' = (X - mean) / scale`` with the training rows' means and deviations.

    A sparse ``X`` is scaled but not centred (its mean is taken as 0), so
    that its zeros stay zeros, as scikit-learn's ``StandardScaler(with_mean=False)`` does.
    """
    if not is_sparse(X):
        mean, scale = standardization(X, train)
        return (X - mean) / scale, mean, scale
    rows = X[train]
    mean_of_squares = np.asarray(rows.multiply(rows).mean(axis=0)).ravel()
    std = np.sqrt(np.maximum(mean_of_squares - np.asarray(rows.mean(axis=0)).ravel() ** 2, 0.0))
    scale = np.where(std > 0, std, 1.0)
    return (X @ diagonal(1 / scale)).tocsr(), np.zeros(X.shape[1]), scale


def diagonal(values: np.ndarray):
    """The sparse diagonal matrix of ``values`` (scipy is imported here: only sparse data needs it)."""
    import scipy.sparse

    return scipy.sparse.diags(values)


def balanced_class_weights(y: np.ndarray) -> str:
    """The line of ``--class-weight balanced``'s weights: ``n_samples / (n_classes * count)`` of each class of ``y``."""
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return "class weights (balanced): " + ", ".join(f"{label} {weight:.3g}" for label, weight in zip(classes, weights))


def run(arguments: argparse.Namespace) -> int:
    """Train as ``arguments`` say and print what happened.

    Ctrl-C during the fit stops it at the end of an epoch (the estimator
    warns :class:`~fastbp.engine.interrupts.TrainingInterrupted`); that, like Ctrl-C
    anywhere else, raises ``KeyboardInterrupt`` before anything is saved.
    """
    check_outputs(arguments)
    check_activations(arguments)
    X, table, target, input_names = read_data(arguments)
    task = arguments.task or infer_task(table, target)
    if task == "classify" and arguments.loss is not None:
        raise ValueError(f"--loss is for regression (--task regress); {arguments.data}'s target is classified")
    if task == "regress" and arguments.class_weight is not None:
        raise ValueError(
            f"--class-weight is for classification; {arguments.data}'s target is regressed "
            "(--task classify treats it as class labels)"
        )
    y = class_labels(table, target) if task == "classify" else table.numbers(target)
    train, test = split(len(y), arguments.test_size, arguments.seed)
    if train.size < 2:
        raise ValueError(f"{arguments.data} has {len(y)} samples: too few to train on after holding out {test.size}")
    X, mean, scale = standardized(X, train)
    what = f"{np.unique(y[train]).size} classes" if task == "classify" else "regression"
    print(f"{arguments.data}: {len(y)} samples, {len(input_names)} inputs, target {table.names[target]!r} ({what})")
    recorder = Recorder(X[test], y[test], arguments.epochs)
    estimator = estimator_for(arguments, task, recorder)
    if arguments.class_weight is not None:
        print(balanced_class_weights(y[train]))
    # Printed once the estimator (and scikit-learn) is imported: from here on, Ctrl-C is
    # held by the fit until an epoch ends (see fastbp.engine.interrupts).
    print(
        f"training on {train.size}, holding out {test.size} "
        f"(--test-size {arguments.test_size}, --seed {arguments.seed})",
        flush=True,
    )
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator.fit(X[train], y[train])
        finally:
            recorder.bar.close()
    seconds = time.perf_counter() - started
    if any(issubclass(warning.category, TrainingInterrupted) for warning in caught):
        raise KeyboardInterrupt
    for warning in dict.fromkeys(str(warning.message).splitlines()[0] for warning in caught):
        print(f"note: {warning}")

    # A copy: folding the standardisation into it below must leave the estimator as it is.
    network = estimator.network_.copy()
    sizes = "-".join(str(int(size)) for size in network.sizes)
    print(
        f"network {sizes}, {','.join(arguments.activation)} hidden, {network.output_activation} output, "
        f"{network.cost}, {arguments.solver}, {network.dtype}, {arguments.backend} backend"
    )
    unit = "iterations" if arguments.solver == "lbfgs" else "epochs"
    print(
        f"training: {len(recorder.training)} {unit} in {seconds:.2f} s (loading or compiling the kernels "
        f"and each epoch's held-out cost included), final cost {recorder.training[-1]:.4g}"
    )
    if test.size:
        score = estimator.score(X[test], y[test])
        name = "accuracy" if task == "classify" else "R^2"
        shown = f"{100 * score:.1f}%" if task == "classify" else f"{score:.4f}"
        print(f"held-out {name}: {shown} (cost {recorder.held_out[-1]:.4g})")
        if arguments.class_weight is not None:
            from sklearn.metrics import balanced_accuracy_score

            balanced = balanced_accuracy_score(y[test], estimator.predict(X[test]))
            print(f"held-out balanced accuracy: {100 * balanced:.1f}% (the mean of the classes' recalls)")
    if arguments.save:
        fold_standardization(network, mean, scale)
        network.loss_curve = list(recorder.training)
        classes = estimator.classes_ if task == "classify" else None
        Predictor(network, classes, input_names, table.names[target], target).save(arguments.save)
        print(f"saved the model to {arguments.save}")
    if arguments.plot:
        from fastbp.cli.plotting import loss_curve

        title = f"{arguments.data}: {sizes}, {arguments.solver}"
        print(f"wrote the loss curve to {loss_curve(arguments.plot, recorder.training, recorder.held_out, title)}")
    return 0
