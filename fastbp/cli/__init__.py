"""The ``fastbp`` command line: ``train``, ``predict``, ``info``, ``bench``, ``compile`` and ``demo``.

``fastbp`` with no subcommand runs ``demo``: train on the digits shipped with
the package and print held-out accuracy and timings.  Bad user input (a
missing file, a bad column, a bad number, a corrupt model) is reported in
one line on standard error with a non-zero exit status, never a traceback.
Ctrl-C during ``train`` exits with status 130 and saves nothing.

Each command is a module of this package with ``add_parser(subparsers)``
(its subparser: help, options, ``run``) and ``run(arguments) -> int``;
:mod:`fastbp.cli.arguments` holds the parser class and the option types.
"""

import sys

from fastbp._version import __version__
from fastbp.cli import bench, compiling, demo, info, predict, train
from fastbp.cli.arguments import Parser

# Exit statuses: 1 for bad input found while running (or a backend that cannot run here),
# 2 for bad options (argparse's), 130 for Ctrl-C.
INPUT_ERROR = 1
INTERRUPTED = 130
# The command modules, in the order ``fastbp --help`` lists them.
COMMANDS = (train, predict, info, bench, compiling, demo)


def build_parser() -> Parser:
    """The parser of every subcommand."""
    parser = Parser(
        prog="fastbp",
        description="Fully connected networks trained by backpropagation, compiled with Numba. "
        "With no subcommand: demo.",
    )
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="{train,predict,info,bench,compile,demo}")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


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
        status: int = arguments.run(arguments)
    except KeyboardInterrupt:
        print("fastbp: interrupted (Ctrl-C); nothing was saved", file=sys.stderr)
        return INTERRUPTED
    except (OSError, ValueError, TypeError, ImportError, RuntimeError) as error:
        print(f"fastbp: error: {one_line(error)}", file=sys.stderr)
        return INPUT_ERROR
    return status
