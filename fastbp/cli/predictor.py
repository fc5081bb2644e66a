"""A trained model as ``fastbp train --save`` writes it and ``fastbp predict`` reads it.

The file is a network file (:mod:`fastbp.engine.io`) with the optional arrays
``classes``, ``input_names``, ``target_name`` and ``target_column``.  The
network takes the raw input columns: the standardisation the command line
trains with is folded into the first layer (see :func:`fold_standardization`),
so ``Network.load`` on the same file predicts the same outputs.
"""

import os
from dataclasses import dataclass

import numpy as np

from fastbp.engine.io import load_arrays, save_arrays
from fastbp.engine.network import Network


def fold_standardization(network: Network, mean: np.ndarray, scale: np.ndarray) -> None:
    """Make ``network`` take raw inputs ``x`` where it was trained on ``(x - mean) / scale``.

    ``z^1_k = sum_j W^1_kj (x_j - m_j) / s_j + b^1_k``
    ``      = sum_j (W^1_kj / s_j) x_j + (b^1_k - sum_j W^1_kj m_j / s_j)``.
    """
    W, b = network.W[1], network.b[1]
    b -= W @ (mean / scale)
    W /= scale


@dataclass
class Predictor:
    """A network and what predictions need besides it: class labels and column names.

    Attributes
    ----------
    network : Network
    classes : ndarray or None
        Class labels in the order of the output units (one sigmoid output:
        ``classes[1]`` is the label of outputs above 0.5); None for regression.
    input_names : list of str
    target_name : str
    target_column : int
        The target's index among the training file's columns.
    """

    network: Network
    classes: np.ndarray | None
    input_names: list[str]
    target_name: str
    target_column: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (classification) or the output values (regression), one per row of ``X``."""
        outputs = self.network.predict(X)
        if self.classes is None:
            return outputs[:, 0] if outputs.shape[1] == 1 else outputs
        if outputs.shape[1] == 1:
            return self.classes[(outputs[:, 0] > 0.5).astype(np.int64)]
        return self.classes[np.argmax(outputs, axis=1)]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (atomically, see :func:`fastbp.engine.io.save_arrays`)."""
        arrays = self.network.to_arrays() | {
            "input_names": np.array(self.input_names, dtype=str),
            "target_name": np.array(self.target_name),
            "target_column": np.array(self.target_column, dtype=np.int64),
        }
        if self.classes is not None:
            arrays["classes"] = self.classes
        save_arrays(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Predictor":
        """Read a model file; a plain network file predicts its output values.

        Raises
        ------
        ValueError
            If the file is not a consistent fastbp model file.
        """
        arrays = load_arrays(path)
        network = Network.from_arrays(arrays, path)
        n_inputs, n_outputs = int(network.sizes[0]), int(network.sizes[-1])
        names = [str(name) for name in arrays.get("input_names", [f"x{index}" for index in range(n_inputs)])]
        if len(names) != n_inputs:
            raise ValueError(f"{path}: {len(names)} input names for a network of {n_inputs} inputs")
        classes = arrays.get("classes")
        if classes is not None and len(classes) != max(n_outputs, 2):
            raise ValueError(f"{path}: {len(classes)} classes for a network of {n_outputs} output unit(s)")
        target_column = int(arrays.get("target_column", n_inputs))
        if not 0 <= target_column <= n_inputs:
            raise ValueError(f"{path}: target_column {target_column} is outside 0 .. {n_inputs}")
        return cls(network, classes, names, str(arrays.get("target_name", "y")), target_column)
