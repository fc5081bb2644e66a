"""Figures written to files: matplotlib's object-oriented API on the Agg canvas, never a window.

matplotlib is an optional extra (``pip install "fastbp[plot]"``), imported
only when a figure is made.  No ``pyplot``: figures are plain
``matplotlib.figure.Figure`` objects drawn by the Agg renderer, so making one
neither opens a window nor changes the backend of a user's session.
"""

import os
from collections.abc import Sequence
from typing import Any

MISSING = 'fastbp\'s figures need matplotlib: pip install "fastbp[plot]"'


def new_figure(n_columns: int = 1, width: float = 6.4, height: float = 4.8) -> tuple[Any, Any]:
    """A figure of ``n_columns`` side-by-side axes: ``(figure, axes)`` (one axes, or a list of them).

    Raises
    ------
    ImportError
        If matplotlib is not installed (the message names the ``plot`` extra).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(MISSING) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, n_columns)
    return figure, (list(axes) if n_columns > 1 else axes)


def save(figure: Any, path: str | os.PathLike[str]) -> str:
    """Write ``figure`` to ``path`` (PNG unless the suffix names another format); the path written."""
    path = os.fspath(path)
    figure.savefig(path, dpi=100)
    return path


def loss_curve(
    path: str | os.PathLike[str],
    training: Sequence[float],
    held_out: Sequence[float] | None = None,
    title: str = "",
) -> str:
    """The cost C per epoch, training and held-out, on a log scale when it spans a decade or more.

    Parameters
    ----------
    path : str or path-like
        Where to write the figure.
    training : sequence of float
        The training cost after each epoch.
    held_out : sequence of float, optional
        The held-out (validation) cost after each epoch.
    title : str
        The figure's title.

    Returns
    -------
    str
        ``path``.
    """
    figure, axes = new_figure()
    epochs = range(1, len(training) + 1)
    axes.plot(epochs, training, label="training")
    curves = [list(training)]
    if held_out is not None and len(held_out):
        axes.plot(range(1, len(held_out) + 1), held_out, label="held-out (validation)")
        curves.append(list(held_out))
    values = [value for curve in curves for value in curve if value > 0]
    if values and max(values) >= 10 * min(values):
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("cost C")
    axes.set_title(title)
    axes.legend()
    axes.grid(True, alpha=0.3)
    return save(figure, path)
