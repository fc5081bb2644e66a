"""The ``fastbp`` command line: ``train``, ``predict``, ``info``, ``bench`` and ``demo``.

``fastbp`` with no subcommand runs ``demo``: train on the digits shipped with
the package and print held-out accuracy and timings.  Bad user input (a
missing file, a bad column, a bad number, a corrupt model) is reported in
one line on standard error with a non-zero exit status, never a traceback.
Ctrl-C during ``train`` exits with status 130 and saves nothing.
"""

import argparse
import sys

from fastbp._version import __version__
from fastbp.backends import BACKENDS

# Exit statuses: 1 for bad input found while running (or a backend that cannot run here),
# 2 for bad options (argparse's), 130 for Ctrl-C.
INPUT_ERROR = 1
INTERRUPTED = 130
ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")


class Parser(argparse.ArgumentParser):
    """argparse, with errors in one line (no usage block): ``fastbp train: error: ...``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be above 0, got 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def layer_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated hidden layer sizes: ``64,32``."""
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of positive integers (e.g. 64,32)"
        ) from None


def batch_size(text: str) -> int | str:
    """``auto`` (min(200, N)) or a positive integer."""
    return text if text == "auto" else positive_int(text)


def add_demo(subparsers) -> None:
    """``fastbp demo``: the main job of the README's first command."""
    parser = subparsers.add_parser(
        "demo",
        help="train on the shipped digits, print accuracy and times (the default)",
        description="Train a 64-hidden-10 sigmoid network on 75% of the digits shipped "
        "with fastbp and print held-out accuracy and timings.",
    )
    add_demo_options(parser)


def add_demo_options(parser: argparse.ArgumentParser) -> None:
    """The demo's options (those of :func:`fastbp.cli.demo.train_digits`)."""
    parser.add_argument("--epochs", type=positive_int, default=30, help="passes over the training set (default 30)")
    parser.add_argument(
        "--hidden", type=positive_int, default=32, help="sigmoid units in the hidden layer (default 32)"
    )
    parser.add_argument("--learning-rate", type=positive_float, default=0.5, help="alpha (default 0.5)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="samples per update (default 32)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="serial")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run_demo)


def add_train(subparsers) -> None:
    """``fastbp train`` (:mod:`fastbp.cli.train`)."""
    parser = subparsers.add_parser(
        "train",
        help="train on a CSV or .npz file, or a shipped dataset",
        description="Train an MLPClassifier or MLPRegressor on DATA, print the held-out score, "
        "optionally save the model and plot the loss curve. Inputs are standardised with the "
        "training rows' statistics (the saved model takes raw inputs).",
    )
    parser.add_argument("data", help="a CSV file (header optional), an .npz file with arrays X and y, or: digits")
    parser.add_argument("--target", help="the target column of a CSV file: its name or index (default: the last)")
    parser.add_argument(
        "--task",
        choices=["classify", "regress"],
        help="default: classify when the target is not numeric or is integers with at most 20 values",
    )
    parser.add_argument("--hidden", type=layer_sizes, default=(64,), help="hidden layer sizes, e.g. 64,32 (default 64)")
    parser.add_argument(
        "--activation", choices=ACTIVATIONS, default="relu", help="sigma of the hidden layers (default relu)"
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
    parser.set_defaults(run=run_train)


def add_predict(subparsers) -> None:
    """``fastbp predict`` (:mod:`fastbp.cli.predict`)."""
    parser = subparsers.add_parser(
        "predict",
        help="predict with a saved model",
        description="Predict with a model saved by "
        "`fastbp train --save` (or Network.save) for each row of DATA, as CSV.",
    )
    parser.add_argument("model", help="the model file (.npz)")
    parser.add_argument("data", help="a CSV or .npz file (array X) with the model's input columns")
    parser.add_argument("--output", "-o", help="write the CSV here (default: standard output)")
    parser.set_defaults(run=run_predict)


def add_info(subparsers) -> None:
    """``fastbp info`` (:mod:`fastbp.cli.info`)."""
    parser = subparsers.add_parser(
        "info",
        help="versions, threads, threading layer, CUDA device, cache folder",
        description="Print fastbp's environment.",
    )
    parser.set_defaults(run=run_info)


def add_bench(subparsers) -> None:
    """``fastbp bench`` (:mod:`fastbp.bench.compare`, with its own options)."""
    from fastbp.bench import compare

    parser = subparsers.add_parser(
        "bench",
        help="fastbp side by side with NumPy, JAX, PyTorch, scikit-learn on this machine",
        description=compare.__doc__.splitlines()[0] + " Peers that are not installed are skipped with a note.",
    )
    compare.add_arguments(parser)
    parser.set_defaults(run=lambda arguments: compare.run(compare.check_arguments(parser, arguments)))


def build_parser() -> Parser:
    """The parser of every subcommand."""
    parser = Parser(
        prog="fastbp",
        description="Fully connected networks trained by backpropagation, compiled with Numba. "
        "With no subcommand: demo.",
    )
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="{train,predict,info,bench,demo}")
    for add in (add_train, add_predict, add_info, add_bench, add_demo):
        add(subparsers)
    return parser


def run_demo(arguments: argparse.Namespace) -> int:
    """Train on the digits and print the report."""
    from fastbp.cli.demo import report, train_digits

    result = train_digits(
        epochs=arguments.epochs,
        hidden=arguments.hidden,
        learning_rate=arguments.learning_rate,
        batch_size=arguments.batch_size,
        dtype=arguments.dtype,
        backend=arguments.backend,
        seed=arguments.seed,
    )
    print(report(result, arguments.backend))
    return 0


def run_train(arguments: argparse.Namespace) -> int:
    """Train, score, save and plot as the options say."""
    from fastbp.cli import train

    return train.run(arguments)


def run_predict(arguments: argparse.Namespace) -> int:
    """Predict with a saved model."""
    from fastbp.cli import predict

    return predict.run(arguments)


def run_info(arguments: argparse.Namespace) -> int:
    """Print the environment."""
    from fastbp.cli import info

    return info.run(arguments)


def one_line(error: BaseException) -> str:
    """The error's message, on one line."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand (``demo`` when none is named); the exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        arguments = parser.parse_args(["demo"])
    try:
        return arguments.run(arguments)
    except KeyboardInterrupt:
        print("fastbp: interrupted (Ctrl-C); nothing was saved", file=sys.stderr)
        return INTERRUPTED
    except (OSError, ValueError, TypeError, ImportError, RuntimeError) as error:
        print(f"fastbp: error: {one_line(error)}", file=sys.stderr)
        return INPUT_ERROR
