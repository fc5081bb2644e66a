"""The estimators' input checks: scikit-learn's, with messages that name the argument at fault.

The estimators validate their input with scikit-learn's ``validate_data``
(so that they accept what scikit-learn's MLP accepts, and pass its estimator
checks), but some of its messages do not say which argument is wrong
("Expected 2D array, got 1D array instead", "Complex data not supported").
These functions prefix such messages with the argument's name, refuse string
arrays where numbers are needed, and refuse class labels that a fitted
classifier has never seen.
"""

import re
from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data


@contextmanager
def naming(name: str):
    """Errors raised in the block name ``name`` (prefixed to the message where it does not already)."""
    try:
        yield
    except (TypeError, ValueError) as error:
        name_it(error, name)
        raise


def name_it(error: Exception, name: str) -> None:
    """Prefix ``error``'s message with ``name:`` unless the message names it already.

    A mismatch of lengths is about two arguments: it names X and y.
    """
    message = str(error)
    if "inconsistent numbers of samples" in message:
        name = "X and y"
    if not re.search(rf"\b{re.escape(name)}\b", message):
        error.args = (f"{name}: {message}",) + error.args[1:]


def refuse_strings(values, name: str) -> None:
    """A ``TypeError`` for an array of strings (scikit-learn would parse numbers out of them)."""
    if getattr(getattr(values, "dtype", None), "kind", None) in ("U", "S"):
        raise TypeError(f"{name} must hold numbers, got an array of strings (dtype {values.dtype})")


def validate_inputs(estimator, X, y, **options) -> tuple:
    """``validate_data(estimator, X, y, **options)``, its errors naming X or y.

    scikit-learn checks X and y together; only when that fails is X checked
    alone, to tell which of the two is at fault.
    """
    refuse_strings(X, "X")
    try:
        return validate_data(estimator, X, y, **options)
    except (TypeError, ValueError) as error:
        try:
            check_array(X, dtype=options.get("dtype", "numeric"), input_name="X")
        except (TypeError, ValueError):
            name_it(error, "X")
        else:
            name_it(error, "y")
        raise


def validate_features(estimator, X, dtype) -> np.ndarray:
    """X for prediction, checked against the features seen in fit; errors name X."""
    refuse_strings(X, "X")
    with naming("X"):
        return validate_data(estimator, X, dtype=dtype, reset=False)


@contextmanager
def class_labels():
    """Errors about ``y`` as class labels name y; labels that cannot be sorted get a ``TypeError`` saying so."""
    with naming("y"):
        try:
            yield
        except TypeError as error:
            message = str(error)
            if "not supported between instances" in message and "sortable" not in message:
                raise TypeError(
                    f"y must hold class labels of one sortable type (numbers, or strings): {message}"
                ) from error
            raise


def check_known_labels(y, classes: np.ndarray) -> None:
    """A ``ValueError`` naming the labels of ``y`` that are not among the fitted ``classes``."""
    with class_labels():
        if type_of_target(y).startswith("multilabel"):
            width = np.shape(y)[1]
            if width != len(classes):
                raise ValueError(f"y has {width} label columns but the classifier was fitted with {len(classes)}")
            return
        unknown = np.setdiff1d(unique_labels(y), classes)
    if len(unknown):
        raise ValueError(
            f"y holds label(s) {unknown.tolist()} that the classifier was not fitted with "
            f"(classes_ = {np.asarray(classes).tolist()}); it can never predict them"
        )
