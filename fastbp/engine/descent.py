"""Gradient descent on a function of one variable, the first source text's case."""

from collections.abc import Callable

import numpy as np

from fastbp.engine.validation import check_non_negative_float, check_positive_int


def gradient_descent_1d(df_dw: Callable[[float], float], w0: float, learning_rate: float, steps: int) -> np.ndarray:
    """Follow ``w <- w - alpha df/dw`` from ``w0``.

    Parameters
    ----------
    df_dw : callable
        The derivative of the function being minimised.
    w0 : float
        The starting point.
    learning_rate : float
        alpha, the size of each step relative to the slope.
    steps : int
        How many updates to make.

    Returns
    -------
    ndarray of shape (steps + 1,)
        ``w`` before the first step and after each one.
    """
    learning_rate = check_non_negative_float(learning_rate, "learning_rate", positive=True)
    steps = check_positive_int(steps, "steps")
    path = np.empty(steps + 1)
    path[0] = float(w0)
    for step in range(steps):
        # w <- w - alpha df/dw
        path[step + 1] = path[step] - learning_rate * df_dw(path[step])
    return path
