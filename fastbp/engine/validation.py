"""The engine's checks and conversions of user input, done once, at the API boundary.

Kernels trust their inputs: by the time an array reaches compiled code it is
C-contiguous, of the network's float type, finite and of matching shape.
Normalising here also means one compiled signature per dtype, whatever the
layout, order or writeability of the user's arrays.
"""

import os
import sys
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from fastbp.numerics.formulas import (
    ACTIVATIONS,
    BINARY_CROSS_ENTROPY,
    CATEGORICAL_CROSS_ENTROPY,
    COSTS,
    EXP,
    HIDDEN_ACTIVATIONS,
    IDENTITY,
    OUTPUT_ACTIVATIONS,
    POISSON,
)
from fastbp.numerics.layout import parameter_count
from fastbp.numerics.sparse import CSRRows

FLOAT_DTYPES = (np.float32, np.float64)

ACTIVATION_ALIASES = {"logistic": "sigmoid", "linear": "identity"}
# The losses of a regression by their scikit-learn names (MLPRegressor's ``loss``, ``fastbp train --loss``):
# costs of fastbp, squared_error being mse's alias.
REGRESSION_LOSSES = ("squared_error", "poisson", "absolute_error", "huber", "log_cosh")
COST_ALIASES = {
    "quadratic": "mse",
    "squared_error": "mse",
    "binary_crossentropy": "binary_cross_entropy",
    "bce": "binary_cross_entropy",
    "categorical_crossentropy": "categorical_cross_entropy",
    "cross_entropy": "categorical_cross_entropy",
    "log_loss": "categorical_cross_entropy",
}


def check_dtype(dtype) -> np.dtype:
    """The float type to compute in: float32 or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if resolved.type not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def kernel_array(values: np.ndarray, dtype) -> np.ndarray:
    """``values`` as a C-contiguous, aligned, writeable array of ``dtype``, copied only if it is not one.

    Numba compiles one signature per layout and per writeability: a
    read-only or Fortran-ordered array would compile the kernels again.
    """
    if type(values) is np.ndarray and values.dtype == dtype:
        flags = values.flags
        if flags.c_contiguous and flags.aligned and flags.writeable:
            return values  # what np.require returns for it, in a fifth of its time (every fit calls this)
    return np.require(values, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED", "WRITEABLE"])


def as_array(array, name: str) -> np.ndarray:
    """``np.asarray(array)``, a ragged nested list refused with a ``ValueError`` that names ``name``."""
    try:
        return np.asarray(array)
    except ValueError as error:
        raise ValueError(f"{name} is not a rectangular array of numbers: {error}") from error


def check_array(array, name: str, dtype, ndim: int = 2) -> np.ndarray:
    """``array`` as a finite, non-empty, C-contiguous, writeable array of ``dtype``.

    Integer and boolean arrays are converted; object, string and complex arrays
    are refused with a ``TypeError``; NaN or inf values, empty arrays, ragged
    nested lists and a wrong number of dimensions with a ``ValueError``.
    """
    dtype = check_dtype(dtype)
    values = as_array(array, name)
    if values.dtype.kind == "c":
        raise TypeError(f"{name} has complex values ({values.dtype}); fastbp needs real numbers")
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got an array of dtype {values.dtype}")
    if values.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-dimensional array, got {values.ndim} dimension(s) with shape {values.shape}"
        )
    if values.size == 0:
        raise ValueError(f"{name} is empty (shape {values.shape}); it needs at least one sample and one column")
    with np.errstate(over="ignore", invalid="ignore"):
        converted = kernel_array(values, dtype)
    if not all_finite(converted):
        raise ValueError(f"{name} contains NaN or infinite values (after conversion to {dtype})")
    return converted


def all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite.

    One pass of ``np.isfinite`` and ``all``: no slower than summing first (a
    NaN or infinity makes the sum non-finite) at any size measured, faster
    on small arrays and on float32, and it needs no guard against the sum's
    overflow (benchmarks/README.md, "Network.fit's Python per call, again").
    """
    return bool(np.isfinite(values).all())


