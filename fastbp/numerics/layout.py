"""How parameters and per-sample quantities are stored: flat buffers and views.

A network with layer sizes ``n_0 .. n_L`` passes into compiled code as a few
arrays whatever its depth: the flat parameter buffer ``theta``, the layer sizes
``sizes`` (``int64``, length ``L + 1``) and, for a batch of ``N`` samples, the
flat buffers ``A`` (activations) and ``D`` (deltas).  The functions below cut
the per-layer views out of them.  They are plain Python, used as they are by
the NumPy oracle and compiled by the Numba backends, so that every backend
reads the same storage the same way.  Compiled CPU code gets the 2-d views
from :func:`_matrix_view` (no ``reshape`` checks, no reference counting) and
the index helpers inlined; the CUDA backend compiles the plain functions as
device functions.

``theta`` holds, layer after layer, ``W[l]`` (``n_l * n_{l-1}`` values, row
``k`` = receiving unit) followed by ``b[l]`` (``n_l`` values).  ``A`` holds
``a^0 .. a^L`` and ``D`` holds ``delta^1 .. delta^L``, each layer an
``(N, n_l)`` block, row ``n`` = sample.
"""

import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic, overload, register_jitable
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def _matrix_view(typingctx, buffer, start, rows, cols):
    """``buffer[start : start + rows * cols].reshape((rows, cols))``, for compiled CPU code.

    The view's header is built directly, and the view *borrows* the buffer's
    memory: it carries no meminfo, so creating and dropping it counts no
    references.  The kernels cut several views per layer and mini-batch; with
    ``reshape`` (a call into a runtime helper) and two atomic reference-count
    updates each, the views cost more than the arithmetic of small networks
    (xor, online learning).  A borrowed view must not outlive the buffer it was
    cut from: the kernels use them only while that buffer is an argument of
    the running call, and never return them.  Plain Python (and the NumPy
    oracle) gets ordinary views from :func:`weights` and :func:`layer`.
    """
    view_type = types.Array(buffer.dtype, 2, "C")

    def codegen(context, builder, signature, args):
        start_, rows_, cols_ = (
            context.cast(builder, value, argument_type, types.intp)
            for value, argument_type in zip(args[1:], signature.args[1:])
        )
        source = make_array(signature.args[0])(context, builder, args[0])
        view = make_array(view_type)(context, builder)
        populate_array(
            view,
            data=builder.gep(source.data, [start_], inbounds=True),
            shape=cgutils.pack_array(builder, [rows_, cols_]),
            strides=cgutils.pack_array(builder, [builder.mul(cols_, source.itemsize), source.itemsize]),
            itemsize=source.itemsize,
            meminfo=cgutils.get_null_value(source.meminfo.type),
            parent=cgutils.get_null_value(source.parent.type),
        )
        return view._getvalue()  # borrowed: nothing to incref

    return view_type(buffer, start, rows, cols), codegen


@intrinsic
def borrowed(typingctx, *arrays):
    """The arrays given, as views that *borrow* their memory: no meminfo, so no reference counting.

    Compiled code counts a reference (an atomic operation) for every array it
    passes to a function that it does not inline, and again when that call
    returns: a training loop that passes a few dozen arrays to its steps for
    every mini-batch spent more on those counts than on the arithmetic of a
    small network (benchmarks/README.md, "Borrowed arrays").  Like the views of :func:`_matrix_view`, a
    borrowed array must not outlive the array it was made from: the kernels
    borrow their own arguments, which live as long as the call, and never
    return them.
    """
    if not all(isinstance(array, types.Array) for array in arrays):
        return None

    def codegen(context, builder, signature, args):
        views = []
        for array_type, value in zip(signature.return_type, cgutils.unpack_tuple(builder, args[0])):
            source = make_array(array_type)(context, builder, value)
            view = make_array(array_type)(context, builder)
            populate_array(
                view,
                data=source.data,
                shape=source.shape,
                strides=source.strides,
                itemsize=source.itemsize,
                meminfo=cgutils.get_null_value(source.meminfo.type),
                parent=cgutils.get_null_value(source.parent.type),
            )
            views.append(view._getvalue())
        return context.make_tuple(builder, signature.return_type, views)

    return types.Tuple(arrays)(types.StarArgTuple(arrays)), codegen


