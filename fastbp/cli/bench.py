"""``fastbp bench``: :mod:`fastbp.bench.compare` with its own options, as a subcommand.

:mod:`fastbp.bench` is imported only when the subcommand is built or run.
"""

import argparse

from fastbp.cli.arguments import Parser, Subparsers

NAME = "bench"


def add_parser(subparsers: Subparsers) -> None:
    """Add ``fastbp bench`` and the comparison's options."""
    from fastbp.bench import compare

    summary = (compare.__doc__ or "").partition("\n")[0]  # the docstring's first line
    parser = subparsers.add_parser(
        NAME,
        help="fastbp side by side with NumPy, JAX, PyTorch, scikit-learn on this machine",
        description=summary + " Peers that are not installed are skipped with a note.",
    )
    compare.add_arguments(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Check the options as the comparison does (errors as ``fastbp bench: error: ...``) and run it."""
    from fastbp.bench import compare

    return compare.run(compare.check_arguments(Parser(prog=f"fastbp {NAME}"), arguments))
