"""The scikit-learn layer's checks: the estimators' parameters, and their input with messages naming the culprit.

:func:`check_parameters` checks every constructor parameter once per fit,
with scikit-learn's rules.

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
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from fastbp.backends import check_n_jobs, get_backend
from fastbp.engine.validation import (
    check_dtype,
    check_non_negative_float,
    check_positive_int,
    check_sparse,
    is_sparse,
    kernel_array,
    per_hidden_layer,
)
from fastbp.numerics.sparse import CSRRows

# scikit-learn's names of the hidden activations
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
CHOICES = {
    "solver": ("lbfgs", "sgd", "adam"),
    "learning_rate": ("constant", "invscaling", "adaptive"),
}
FLAGS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping")


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
    """``validate_data(estimator, X, y, **options)``, its errors naming X or y; X may be scipy sparse.

    scikit-learn checks X and y together; only when that fails is X checked
    alone, to tell which of the two is at fault.  Plain arrays take
    :func:`plain_inputs` instead, which checks and records the same.
    """
    plain = plain_inputs(estimator, X, y, options["dtype"], options.get("reset", True))
    if plain is not None:
        return plain
    refuse_strings(X, "X")
    try:
        return validate_data(estimator, X, y, accept_sparse=True, **options)
    except (TypeError, ValueError) as error:
        try:
            check_array(X, dtype=options.get("dtype", "numeric"), input_name="X", accept_sparse=True)
        except (TypeError, ValueError):
            name_it(error, "X")
        else:
            name_it(error, "y")
        raise


def plain_inputs(estimator, X, y, dtype, reset: bool) -> tuple | None:
    """``(X, y)`` as :func:`validate_inputs` gives them, for plain arrays, checked in microseconds; else None.

    X a 2-d float ndarray of finite values, y a 1-d or 2-d ndarray of finite
    numbers with X's number of rows, neither empty: what scikit-learn's
    ``validate_data`` would accept unchanged.  X is converted to ``dtype``;
    ``n_features_in_`` is set (``reset``) or checked against X's columns, and
    a fit of such an X forgets ``feature_names_in_``, as ``validate_data``
    does.  Anything else (lists, sparse matrices, frames, other dtypes,
    NaN, a fitted estimator with feature names) returns None, for
    scikit-learn's own checks, errors and warnings (``validate_data``'s cost
    per call showed in ``fastbp bench``'s estimator row, one warm-started fit
    per epoch: benchmarks/README.md, "The estimators' fixed costs per fit").
    """
    if not (
        plain_float_matrix(X)
        and X.shape[1] > 0
        and type(y) is np.ndarray
        and y.ndim in (1, 2)
        and y.dtype.kind in "iuf"
        and y.shape[0] == X.shape[0]
        and (y.ndim == 1 or y.shape[1] > 0)
    ):
        return None
    if not reset and not columns_as_fitted(estimator, X):
        return None
    # validate_data's dtype: one dtype, or a sequence whose members are kept and anything else becomes the first.
    choices = dtype if isinstance(dtype, (tuple, list)) else (dtype,)
    converted = X if X.dtype in choices else X.astype(choices[0])
    if not np.isfinite(converted).all() or (y.dtype.kind == "f" and not np.isfinite(y).all()):
        return None
    if reset:
        estimator.n_features_in_ = X.shape[1]
        vars(estimator).pop("feature_names_in_", None)
    return converted, y


def plain_float_matrix(X) -> bool:
    """Whether ``X`` is a plain ndarray of floats with two dimensions and at least one row."""
    return type(X) is np.ndarray and X.ndim == 2 and X.dtype.kind == "f" and X.shape[0] > 0


def columns_as_fitted(estimator, X) -> bool:
    """Whether ``X`` has the columns the estimator was fitted with, and the estimator no feature names to check."""
    return getattr(estimator, "n_features_in_", None) == X.shape[1] and "feature_names_in_" not in vars(estimator)


def validate_features(estimator, X, dtype) -> np.ndarray:
    """X for prediction, checked against the features seen in fit; errors name X."""
    refuse_strings(X, "X")
    with naming("X"):
        return validate_data(estimator, X, dtype=dtype, reset=False, accept_sparse=True)


def kernel_inputs(X, dtype) -> np.ndarray | CSRRows:
    """Checked inputs as the kernels take them: a C-contiguous array of ``dtype``, or CSR rows if ``X`` is sparse."""
    if is_sparse(X):
        return check_sparse(X, "X", dtype)
    return kernel_array(X, dtype)


def prediction_input(estimator, X, dtype) -> np.ndarray | CSRRows:
    """X for the prediction kernels: C-contiguous, of the network's ``dtype``, checked as scikit-learn checks it.

    A scipy sparse X becomes CSR rows (:func:`fastbp.engine.validation.check_sparse`), never a dense array.

    A plain 2-d float array with the fitted number of columns, from an
    estimator fitted without feature names, is checked here in a few
    microseconds (finite values; converted if it must be); anything else goes
    through scikit-learn's ``validate_data`` (:func:`validate_features`),
    with the same errors and warnings as scikit-learn's estimators.
    """
    if plain_float_matrix(X) and columns_as_fitted(estimator, X):
        # Converted first (a strided X, such as a column slice, is copied once), then checked:
        # the finiteness check reads the contiguous copy faster than the strided original.
        converted = kernel_array(X, dtype)
        if np.isfinite(converted).all():
            return converted
    X = validate_features(estimator, X, estimator._input_dtype())
    return kernel_inputs(X, dtype)


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


def fitted_label_binarizer(y) -> LabelBinarizer:
    """``LabelBinarizer().fit(y)``; plain labels without scikit-learn's target-type checks, in microseconds.

    Plain labels are a 1-d array of integers, of whole floats or of strings
    with at least two classes: their target type is ``binary`` (two classes)
    or ``multiclass``, and their classes are ``np.unique(y)``, as
    ``type_of_target`` and ``unique_labels`` would find (a millisecond of
    checks per fit, more than iris-sized fits spend training).  Anything
    else is fitted by scikit-learn, with its errors.
    """
    binarizer = LabelBinarizer()
    plain = type(y) is np.ndarray and y.ndim == 1 and y.dtype.kind in "iufU"
    if plain and y.dtype.kind == "f":
        plain = bool(np.all(np.isfinite(y)) and np.array_equal(y, np.floor(y)))
    classes = np.unique(y) if plain else None
    if classes is None or len(classes) < 2:
        return binarizer.fit(y)
    # the state LabelBinarizer.fit leaves on plain labels
    binarizer.y_type_ = "binary" if len(classes) == 2 else "multiclass"
    binarizer.sparse_input_ = False
    binarizer.classes_ = classes
    return binarizer


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


def check_unit_interval(value, name: str, closed_right: bool) -> float:
    """A real number in [0, 1] (``closed_right``) or [0, 1)."""
    value = check_non_negative_float(value, name)
    if value > 1 or (value == 1 and not closed_right):
        raise ValueError(f"{name} must be in [0, 1{']' if closed_right else ')'}, got {value}")
    return value


def check_hidden_layer_sizes(sizes) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive integers (one integer is one layer)."""
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
    return [int(size) for size in sizes]