def check_targets(Y, n_samples: int, n_outputs: int, dtype) -> np.ndarray:
    """Targets ``Y`` as an ``(N, n_L)`` array; a 1-d ``Y`` is a single output."""
    values = as_array(Y, "Y")
    if values.ndim == 1 and n_outputs == 1:
        values = values.reshape(-1, 1)
    Y = check_array(values, "Y", dtype, ndim=2)
    if Y.shape[0] != n_samples:
        raise ValueError(f"X and Y have different numbers of samples: {n_samples} and {Y.shape[0]}")
    if Y.shape[1] != n_outputs:
        raise ValueError(f"Y has {Y.shape[1]} column(s) but the network has {n_outputs} output unit(s)")
    return Y


def check_inputs(X, n_inputs: int, dtype) -> np.ndarray | CSRRows:
    """Inputs ``X`` as an ``(N, n_0)`` array, or as :class:`CSRRows` if ``X`` is a scipy sparse matrix or array."""
    X = check_sparse(X, "X", dtype) if is_sparse(X) else check_array(X, "X", dtype, ndim=2)
    if X.shape[1] != n_inputs:
        raise ValueError(f"X has {X.shape[1]} feature(s) but the network has {n_inputs} input unit(s)")
    return X


def is_sparse(X) -> bool:
    """Whether ``X`` is a scipy sparse matrix or array (scipy, an optional dependency, is not imported for it)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


# The backends that read dense inputs only, and what to do instead.
DENSE_ONLY = {
    "cuda": "train on the CPU (backend 'auto', 'serial' or 'parallel' read sparse X without densifying it), "
    "or pass X.toarray() if the dense matrix fits in the GPU's memory",
    "reference": "the textbook loops read dense rows; backends 'auto', 'serial' and 'parallel' read sparse X, "
    "or pass X.toarray() for a small X",
}


def check_backend_reads(backend: str, X) -> None:
    """A ``TypeError`` where ``backend`` cannot read ``X``: the CUDA and reference backends take dense inputs only."""
    if backend in DENSE_ONLY and (isinstance(X, CSRRows) or is_sparse(X)):
        raise TypeError(f"the {backend} backend takes dense inputs only, and X is sparse: {DENSE_ONLY[backend]}")


def index_dtype(n_nonzeros: int, n_columns: int) -> np.dtype:
    """The index type of CSR inputs: int32 where every index fits (scipy's own choice then), else int64.

    One type for all inputs that fit, so that the kernels compile once for them.
    """
    return np.dtype(np.int32 if max(n_nonzeros, n_columns) < 2**31 else np.int64)


def check_sparse(X, name: str, dtype) -> CSRRows:
    """A scipy sparse ``X`` (any format) as canonical, finite :class:`CSRRows` of ``dtype``; ``X`` is left untouched.

    CSC, COO and the other formats are converted to CSR once; unsorted or
    duplicate indices are put in order (duplicates summed) on a copy; the
    values are converted to ``dtype`` and the indices to :func:`index_dtype`,
    copies made only where needed.  Complex and non-numeric values are refused
    with a ``TypeError``; NaN or infinite stored values, an empty matrix and a
    shape other than 2-d with a ``ValueError``.  Empty rows, and a matrix of
    zeros only, are valid inputs.
    """
    dtype = check_dtype(dtype)
    if X.dtype.kind == "c":
        raise TypeError(f"{name} has complex values ({X.dtype}); fastbp needs real numbers")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got a sparse matrix of dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got a sparse array of shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); it needs at least one sample and one column")
    rows = X.tocsr()
    if not rows.has_canonical_format:
        rows = rows.copy() if rows is X else rows
        rows.sum_duplicates()
    with np.errstate(over="ignore", invalid="ignore"):
        data = kernel_array(rows.data, dtype)
    if not all_finite(data):
        raise ValueError(f"{name} contains NaN or infinite stored values (after conversion to {dtype})")
    indices = index_dtype(rows.nnz, X.shape[1])
    return CSRRows(data, kernel_array(rows.indices, indices), kernel_array(rows.indptr, indices), int(X.shape[1]))


def check_sizes(sizes, dtype="float64") -> np.ndarray:
    """Layer sizes ``n_0 .. n_L``: at least two positive integers, whose parameters fit in memory.

    The parameters take ``P`` values of ``dtype``, plus ``P`` float64 values
    while they are drawn (see :meth:`fastbp.Network._initial_parameters`).
    """
    try:
        values = list(sizes)
    except TypeError as error:
        raise TypeError(f"sizes must be a sequence of layer sizes, got {sizes!r}") from error
    if len(values) < 2:
        raise ValueError(f"sizes needs at least an input and an output layer, got {values}")
    for size in values:
        if isinstance(size, bool) or not isinstance(size, Integral):
            raise TypeError(f"layer sizes must be integers, got {size!r} in {values}")
        if size < 1:
            raise ValueError(f"layer sizes must be at least 1, got {size} in {values}")
    n_parameters = parameter_count(values)
    check_memory(
        n_parameters * (check_dtype(dtype).itemsize + 8), f"the {n_parameters:,} parameters of layer sizes {values}"
    )
    return np.array(values, dtype=np.int64)


def check_theta(theta, sizes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``theta`` as the flat parameters of layers ``sizes``: finite values of ``dtype``, as many as needed, a copy."""
    values = as_array(theta, "theta")
    expected = parameter_count(sizes)
    if values.ndim == 1 and values.shape[0] != expected:
        raise ValueError(f"theta has {values.shape[0]} values but layer sizes {sizes.tolist()} need {expected}")
    checked = check_array(values, "theta", dtype, ndim=1)
    return checked.copy() if checked is values else checked


def check_activation(name, allowed: tuple, role: str) -> int:
    """The integer code of an activation name allowed in ``role``."""
    if not isinstance(name, str):
        raise TypeError(f"{role} activation must be a string, got {name!r}")
    canonical = ACTIVATION_ALIASES.get(name, name)
    if canonical not in allowed:
        raise ValueError(f"unknown {role} activation {name!r}; choose one of {', '.join(allowed)}")
    return ACTIVATIONS[canonical]


def check_cost(name, output_code: int) -> int:
    """The integer code of a cost name, checked against the output activation."""
    if not isinstance(name, str):
        raise TypeError(f"cost must be a string, got {name!r}")
    canonical = COST_ALIASES.get(name, name)
    if canonical not in COSTS:
        raise ValueError(f"unknown cost {name!r}; choose one of {', '.join(COSTS)}")
    code = COSTS[canonical]
    if code in (BINARY_CROSS_ENTROPY, CATEGORICAL_CROSS_ENTROPY) and output_code in (IDENTITY, EXP):
        raise ValueError(f"the {canonical} cost needs outputs in (0, 1): use a sigmoid or softmax output")
    if code == POISSON and output_code == IDENTITY:
        raise ValueError("the poisson cost needs positive outputs: use an exp, sigmoid or softmax output, not identity")
    return code


def per_hidden_layer(value, n_hidden: int, name: str, holder: str) -> list:
    """``value`` once for each of ``n_hidden`` hidden layers: a string for all of them, or a sequence of one per layer.

    A NumPy array of names is read as its ``tolist()`` (a 0-d array is one
    name).  A sequence of another length than ``n_hidden`` is refused with a
    ``ValueError`` naming both lengths (``holder`` is what has the hidden
    layers); anything but a string or a sequence (a set has no order) with a
    ``TypeError``.  The entries are the caller's to check.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str):
        return [value] * n_hidden
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise TypeError(
            f"{name} must be one activation name, or a sequence of names one per hidden layer; got {value!r}"
        )
    if len(value) != n_hidden:
        raise ValueError(
            f"{name} has {len(value)} name(s) but {holder} has {n_hidden} hidden layer(s): "
            "give one name for all of them, or one per hidden layer"
        )
    return list(value)


def check_hidden_activations(hidden_activation, n_hidden: int) -> list[int]:
    """The codes of ``sigma_1 .. sigma_{n_hidden}``: one name for every hidden layer, or one per layer."""
    if isinstance(hidden_activation, np.ndarray) and hidden_activation.ndim == 0:
        hidden_activation = str(hidden_activation)
    if isinstance(hidden_activation, str):  # one name, checked even without hidden layers
        return [check_activation(hidden_activation, HIDDEN_ACTIVATIONS, "hidden")] * n_hidden
    names = per_hidden_layer(hidden_activation, n_hidden, "hidden_activation", "the network")
    return [check_activation(name, HIDDEN_ACTIVATIONS, f"hidden layer {l}") for l, name in enumerate(names, 1)]


def hidden_and_output_codes(n_layers: int, hidden_activation, output_activation) -> np.ndarray:
    """Codes ``sigma_0 .. sigma_L`` (``sigma_0`` unused) for the compiled kernels.

    ``hidden_activation`` is one name for the hidden layers ``1 .. L-1``, or
    a sequence of one name per hidden layer (:func:`check_hidden_activations`).
    """
    hidden = check_hidden_activations(hidden_activation, n_layers - 1)
    output = check_activation(output_activation, OUTPUT_ACTIVATIONS, "output")
    return np.array([IDENTITY, *hidden, output], dtype=np.int64)


def check_positive_int(value, name: str) -> int:
    """A positive integer (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def check_seed(seed) -> int | None:
    """A seed: a non-negative integer, or None for a fresh one (a bool is refused)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise TypeError(f"seed must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def check_non_negative_float(value, name: str, positive: bool = False) -> float:
    """A finite real number, >= 0 (or > 0 with ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where ``os.sysconf`` cannot tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(n_bytes: int, what: str) -> None:
    """Refuse, before allocating, ``n_bytes`` for ``what`` if they exceed the physical memory.

    The bound is deliberately simple: no request larger than the machine's
    whole physical memory (:func:`physical_memory`) can succeed without
    swapping for hours or being killed, so it is refused with its size named.
    """
    limit = physical_memory()
    if limit is not None and n_bytes > limit:
        raise ValueError(
            f"{what} would need {n_bytes / 2**30:,.1f} GiB ({n_bytes:,} bytes), more than this machine's "
            f"{limit / 2**30:,.1f} GiB of physical memory"
        )


def check_buffers_fit(sizes, n_samples: int, dtype, what: str, deltas: bool = True) -> None:
    """Refuse the activations (and ``deltas``) of ``n_samples`` samples if they would not fit in memory."""
    units = sum(int(size) for size in sizes)
    values = int(n_samples) * (units + (units - int(sizes[0]) if deltas else 0))
    check_memory(values * np.dtype(dtype).itemsize, f"{what} ({n_samples:,} samples through layers of {units:,} units)")


# What makes a network, for the checks below (this module sits under fastbp.engine.network and cannot import it).
NETWORK_ATTRIBUTES = ("theta", "sizes", "codes", "cost_code", "l2", "kernel_arguments")


def check_network(network):
    """``network`` if it is a :class:`~fastbp.Network` (it has a network's storage); a ``TypeError`` if not."""
    if not all(hasattr(network, name) for name in NETWORK_ATTRIBUTES):
        raise TypeError(f"network must be a fastbp.Network, got {type(network).__name__}")
    return network


def check_layer_list(arrays, sizes, name: str) -> None:
    """``arrays`` must be a list or tuple of one entry per layer ``0 .. L``."""
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(
            f"{name} must be a list of one array per layer 0 .. {len(sizes) - 1}, got {type(arrays).__name__}"
        )
    if len(arrays) != len(sizes):
        raise ValueError(f"{name} must hold one array per layer 0 .. {len(sizes) - 1}, got {len(arrays)}")
