"""The ``fastbp`` command: train on the digits shipped with the package."""

import argparse

from fastbp.backends import BACKENDS
from fastbp.demo import report, train_digits


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the main job, print its report; the exit status."""
    parser = argparse.ArgumentParser(
        prog="fastbp",
        description="Train a fully connected network on the 8x8 digits shipped with fastbp "
        "and print held-out accuracy and timings.",
    )
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
    parser.add_argument("--hidden", type=int, default=32, help="sigmoid units in the hidden layer (default 32)")
    parser.add_argument("--learning-rate", type=float, default=0.5, help="alpha (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per update (default 32)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="serial")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        result = train_digits(
            epochs=args.epochs,
            hidden=args.hidden,
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            dtype=args.dtype,
            backend=args.backend,
            seed=args.seed,
        )
    except (TypeError, ValueError) as error:
        parser.exit(2, f"fastbp: error: {error}\n")
    print(report(result, args.backend))
    return 0
