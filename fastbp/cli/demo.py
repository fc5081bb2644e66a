"""``fastbp demo``, the main job: train on the digits shipped with fastbp and report."""

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fastbp._version import __version__
from fastbp.backends import BACKENDS
from fastbp.cli.arguments import Subparsers, positive_float, positive_int
from fastbp.datasets import load_digits, one_hot, split, standardization
from fastbp.engine.network import Network, warm_up


def train_digits(
    epochs: int = 30,
    hidden: int = 32,
    learning_rate: float = 0.5,
    batch_size: int = 32,
    dtype: str = "float32",
    backend: str = "serial",
    seed: int = 0,
    callback: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Train a 64-hidden-10 network on 75% of the digits; score the other 25%.

    The pixels are standardised with the training images' means and
    deviations: sigmoid units learn much faster from inputs centred on 0.
    ``callback`` is passed to :meth:`Network.fit` (called after every epoch).

    Returns
    -------
    dict
        ``accuracy`` (held out), ``epochs``, ``compile_seconds``,
        ``train_seconds``, ``n_train``, ``n_test`` and the ``network``.
    """
    images, labels = load_digits()
    train, test = split(len(labels), 0.25, seed)
    mean, scale = standardization(images.astype(np.float64), train)
    X = (images - mean) / scale
    network = Network(
        [X.shape[1], hidden, 10],
        hidden_activation="sigmoid",
        output_activation="softmax",
        cost="categorical_cross_entropy",
        l2=1e-4,
        dtype=dtype,
        seed=seed,
    )
    compile_seconds = warm_up(backend, dtype)
    started = time.perf_counter()
    network.fit(
        X[train],
        one_hot(labels[train], 10),
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        backend=backend,
        callback=callback,
    )
    train_seconds = time.perf_counter() - started
    predicted = np.argmax(network.predict(X[test], backend=backend), axis=1)
    return {
        "accuracy": float(np.mean(predicted == labels[test])),
        "epochs": len(network.loss_curve),
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "n_train": len(train),
        "n_test": len(test),
        "network": network,
    }


def report(result: dict[str, Any], backend: str) -> str:
    """The lines the main job prints."""
    network = result["network"]
    sizes = "-".join(str(int(size)) for size in network.sizes)
    per_epoch = 1e3 * result["train_seconds"] / result["epochs"]
    return "\n".join(
        [
            f"fastbp {__version__}: digits (UCI, CC BY 4.0), "
            f"{result['n_train']} training / {result['n_test']} held-out images",
            f"network {sizes}, {network.hidden_activation} hidden, {network.output_activation} output, "
            f"{network.cost}, {network.dtype}, {backend} backend",
            f"compile (or load from cache): {result['compile_seconds']:.2f} s",
            f"training: {result['epochs']} epochs in {result['train_seconds']:.3f} s ({per_epoch:.2f} ms per epoch)",
            f"final training cost: {network.loss_curve[-1]:.4f}",
            f"held-out accuracy: {100 * result['accuracy']:.1f}%",
        ]
    )


def add_parser(subparsers: Subparsers) -> None:
    """Add ``fastbp demo`` and its options (those of :func:`train_digits`)."""
    parser = subparsers.add_parser(
        "demo",
        help="train on the shipped digits, print accuracy and times (the default)",
        description="Train a 64-hidden-10 sigmoid network on 75% of the digits shipped "
        "with fastbp and print held-out accuracy and timings.",
    )
    parser.add_argument("--epochs", type=positive_int, default=30, help="passes over the training set (default 30)")
    parser.add_argument(
        "--hidden", type=positive_int, default=32, help="sigmoid units in the hidden layer (default 32)"
    )
    parser.add_argument("--learning-rate", type=positive_float, default=0.5, help="alpha (default 0.5)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="samples per update (default 32)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="serial")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Train on the digits and print the report."""
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
