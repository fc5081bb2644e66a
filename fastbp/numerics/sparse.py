"""Inputs stored as compressed sparse rows (CSR), and the activations that go with them.

Text features (TF-IDF, hashing) reach fastbp as scipy's CSR matrices: of the
``n_0`` inputs of a sample only a few ``x_j`` are not zero.  The kernels take
such inputs as a :class:`CSRRows`, the three arrays of the CSR format::

    the nonzero x_j(n) are data[p], j = indices[p], for p in indptr[n] .. indptr[n + 1] - 1

``indptr`` holds absolute positions in ``data`` and ``indices``: the rows
``start .. stop - 1`` are the same ``data`` and ``indices`` with
``indptr[start : stop + 1]`` (:func:`rows`), no copy.

A network fed CSR inputs never stores ``a^0``: its activations ``A`` are a
:class:`SparseActivations`, ``a^1 .. a^L`` in a flat buffer laid out like the
deltas ``D`` (it starts at layer 1) beside the batch's inputs as CSR rows.
The functions below give compiled code (through Numba overloads, chosen when
the caller compiles, most of them inlined) and plain Python the same view of
both kinds of inputs: a kernel written with them compiles once for dense
inputs and once for CSR inputs, each variant with only its own code
(:func:`by_inputs`).
"""

import inspect
from typing import NamedTuple

import numpy as np
from numba.core import types
from numba.extending import overload, register_jitable

from fastbp.numerics import layout
from fastbp.numerics.layout import _matrix_view, borrowed


class CSRRows(NamedTuple):
    """Rows of inputs in the CSR format: ``data`` (the nonzero x_j), ``indices`` (their j), ``indptr`` (row starts).

    ``n_columns`` is ``n_0``, the number of inputs of a row, zero or not.
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n_columns: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``, as a dense array of these inputs would have (plain Python only)."""
        return (self.indptr.shape[0] - 1, self.n_columns)

    @property
    def dtype(self) -> np.dtype:
        """The inputs' float type (plain Python only)."""
        return self.data.dtype


class SparseActivations(NamedTuple):
    """``A`` for CSR inputs: ``hidden`` holds ``a^1 .. a^L`` (laid out like ``D``), ``inputs`` the batch's ``a^0``."""

    hidden: np.ndarray
    inputs: CSRRows


def is_csr(value_type) -> bool:
    """Whether a Numba type is that of a :class:`CSRRows`."""
    return isinstance(value_type, types.NamedTuple) and value_type.instance_class is CSRRows


def is_sparse_activations(value_type) -> bool:
    """Whether a Numba type is that of a :class:`SparseActivations`."""
    return isinstance(value_type, types.NamedTuple) and value_type.instance_class is SparseActivations


def row_count(X):
    """How many samples (rows) ``X`` holds, dense or CSR."""
    return X.indptr.shape[0] - 1 if isinstance(X, CSRRows) else X.shape[0]


def rows(X, start, stop):
    """Rows ``start .. stop - 1`` of ``X``, dense or CSR, without a copy."""
    if isinstance(X, CSRRows):
        return CSRRows(X.data, X.indices, X.indptr[start : stop + 1], X.n_columns)
    return X[start:stop]


def input_block(A, sizes, n_samples):
    """``a^0`` of a batch of ``n_samples``: layer 0 of a dense ``A``, the CSR rows of a :class:`SparseActivations`."""
    if isinstance(A, SparseActivations):
        return CSRRows(A.inputs.data, A.inputs.indices, A.inputs.indptr[: n_samples + 1], A.inputs.n_columns)
    return layout.layer(A, sizes, 0, n_samples, 0)


def activations_layer(A, sizes, l, n_samples):
    """``a^l`` (``l >= 1``) of a batch, ``(N, n_l)``, from a dense ``A`` or a :class:`SparseActivations`."""
    if isinstance(A, SparseActivations):
        return layout.layer(A.hidden, sizes, l, n_samples, 1)
    return layout.layer(A, sizes, l, n_samples, 0)


