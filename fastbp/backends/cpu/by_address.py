"""Calls by address: a threaded kernel runs a compiled loop without compiling it in again.

Numba links the code of every function a compiled function calls into that
function's own code library, then optimises it and makes it into machine code
there once more; and it makes three libraries for each ``prange`` loop (the
loop's body and two wrappers), each linking the body in.  The delta
recursion's loop (:func:`fastbp.backends.cpu.loops.rows_up_and_down`) went
through LLVM six times for one threaded fit (benchmarks/README.md, "Where a
cold compile goes").  :func:`fastbp.backends.cpu.parallel.rows_up_and_down`
calls it through its address instead: the loop compiles once, in its own
library, and the threads' code holds a call.

The addresses live in :data:`ADDRESSES`, a table of this process that compiled
code reads through the LLVM symbol :data:`SYMBOL`: the symbol is resolved when
the code is loaded, so that code cached on disk reads the table of the process
that loads it (an address baked into the code would be stale in the next
process).  :func:`prepare` fills the table, compiling the loop (or loading it
from Numba's cache) for :func:`rows_up_and_down_signature`;
:func:`fastbp.backends.kernel_plan` calls it for every threaded plan.

A function compiled for other argument types, called through the address,
would read its arguments wrongly without any error: the call is typed against
:func:`rows_up_and_down_signature`, the signature :func:`prepare` compiles the
loop for, and refuses any other when it compiles; an empty slot of the table
is a ``RuntimeError`` when the kernel runs (:func:`rows_up_and_down_address`).
"""

import ctypes

import llvmlite.binding
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.callconv import excinfo_t
from numba.core.errors import TypingError
from numba.extending import intrinsic

from fastbp.backends.cpu import loops

# One slot per dtype of the loop called by address.
DTYPES = ("float32", "float64")
SYMBOL = "fastbp_kernel_addresses"
ADDRESSES = (ctypes.c_int64 * len(DTYPES))()
llvmlite.binding.add_symbol(SYMBOL, ctypes.addressof(ADDRESSES))


def rows_up_and_down_signature(dtype) -> tuple:
    """The argument types of :func:`fastbp.backends.cpu.loops.rows_up_and_down` as the threads pass them.

    ``(theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, start, stop, up, down)``,
    the arrays C-contiguous; the same types as the layer-by-layer steps pass.
    """
    real = numba.from_dtype(np.dtype(dtype))
    row, matrix, integers = real[::1], real[:, ::1], types.int64[::1]
    layers = types.UniTuple(types.int64, 2)
    cost = types.Tuple((types.int64, types.float64))
    count = types.int64  # first_layer, n_samples, start, stop
    return (row, integers, integers, cost, row, count, row, matrix, row, count, count, count, layers, layers)


def prepare(dtype) -> None:
    """Put the address of ``loops.rows_up_and_down`` for ``dtype`` in :data:`ADDRESSES`.

    Compiles it (or loads it from Numba's cache) for
    :func:`rows_up_and_down_signature` the first time; the compiled code stays
    as long as the process, held by the loop's dispatcher.
    """
    slot = DTYPES.index(np.dtype(dtype).name)
    if ADDRESSES[slot]:
        return
    signature = rows_up_and_down_signature(dtype)
    loops.rows_up_and_down.compile(signature)
    compiled = loops.rows_up_and_down.overloads[signature]
    ADDRESSES[slot] = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)


def address_slot(builder, slot: int):
    """A pointer to slot ``slot`` of :data:`ADDRESSES`, declared in the module being built."""
    table_type = ir.ArrayType(ir.IntType(64), len(DTYPES))
    try:
        table = builder.module.get_global(SYMBOL)
    except KeyError:
        table = ir.GlobalVariable(builder.module, table_type, SYMBOL)
        table.linkage = "external"
    return builder.gep(table, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), slot)])


@intrinsic
def rows_up_and_down_address(typingctx, theta):
    """The address in :data:`ADDRESSES` of the loop for ``theta``'s dtype (0 before :func:`prepare`)."""
    slot = DTYPES.index(str(theta.dtype))

    def codegen(context, builder, signature, arguments):
        return builder.load(address_slot(builder, slot))

    return types.int64(theta), codegen


@intrinsic
def call_rows_up_and_down(typingctx, arguments):
    """``loops.rows_up_and_down(*arguments)`` through its address, Numba's calling convention and errors kept.

    The arguments (a tuple) must have the types of :func:`rows_up_and_down_signature`.
    """
    dtype = str(arguments.types[0].dtype)
    if dtype not in DTYPES or tuple(arguments.types) != rows_up_and_down_signature(dtype):
        raise TypingError(f"rows_up_and_down by address takes {rows_up_and_down_signature('float64')}, got {arguments}")
    slot = DTYPES.index(dtype)

    def codegen(context, builder, signature, llvm_arguments):
        argument_types = list(arguments.types)
        values = cgutils.unpack_tuple(builder, llvm_arguments[0], len(argument_types))
        convention = context.call_conv
        function_type = convention.get_function_type(types.none, argument_types)
        function = builder.inttoptr(builder.load(address_slot(builder, slot)), function_type.as_pointer())
        # Numba's convention: a slot for the return value, one for an exception, then the arguments.
        returned_type = convention.get_return_type(types.none).pointee
        returned = cgutils.alloca_once(builder, returned_type)
        builder.store(cgutils.get_null_value(returned_type), returned)
        exception = cgutils.alloca_once(builder, ir.PointerType(excinfo_t), name="excinfo")
        packed = convention._get_arg_packer(argument_types).as_arguments(builder, values)
        code = builder.call(function, [returned, exception, *packed])
        status = convention._get_return_status(builder, code, builder.load(exception))
        with builder.if_then(status.is_error, likely=False):
            convention.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return types.none(arguments), codegen
