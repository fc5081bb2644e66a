"""Small real datasets shipped inside the package.

``digits``: the test set of the UCI "Optical Recognition of Handwritten
Digits" data (E. Alpaydin and C. Kaynak, 1998): 1797 8x8 images with integer
pixels 0..16, and their labels 0..9.  Licensed under Creative Commons
Attribution 4.0 (https://creativecommons.org/licenses/by/4.0/); source:
https://archive.ics.uci.edu/dataset/80 (DOI 10.24432/C50P49).
"""

from importlib import resources

import numpy as np


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits.

    Returns
    -------
    X : ndarray of shape (1797, 64), uint8
        Pixel values 0..16, row-major 8x8 images.
    y : ndarray of shape (1797,), int64
        The digit shown, 0..9.
    """
    with resources.files(__package__).joinpath("data").joinpath("digits.npz").open("rb") as file:
        with np.load(file, allow_pickle=False) as archive:
            return archive["data"].copy(), archive["target"].astype(np.int64)


def split(n_samples: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a random train/test split: ``(train, test)``."""
    order = np.random.default_rng(seed).permutation(n_samples)
    n_test = int(round(test_fraction * n_samples))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows of the identity: ``Y[n, labels[n]] = 1``."""
    return np.eye(n_classes)[labels]


def standardization(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` of each column over ``rows``: ``(X - mean) / scale`` has mean 0 and variance 1.

    A constant column gets scale 1 (it becomes 0).
    """
    mean = X[rows].mean(axis=0)
    std = X[rows].std(axis=0)
    return mean, np.where(std > 0, std, 1.0)
