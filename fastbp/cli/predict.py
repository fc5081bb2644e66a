"""``fastbp predict``: a saved model's predictions for the rows of a file, as CSV."""

import argparse
import csv
import sys

from fastbp.cli.arguments import Subparsers
from fastbp.cli.predictor import Predictor
from fastbp.cli.tabular import Table, is_sparse_npz, read_sparse, read_table


def input_columns(table: Table, predictor: Predictor) -> list[int]:
    """The indices of the model's input columns in ``table``.

    By name when the table's columns are named as in training (a header, or
    an ``.npz`` file); else by position: all columns, or all but the
    training target's when there is one column more than the model's inputs.
    """
    if all(name in table.names for name in predictor.input_names):
        return [table.names.index(name) for name in predictor.input_names]
    n_inputs = len(predictor.input_names)
    if len(table.names) == n_inputs:
        return list(range(n_inputs))
    if len(table.names) == n_inputs + 1:
        return [index for index in range(n_inputs + 1) if index != predictor.target_column]
    raise ValueError(
        f"{table.source} has {len(table.names)} columns; the model takes {n_inputs} inputs "
        f"({', '.join(predictor.input_names)})"
    )


def add_parser(subparsers: Subparsers) -> None:
    """Add ``fastbp predict`` and its options."""
    parser = subparsers.add_parser(
        "predict",
        help="predict with a saved model",
        description="Predict with a model saved by "
        "`fastbp train --save` (or Network.save) for each row of DATA, as CSV.",
    )
    parser.add_argument("model", help="the model file (.npz)")
    parser.add_argument("data", help="a CSV or .npz file (array X) with the model's input columns")
    parser.add_argument("--output", "-o", help="write the CSV here (default: standard output)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Predict and write one value per row, under the header of the training target's name."""
    predictor = Predictor.load(arguments.model)
    if is_sparse_npz(arguments.data):
        X = read_sparse(arguments.data)
        if X.shape[1] != len(predictor.input_names):
            raise ValueError(
                f"{arguments.data} has {X.shape[1]} columns; the model takes {len(predictor.input_names)} inputs"
            )
    else:
        table = read_table(arguments.data, with_target=False)
        X = table.inputs(input_columns(table, predictor))
    predictions = predictor.predict(X)
    if predictions.ndim == 1:
        header, rows = [predictor.target_name], ([value] for value in predictions.tolist())
    else:  # a plain network file with several outputs
        header, rows = [f"{predictor.target_name}{k}" for k in range(predictions.shape[1])], predictions.tolist()
    output = open(arguments.output, "w", newline="") if arguments.output else sys.stdout
    try:
        writer = csv.writer(output, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    finally:
        if arguments.output:
            output.close()
    if arguments.output:
        print(f"wrote {len(predictions)} predictions to {arguments.output}", file=sys.stderr)
    return 0
