"""Data for the command line: a CSV or ``.npz`` file, or a dataset shipped with fastbp, as arrays.

A CSV file has one sample per line, comma-separated.  Its first line is a
header when any of its fields is not a number; without one the columns are
named by their index, ``"0"``, ``"1"``, ...  Every column except the target
must hold finite numbers; the target may hold any labels.

An ``.npz`` file holds the inputs as a 2-d array ``X`` and, for training,
the targets as a 1-d array ``y`` (read with ``allow_pickle=False``); or it
holds a sparse matrix written by ``scipy.sparse.save_npz``, inputs only
(:func:`read_sparse`), whose targets come from a file of their own
(:func:`read_labels`).

Every problem with the data is a ``ValueError`` (or ``FileNotFoundError``)
whose message names the file, line and column.
"""

import csv
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from fastbp.datasets import load_digits

DATASETS = ("digits",)


@dataclass
class Table:
    """The columns of a data source: names and the text or numbers of each.

    Attributes
    ----------
    source : str
        The file (or dataset) it came from, for messages.
    names : list of str
        The column names.
    columns : list of ndarray
        Each column's values: strings (CSV) or numbers (``.npz``, datasets).
    first_line : int
        The file's line number of the first sample (1 or 2; 0 when not a CSV file).
    """

    source: str
    names: list[str]
    columns: list[np.ndarray]
    first_line: int

    def column_index(self, target: str | None) -> int:
        """The index of the column named ``target`` (a name, or an integer index; None: the last)."""
        if target is None:
            return len(self.names) - 1
        if target in self.names:
            return self.names.index(target)
        try:
            index = int(target)
        except ValueError:
            raise ValueError(f"{self.source} has no column {target!r} (columns: {', '.join(self.names)})") from None
        if not -len(self.names) <= index < len(self.names):
            raise ValueError(f"{self.source} has {len(self.names)} columns, so column index {index} does not exist")
        return index % len(self.names)

    def numbers(self, index: int) -> np.ndarray:
        """Column ``index`` as finite float64 numbers."""
        column = self.columns[index]
        if column.dtype.kind in "biuf":
            values = column.astype(np.float64)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ValueError(
                    f"{self.source}: column {self.names[index]!r} has a NaN or infinite value at row {bad[0]}"
                )
            return values
        values = np.empty(column.shape[0], dtype=np.float64)
        for row, text in enumerate(column):
            try:
                values[row] = float(text)
            except ValueError:
                values[row] = np.nan
            if not np.isfinite(values[row]):
                what = "an empty field" if text == "" else f"{str(text)!r} is not a finite number"
                raise ValueError(f"{self.source}, line {self.first_line + row}, column {self.names[index]!r}: {what}")
        return values

    def inputs(self, indices: list[int]) -> np.ndarray:
        """The columns ``indices`` as an ``(N, len(indices))`` float64 matrix."""
        return np.column_stack([self.numbers(index) for index in indices]) if indices else np.empty((len(self), 0))

    def __len__(self) -> int:
        return self.columns[0].shape[0]


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: str) -> Table:
    """The columns of a CSV file, as strings."""
    try:
        with open(path, newline="") as file:
            rows = [[field.strip() for field in row] for row in csv.reader(file) if row]
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not a text (CSV) file: {error}") from None
    except csv.Error as error:
        raise ValueError(f"{path} is not a readable CSV file: {error}") from None
    if not rows:
        raise ValueError(f"{path} is empty")
    has_header = not all(is_number(field) for field in rows[0])
    names = rows[0] if has_header else [str(index) for index in range(len(rows[0]))]
    samples = rows[1:] if has_header else rows
    if not samples:
        raise ValueError(f"{path} has a header but no samples")
    for line, row in enumerate(samples, start=2 if has_header else 1):
        if len(row) != len(names):
            raise ValueError(f"{path}, line {line}: {len(row)} fields, but the first line has {len(names)}")
    columns = [np.array(column, dtype=str) for column in zip(*samples)]
    return Table(path, names, columns, 2 if has_header else 1)


def read_npz(path: str, arrays: tuple[str, ...]) -> dict:
    """The named arrays of an ``.npz`` file, read without pickles."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in arrays if name not in archive.files]
            if missing:
                raise ValueError(f"{path} has no array {missing[0]!r} (it has: {', '.join(archive.files) or 'none'})")
            return {name: archive[name] for name in arrays}
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from None


def read_table(source: str, with_target: bool) -> Table:
    """A CSV file, an ``.npz`` file (``X``, and ``y`` when ``with_target``) or a shipped dataset by name."""
    if os.path.isdir(source):
        raise ValueError(f"{source} is a folder, not a data file")
    if not os.path.exists(source):
        if source in DATASETS:
            images, labels = load_digits()
            names = [f"pixel{index}" for index in range(images.shape[1])] + ["digit"]
            return Table(source, names, list(images.T) + [labels], 0)
        raise FileNotFoundError(f"no such file or shipped dataset: {source} (datasets: {', '.join(DATASETS)})")
    if not source.endswith(".npz"):
        return read_csv(source)
    arrays = read_npz(source, ("X", "y") if with_target else ("X",))
    X = arrays["X"]
    if X.ndim != 2 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
        raise ValueError(
            f"{source}: X must be a non-empty 2-d array of numbers, got shape {X.shape} and dtype {X.dtype}"
        )
    columns = list(X.T)
    names = [f"x{index}" for index in range(X.shape[1])]
    if with_target:
        y = arrays["y"]
        if y.shape != (X.shape[0],):
            raise ValueError(f"{source}: y must have shape ({X.shape[0]},) to match X, got {y.shape}")
        columns.append(y)
        names.append("y")
    return Table(source, names, columns, 0)


# The arrays of a matrix written by scipy.sparse.save_npz (CSR, CSC, COO, ...).
SPARSE_ARRAYS = ("format", "shape")


def is_sparse_npz(source: str) -> bool:
    """Whether ``source`` is an ``.npz`` file written by ``scipy.sparse.save_npz``."""
    if not (source.endswith(".npz") and os.path.isfile(source) and zipfile.is_zipfile(source)):
        return False
    with zipfile.ZipFile(source) as archive:
        names = {name.removesuffix(".npy") for name in archive.namelist()}
    return all(name in names for name in SPARSE_ARRAYS)


def read_sparse(path: str):
    """The sparse matrix of an ``.npz`` file written by ``scipy.sparse.save_npz``, as CSR (scipy is imported here)."""
    import scipy.sparse

    try:
        X = scipy.sparse.load_npz(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable sparse matrix (scipy.sparse.save_npz): {error}") from None
    if X.ndim != 2 or 0 in X.shape or X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: the matrix must be 2-d, non-empty and numeric, got shape {X.shape}, dtype {X.dtype}")
    return X.tocsr()


def read_labels(path: str, n_samples: int) -> np.ndarray:
    """The targets for a sparse matrix: a ``.npy`` file, or a text file of one target per line."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--labels {path}: no such file")
    if path.endswith(".npy"):
        try:
            labels = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"--labels {path} is not a readable .npy file: {error}") from None
    else:
        with open(path) as file:
            labels = np.array([line.strip() for line in file if line.strip()], dtype=str)
    if labels.shape != (n_samples,):
        raise ValueError(f"--labels {path}: {labels.shape[0] if labels.ndim else 0} targets for {n_samples} samples")
    return labels