def dense_layers(A):
    """``(buffer, first)``: the dense buffer of ``A``'s activations and its first layer (:func:`layout.layer`).

    A dense ``A`` and 0; for a :class:`SparseActivations` its ``hidden`` and 1 (no ``a^0``).
    """
    if isinstance(A, SparseActivations):
        return A.hidden, 1
    return A, 0


def dense_rows(X):
    """``X`` if it is dense; for CSR rows an empty ``(0, n_0)`` array (typed as dense rows, never read)."""
    if isinstance(X, CSRRows):
        return np.empty((0, X.n_columns), dtype=X.data.dtype)
    return X


def buffer_rows(A, sizes):
    """How many samples' activations ``A`` has room for."""
    if isinstance(A, SparseActivations):
        return A.hidden.shape[0] // int(np.sum(sizes[1:]))
    return A.shape[0] // int(np.sum(sizes))


def borrow(value):
    """An array, :class:`CSRRows` or :class:`SparseActivations` as borrowed views (:func:`layout.borrowed`).

    Plain Python gets ``value`` back; compiled code gets views without reference counting.
    """
    return value


@overload(row_count, target="cpu", inline="always")
def _row_count_cpu(X):
    if is_csr(X):
        return lambda X: X.indptr.shape[0] - 1
    return lambda X: X.shape[0]


@overload(rows, target="cpu", inline="always")
def _rows_cpu(X, start, stop):
    if is_csr(X):
        return lambda X, start, stop: CSRRows(X.data, X.indices, X.indptr[start : stop + 1], X.n_columns)
    return lambda X, start, stop: X[start:stop]


@overload(input_block, target="cpu", inline="always")
def _input_block_cpu(A, sizes, n_samples):
    if is_sparse_activations(A):
        return lambda A, sizes, n_samples: CSRRows(
            A.inputs.data, A.inputs.indices, A.inputs.indptr[: n_samples + 1], A.inputs.n_columns
        )
    return lambda A, sizes, n_samples: layout.layer(A, sizes, 0, n_samples, 0)


@overload(activations_layer, target="cpu", inline="always")
def _activations_layer_cpu(A, sizes, l, n_samples):
    if is_sparse_activations(A):
        return lambda A, sizes, l, n_samples: layout.layer(A.hidden, sizes, l, n_samples, 1)
    return lambda A, sizes, l, n_samples: layout.layer(A, sizes, l, n_samples, 0)


@register_jitable
def units_from(sizes, first):
    """sum_l n_l for l = first .. L (a loop: np.sum would compile a reduction of its own)."""
    units = 0
    for l in range(first, sizes.shape[0]):
        units += sizes[l]
    return units


@overload(dense_layers, target="cpu", inline="always")
def _dense_layers_cpu(A):
    # The first layer as an int64, not a literal: dense and CSR fits then share one variant of the
    # loops that take it (fastbp.backends.cpu.loops.rows_up_and_down).
    if is_sparse_activations(A):
        return lambda A: (A.hidden, np.int64(1))
    return lambda A: (A, np.int64(0))


@overload(dense_rows, target="cpu", inline="always")
def _dense_rows_cpu(X):
    if is_csr(X):
        return lambda X: _matrix_view(X.data, 0, 0, X.n_columns)
    return lambda X: X


@overload(buffer_rows, target="cpu")
def _buffer_rows_cpu(A, sizes):
    if is_sparse_activations(A):
        return lambda A, sizes: A.hidden.shape[0] // units_from(sizes, 1)
    return lambda A, sizes: A.shape[0] // units_from(sizes, 0)


@overload(borrow, target="cpu")
def _borrow_cpu(value):
    if is_csr(value):
        return lambda value: CSRRows(*borrowed(value.data, value.indices, value.indptr), value.n_columns)
    if is_sparse_activations(value):
        return lambda value: SparseActivations(borrowed(value.hidden)[0], borrow(value.inputs))
    return lambda value: borrowed(value)[0]


