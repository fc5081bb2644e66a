"""Calls by address: a threaded kernel runs a compiled loop without compiling it in again.

Numba links the code of every function a compiled function calls into that
function's own code library, then optimises it and makes it into machine code
there once more; and it makes three libraries for each ``prange`` loop (the
loop's body and two wrappers), each linking the body in.  The delta
recursion's loop (:func:`fastbp.backends.cpu.loops.rows_up_and_down`) went
through LLVM six times for one threaded fit (benchmarks/README.md, "Where a
cold compile goes").  :func:`fastbp.backends.cpu.parallel.rows_up_and_down`
and :func:`fastbp.backends.cpu.parallel.layer_gradients` call their loops
(:data:`LOOPS`) through their addresses instead: each loop compiles once, in
its own library, and the threads' code holds a call.

The addresses live in :data:`ADDRESSES`, a table of this process that compiled
code reads through the LLVM symbol :data:`SYMBOL`: the symbol is resolved when
the code is loaded, so that code cached on disk reads the table of the process
that loads it (an address baked into the code would be stale in the next
process).  :func:`prepare` fills the table, compiling the loops (or loading
them from Numba's cache) for :func:`signature`;
:func:`fastbp.backends.kernel_plan` calls it for every threaded plan.

A function compiled for other argument types, called through the address,
would read its arguments wrongly without any error: the call (:func:`caller`)
is typed against :func:`signature`, the signature :func:`prepare` compiles the
loop for, and refuses any other when it compiles; an empty slot of the table
is a ``RuntimeError`` when the kernel runs (:func:`address_reader`).
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

# The loops the threads call by address, and the dtypes: one slot of ADDRESSES for each pair.
LOOPS = ("rows_up_and_down", "layer_gradients")
DTYPES = ("float32", "float64")
SYMBOL = "fastbp_kernel_addresses"
ADDRESSES = (ctypes.c_int64 * (len(LOOPS) * len(DTYPES)))()
llvmlite.binding.add_symbol(SYMBOL, ctypes.addressof(ADDRESSES))


def signature(loop: str, dtype) -> tuple:
    """The argument types of ``loops.<loop>`` as the threads pass them, for ``dtype``: the arrays C-contiguous.

    The same types as the layer-by-layer steps pass. ``rows_up_and_down``:
    ``(theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, start, stop, up, down)``;
    ``layer_gradients``: ``(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)``.
    """
    real = numba.from_dtype(np.dtype(dtype))
    row, matrix, integers, count = real[::1], real[:, ::1], types.int64[::1], types.int64
    if loop == "layer_gradients":
        return (matrix, matrix, matrix, real, real, matrix, row, count, count)
    layers = types.UniTuple(types.int64, 2)
    cost = types.Tuple((types.int64, types.float64))
    return (row, integers, integers, cost, row, count, row, matrix, row, count, count, count, layers, layers)


def slot_of(loop: str, dtype) -> int:
    """The slot of ``loop`` compiled for ``dtype`` in :data:`ADDRESSES`."""
    return LOOPS.index(loop) * len(DTYPES) + DTYPES.index(np.dtype(dtype).name)


def prepare(dtype) -> None:
    """Put the address of each loop of :data:`LOOPS` compiled for ``dtype`` in :data:`ADDRESSES`.

    Compiles each (or loads it from Numba's cache) for :func:`signature` the
    first time; the compiled code stays as long as the process, held by the
    loop's dispatcher.
    """
    for loop in LOOPS:
        slot = slot_of(loop, dtype)
        if not ADDRESSES[slot]:
            dispatcher, argument_types = getattr(loops, loop), signature(loop, dtype)
            dispatcher.compile(argument_types)
            compiled = dispatcher.overloads[argument_types]
            ADDRESSES[slot] = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)


def address_slot(builder, slot: int):
    """A pointer to slot ``slot`` of :data:`ADDRESSES`, declared in the module being built."""
    table_type = ir.ArrayType(ir.IntType(64), len(ADDRESSES))
    try:
        table = builder.module.get_global(SYMBOL)
    except KeyError:
        table = ir.GlobalVariable(builder.module, table_type, SYMBOL)
        table.linkage = "external"
    return builder.gep(table, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), slot)])


def address_reader(loop: str):
    """An intrinsic ``(array) -> int64``: the address in :data:`ADDRESSES` of ``loop`` for the array's dtype.

    0 before :func:`prepare`.
    """

    @intrinsic
    def address(typingctx, array):
        slot = slot_of(loop, str(array.dtype))

        def codegen(context, builder, signature, arguments):
            return builder.load(address_slot(builder, slot))

        return types.int64(array), codegen

    return address


def caller(loop: str):
    """An intrinsic ``(arguments) -> result``: ``loops.<loop>(*arguments)`` through its address.

    Numba's calling convention and its errors are kept. The arguments (a
    tuple) must have the types of :func:`signature`: any others are a
    ``TypingError`` when the caller compiles.
    """

    @intrinsic
    def call(typingctx, arguments):
        dtype = str(arguments.types[0].dtype)
        if dtype not in DTYPES or tuple(arguments.types) != signature(loop, dtype):
            raise TypingError(f"{loop} by address takes {signature(loop, 'float64')} (or float32), got {arguments}")
        slot = slot_of(loop, dtype)
        # The loop's result type: compiled here for these types if this process has not yet.
        dispatcher = getattr(loops, loop)
        dispatcher.compile(tuple(arguments.types))
        result_type = dispatcher.overloads[tuple(arguments.types)].signature.return_type

        def codegen(context, builder, llvm_signature, llvm_arguments):
            argument_types = list(arguments.types)
            values = cgutils.unpack_tuple(builder, llvm_arguments[0], len(argument_types))
            convention = context.call_conv
            function_type = convention.get_function_type(result_type, argument_types)
            function = builder.inttoptr(builder.load(address_slot(builder, slot)), function_type.as_pointer())
            # Numba's convention: a slot for the return value, one for an exception, then the arguments.
            returned_type = convention.get_return_type(result_type).pointee
            returned = cgutils.alloca_once(builder, returned_type)
            builder.store(cgutils.get_null_value(returned_type), returned)
            exception = cgutils.alloca_once(builder, ir.PointerType(excinfo_t), name="excinfo")
            packed = convention._get_arg_packer(argument_types).as_arguments(builder, values)
            code = builder.call(function, [returned, exception, *packed])
            status = convention._get_return_status(builder, code, builder.load(exception))
            with builder.if_then(status.is_error, likely=False):
                convention.return_status_propagate(builder, status)
            return context.get_returned_value(builder, result_type, builder.load(returned))

        return result_type(arguments), codegen

    return call


rows_up_and_down_address = address_reader("rows_up_and_down")
call_rows_up_and_down = caller("rows_up_and_down")
layer_gradients_address = address_reader("layer_gradients")
call_layer_gradients = caller("layer_gradients")