def check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray:
    """The samples' weights s_n as a contiguous array of ``dtype`` (all 1 for None; a number for all)."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=dtype)
    weights = np.asarray(sample_weight)
    if weights.ndim == 0:
        weights = np.full(n_samples, weights)
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == {weights.shape}, expected ({n_samples},)")
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold numbers, got dtype {weights.dtype}")
    weights = np.array(weights, dtype=dtype, order="C")
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinite values")
    if not np.any(weights):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


def check_class_weight(class_weight) -> None:
    """``class_weight``: None, ``'balanced'``, or a dict of finite non-negative weights by class label."""
    if class_weight is None or (isinstance(class_weight, str) and class_weight == "balanced"):
        return
    if not isinstance(class_weight, dict):
        error = ValueError if isinstance(class_weight, str) else TypeError
        raise error(f"class_weight must be 'balanced', a dict {{label: weight}} or None; got {class_weight!r}")
    for label, weight in class_weight.items():
        check_non_negative_float(weight, f"class_weight[{label!r}]")


def check_activation(activation, n_hidden: int) -> None:
    """``activation``: one of scikit-learn's names for every hidden layer, or a sequence of one per hidden layer.

    A sequence (list, tuple or 1-d array) must hold ``n_hidden`` names, the
    length of ``hidden_layer_sizes`` (:func:`fastbp.engine.validation.per_hidden_layer`).
    """
    names = ", ".join(ACTIVATIONS)
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {names}; got {activation!r}")
        return
    for index, name in enumerate(per_hidden_layer(activation, n_hidden, "activation", "hidden_layer_sizes")):
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise ValueError(f"activation[{index}] must be one of {names}; got {name!r}")


# Parameter values that cannot change in place: a fit whose parameters all hold such values, equal
# (and of the same types) to those of the last fit that checked them, skips the checks.
IMMUTABLE_VALUES = (type(None), bool, int, float, str, np.bool_, np.integer, np.floating)
# The exact types of most parameter values, found by one set lookup rather than isinstance's walk.
PLAIN_TYPES = frozenset((type(None), bool, int, float, str))


def parameters_as_checked(estimator) -> tuple | None:
    """The estimator's constructor parameters as ``(name, type, value)``, if all are immutable; else None.

    Two equal results mean the parameters were not changed in between, so
    :func:`check_parameters` need not run again (a warm-started fit of one
    epoch is short: benchmarks/README.md, "The estimators' fixed costs per
    fit").  Tuples of immutable values and callables (the ``callback``,
    compared by identity) count as immutable; a list, an array or a dict
    (``class_weight``) does not, and a fit with one checks every time.  A
    tuple's entry is ``(name, tuple, types of its elements, value)``: an
    equal value of another type (``True`` for ``1``, ``(np.int64(4),)`` for
    ``(4,)``) is checked again.  Plain loops, no generator expressions: this
    runs on every fit, and must cost less than the checks it saves.
    """
    values: list[tuple] = []
    for name in parameter_names(type(estimator)):
        value = getattr(estimator, name)
        kind = type(value)
        if kind in PLAIN_TYPES:
            values.append((name, kind, value))
        elif kind is tuple:
            for element in value:
                if type(element) not in PLAIN_TYPES and not isinstance(element, IMMUTABLE_VALUES):
                    return None
            values.append((name, kind, tuple(map(type, value)), value))
        elif isinstance(value, IMMUTABLE_VALUES) or callable(value):
            values.append((name, kind, value))
        else:
            return None
    return tuple(values)


# The constructor parameters of each estimator class (scikit-learn's ``_get_param_names`` inspects
# the signature at every call).
PARAMETER_NAMES: dict[Any, tuple[str, ...]] = {}


def parameter_names(estimator_type: Any) -> tuple[str, ...]:
    """The constructor parameters of an estimator class, looked up once per class."""
    if estimator_type not in PARAMETER_NAMES:
        PARAMETER_NAMES[estimator_type] = tuple(estimator_type._get_param_names())
    return PARAMETER_NAMES[estimator_type]


# Parameter sets (:func:`parameters_as_checked`) that passed :func:`check_parameters`, per estimator
# class: a new estimator with the parameters of one checked before (a clone fitted on each fold of a
# cross-validation) skips the checks.  Sets holding a callable (a ``callback``) are not kept, so that
# this never keeps a user's function alive; at most VALID_PARAMETER_SETS are kept.
VALID_PARAMETERS: dict[tuple, None] = {}
VALID_PARAMETER_SETS = 256


def known_valid(kind: type, checked: tuple | None) -> bool:
    """Whether estimators of class ``kind`` with the parameters ``checked`` passed :func:`check_parameters` before."""
    return checked is not None and (kind, checked) in VALID_PARAMETERS


def remember_valid(kind: type, checked: tuple | None) -> None:
    """Keep ``checked`` as valid for ``kind`` (after :func:`check_parameters` passed), unless it holds a callable."""
    if checked is None or any(callable(entry[-1]) for entry in checked):
        return
    if len(VALID_PARAMETERS) >= VALID_PARAMETER_SETS:
        VALID_PARAMETERS.clear()
    VALID_PARAMETERS[(kind, checked)] = None


def check_parameters(estimator) -> None:
    """Every constructor parameter of an MLP estimator, checked once per fit (scikit-learn's rules)."""
    check_activation(estimator.activation, len(check_hidden_layer_sizes(estimator.hidden_layer_sizes)))
    for name, allowed in CHOICES.items():
        if getattr(estimator, name) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(estimator, name)!r}")
    for name in FLAGS:
        if not isinstance(getattr(estimator, name), (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {getattr(estimator, name)!r}")
    check_non_negative_float(estimator.alpha, "alpha")
    if not (isinstance(estimator.batch_size, str) and estimator.batch_size == "auto"):
        check_positive_int(estimator.batch_size, "batch_size")
    check_non_negative_float(estimator.learning_rate_init, "learning_rate_init", positive=True)
    check_non_negative_float(estimator.power_t, "power_t")
    check_positive_int(estimator.max_iter, "max_iter")
    check_non_negative_float(estimator.tol, "tol")
    check_unit_interval(estimator.momentum, "momentum", closed_right=True)
    check_unit_interval(estimator.validation_fraction, "validation_fraction", closed_right=False)
    check_unit_interval(estimator.beta_1, "beta_1", closed_right=False)
    check_unit_interval(estimator.beta_2, "beta_2", closed_right=False)
    check_non_negative_float(estimator.epsilon, "epsilon", positive=True)
    if not (isinstance(estimator.n_iter_no_change, Real) and estimator.n_iter_no_change == np.inf):
        check_positive_int(estimator.n_iter_no_change, "n_iter_no_change")
    check_positive_int(estimator.max_fun, "max_fun")
    get_backend(estimator.backend)
    if estimator.n_jobs is not None:
        check_n_jobs(estimator.n_jobs)
    if estimator.dtype is not None:
        check_dtype(estimator.dtype)
    if estimator.callback is not None and not callable(estimator.callback):
        raise TypeError(f"callback must be callable or None, got {estimator.callback!r}")