def by_inputs(argument: int, dense, csr):
    """A function that runs ``dense(*args)``, or ``csr(*args)`` where argument ``argument`` is a :class:`CSRRows`.

    Compiled callers get the choice made when they compile (a Numba
    overload, inlined into them): each variant links only the function it
    runs, and calls it with no call between.  Plain Python chooses at each
    call.  ``dense`` and ``csr`` may be inlined kernels only where they
    prune no branch: Numba prunes a branch by the type of an argument (``x is
    not None``) only where the argument is the compiled function's own, which
    it is not once inlined through an overload, so kernels that prune (by
    ``n_threads`` or ``tiles``) must be compiled on their own.  The function has the
    parameters of ``dense``, written out (its source generated, as Numba
    generates its own), since Numba's IR inlining takes no ``*args``.
    """
    return chosen_by_type(argument, dense, csr, CSRRows, is_csr)


def by_activations(argument: int, dense, sparse):
    """:func:`by_inputs` for ``A``: ``sparse(*args)`` where argument ``argument`` is a :class:`SparseActivations`."""
    return chosen_by_type(argument, dense, sparse, SparseActivations, is_sparse_activations)


def chosen_by_type(argument: int, first, second, second_class: type, is_second_type):
    """``second(*args)`` where argument ``argument`` is a ``second_class``, else ``first(*args)`` (:func:`by_inputs`).

    ``is_second_type`` tells a ``second_class`` by its Numba type, for compiled callers.
    """
    parameters = list(inspect.signature(getattr(first, "py_func", first)).parameters)
    names, chooser = ", ".join(parameters), parameters[argument]
    namespace = {"__name__": __name__, "Second": second_class, "is_second": is_second_type}
    namespace.update(first=first, second=second)
    exec(
        f"def either({names}):\n"
        f"    return (second if isinstance({chooser}, Second) else first)({names})\n"
        f"def implementation({names}):\n"
        f"    chosen = second if is_second({chooser}) else first\n"
        f"    return lambda {names}: chosen({names})\n",
        namespace,
    )
    either = namespace["either"]
    overload(either, target="cpu", inline="always")(namespace["implementation"])
    either.__name__ = either.__qualname__ = f"{first.__name__}_or_{second.__name__}"
    either.__doc__ = f"``{first.__name__}``, or ``{second.__name__}`` for {second_class.__name__} (:func:`by_inputs`)."
    return either


def batch_capacity(X: CSRRows, n_samples: int) -> int:
    """The most nonzeros any ``n_samples`` rows of ``X`` hold: the sum of its ``n_samples`` longest rows."""
    lengths = np.diff(X.indptr)
    if n_samples >= lengths.shape[0]:
        return int(lengths.sum())
    return int(np.partition(lengths, lengths.shape[0] - n_samples)[lengths.shape[0] - n_samples :].sum())


def activation_buffers(X, sizes, n_samples: int, dtype, gather: bool = True):
    """``A`` for batches of up to ``n_samples`` rows of ``X``: dense, or a :class:`SparseActivations` for CSR ``X``.

    For CSR inputs, ``gather`` gives the batch's CSR rows room for the
    nonzeros of any ``n_samples`` rows of ``X`` (:func:`batch_capacity`);
    without it (prediction reads the rows of ``X`` where they are) they have none.
    """
    if not isinstance(X, CSRRows):
        return layout.activation_buffer(sizes, n_samples, dtype)
    capacity = batch_capacity(X, n_samples) if gather else 0
    inputs = CSRRows(
        np.empty(capacity, dtype=X.data.dtype),
        np.empty(capacity, dtype=X.indices.dtype),
        np.zeros(n_samples + 1 if gather else 1, dtype=X.indptr.dtype),
        X.n_columns,
    )
    return SparseActivations(layout.delta_buffer(sizes, n_samples, dtype), inputs)


def activations_of(X, sizes, dtype):
    """``A`` for all the rows of ``X`` at once, with ``a^0 = X``: copied into a dense ``A``, or ``X`` itself if CSR."""
    n_samples = X.shape[0]
    if isinstance(X, CSRRows):
        return SparseActivations(layout.delta_buffer(sizes, n_samples, dtype), X)
    A = layout.activation_buffer(sizes, n_samples, dtype)
    layout.layer(A, sizes, 0, n_samples, 0)[:] = X
    return A