def inlined_on_the_cpu(function):
    """Let compiled code call ``function``: inlined into its callers on the CPU.

    Small index computations called for every view of every mini-batch cost
    more as calls than inline.  Other targets (CUDA)
    compile it as an ordinary function: their typing of inlined code failed.
    """

    def implementation(*args):
        return function

    overload(function, target="generic", strict=False)(implementation)
    overload(function, target="cpu", inline="always", strict=False)(implementation)
    return function


@inlined_on_the_cpu
def parameter_start(sizes, l):
    """Index in ``theta`` where ``W[l]`` begins."""
    start = 0
    for i in range(1, l):
        start += sizes[i] * (sizes[i - 1] + 1)
    return start


def weights(theta, sizes, l):
    """``W[l]``, shape ``(n_l, n_{l-1})``: a view into ``theta``."""
    start = parameter_start(sizes, l)
    return theta[start : start + sizes[l] * sizes[l - 1]].reshape((sizes[l], sizes[l - 1]))


@register_jitable
def biases(theta, sizes, l):
    """``b[l]``, shape ``(n_l,)``: a view into ``theta``."""
    start = parameter_start(sizes, l) + sizes[l] * sizes[l - 1]
    return theta[start : start + sizes[l]]


@inlined_on_the_cpu
def layer_start(sizes, l, n_samples, first_layer):
    """Index in a per-sample buffer where layer ``l`` begins (``first_layer``: 0 for ``A``, 1 for ``D``)."""
    start = 0
    for i in range(first_layer, l):
        start += n_samples * sizes[i]
    return start


def layer(buffer, sizes, l, n_samples, first_layer):
    """Layer ``l`` of a per-sample buffer, shape ``(N, n_l)``.

    ``first_layer`` is the layer the buffer starts with: 0 for ``A``, 1 for ``D``.
    """
    start = layer_start(sizes, l, n_samples, first_layer)
    return buffer[start : start + n_samples * sizes[l]].reshape((n_samples, sizes[l]))


@intrinsic
def _inlined_by_llvm(typingctx):
    """Mark the function being compiled ``alwaysinline``: LLVM takes its body into every caller.

    For the views below, which the kernels cut for every layer of every
    mini-batch: as calls (LLVM left :func:`layer`'s out) they took about a
    twentieth of an online epoch.  Numba's own inlining (``inline="always"``)
    would type and lower the body again at each of their dozens of call
    sites, and made the training loop's compile 4 to 7 s longer; LLVM's takes
    in the compiled body, at no cost measured (benchmarks/README.md, "One
    call per layer").
    """

    def codegen(context, builder, signature, args):
        attributes = builder.function.attributes
        # Not where Numba's settings keep the function out of line (NUMBA_OPT=0, debugging): LLVM
        # refuses both marks on one function.
        if "noinline" not in attributes and "optnone" not in attributes:
            attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


@overload(weights, target="cpu")
def _weights_cpu(theta, sizes, l):
    """:func:`weights` compiled for the CPU, its view built by :func:`_matrix_view`."""

    def view(theta, sizes, l):
        _inlined_by_llvm()
        return _matrix_view(theta, parameter_start(sizes, l), sizes[l], sizes[l - 1])

    return view


@overload(layer, target="cpu")
def _layer_cpu(buffer, sizes, l, n_samples, first_layer):
    """:func:`layer` compiled for the CPU, its view built by :func:`_matrix_view`."""

    def view(buffer, sizes, l, n_samples, first_layer):
        _inlined_by_llvm()
        return _matrix_view(buffer, layer_start(sizes, l, n_samples, first_layer), n_samples, sizes[l])

    return view


def parameter_count(sizes) -> int:
    """Length of ``theta``: sum over l of n_l (n_{l-1} + 1)."""
    return int(sum(int(sizes[l]) * (int(sizes[l - 1]) + 1) for l in range(1, len(sizes))))


def activation_buffer(sizes, n_samples: int, dtype) -> np.ndarray:
    """A flat buffer ``A`` for ``a^0 .. a^L`` of up to ``n_samples`` samples."""
    return np.empty(n_samples * int(np.sum(sizes)), dtype=dtype)


def delta_buffer(sizes, n_samples: int, dtype) -> np.ndarray:
    """A flat buffer ``D`` for ``delta^1 .. delta^L`` of up to ``n_samples`` samples."""
    return np.empty(n_samples * int(np.sum(sizes[1:])), dtype=dtype)
