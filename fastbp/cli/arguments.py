"""The command line's parser and argparse value types: its one place for checks of user input.

Each value type turns the text of an option into a value or raises
``argparse.ArgumentTypeError``, which :class:`Parser` reports in one line
(``fastbp train: error: argument --epochs: must be at least 1, got 0``)
with exit status 2.
"""

import argparse
from typing import NoReturn, TypeAlias

from fastbp.numerics.formulas import HIDDEN_ACTIVATIONS


class Parser(argparse.ArgumentParser):
    """argparse, with errors in one line (no usage block): ``fastbp train: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# What ``Parser.add_subparsers`` returns: each command module adds its subparser to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


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


def activations(text: str) -> tuple[str, ...]:
    """Comma-separated hidden activations: ``relu`` (one for every hidden layer) or ``relu,tanh`` (one per layer).

    Their number is checked against the hidden layers' once every option is
    read (:func:`fastbp.cli.train.check_activations`).
    """
    names = tuple(text.split(","))
    unknown = [name for name in names if name not in HIDDEN_ACTIVATIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown activation {unknown[0]!r} in {text!r}: give one of {', '.join(HIDDEN_ACTIVATIONS)} "
            "for every hidden layer, or one per hidden layer separated by commas (e.g. relu,tanh)"
        )
    return names


def batch_size(text: str) -> int | str:
    """``auto`` (min(200, N)) or a positive integer."""
    return text if text == "auto" else positive_int(text)
