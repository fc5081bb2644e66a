"""Calls by address: the threads' kernels run a compiled loop without compiling it in again.

Numba links the code of every function a compiled function calls into that
function's own code library, then optimises it and makes it into machine code
there once more; and it makes three libraries for each ``prange`` loop (the
loop's body and two wrappers), each linking the body in.  The input sums'
loop (:func:`fastbp.backends.cpu.loops.input_sum`) and the activations'
went through LLVM eight times each for one threaded fit, the delta
recursion's six times (benchmarks/README.md, "Where a cold compile goes").
The threads' kernels (:mod:`fastbp.backends.cpu.parallel`, and
:func:`fastbp.backends.cpu.loops.rows_up_and_down`, which the threads call)
call the heavy loops of :data:`LOOPS` through their addresses instead
(:func:`caller`): each compiles once, in its own library, and the threads'
code holds a call.  On one thread the loops stay linked in, where LLVM takes
them into the training loop; called by address there, the smallest networks'
epochs ran about 1.4 times longer.

The addresses live in :data:`ADDRESSES`, a table of this process that compiled
code reads through the LLVM symbol :data:`SYMBOL`: the symbol is resolved when
the code is loaded, so that code cached on disk reads the table of the process
that loads it (an address baked into the code would be stale in the next
process).  :func:`prepare` fills the table for a dtype and a kind of work
(:data:`FORWARD`, the threads' forward pass of a prediction; :data:`THREADS`,
all a threaded fit calls), compiling the loops (or loading them from Numba's
cache) for :func:`signature`.  :func:`fastbp.backends.kernel_plan` prepares
every threaded fit's loops, :meth:`fastbp.engine.network.Network.outputs`
a threaded prediction's.

A function compiled for other argument types, called through the address,
would read its arguments wrongly without any error: the call is typed against
:func:`signature`, the signature :func:`prepare` compiles the loop for, and
refuses any other when it compiles.  A call through an empty slot raises a
``RuntimeError`` naming :func:`prepare`; the ``prange`` kernels, whose
threads cannot raise cleanly, check theirs first (:func:`ready`).
"""

import ctypes
import importlib
from typing import Any

import llvmlite.binding
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.callconv import excinfo_t
from numba.core.errors import TypingError
from numba.extending import intrinsic

# The loops called by address, and the dtypes: one slot of ADDRESSES for each pair.
LOOPS = ("input_sum", "activate", "output_delta", "backpropagate", "layer_gradients", "rows_up_and_down")
DTYPES = ("float32", "float64")
# The loops each kind of work calls by address, for prepare: the threads' forward pass of a
# prediction, and everything a fit on threads calls (rows_up_and_down calling the others).
FORWARD = ("input_sum", "activate")
THREADS = LOOPS
SYMBOL = "fastbp_kernel_addresses"
ADDRESSES = (ctypes.c_int64 * (len(LOOPS) * len(DTYPES)))()
llvmlite.binding.add_symbol(SYMBOL, ctypes.addressof(ADDRESSES))
# The loops' dispatchers, by name, as caller() registers them (fastbp.backends.cpu.loops makes the callers).
DISPATCHERS: dict[str, Any] = {}


def signature(loop: str, dtype) -> tuple:
    """The argument types of ``loops.<loop>`` as the threads pass them, for ``dtype``: the arrays C-contiguous.

    ``input_sum``: ``(W, b, a_prev, z, k_start, k_stop)``; ``activate``:
    ``(code, z)``; ``output_delta``: ``(cost, output_code, a, y, s, delta)``;
    ``backpropagate``: ``(W_next, delta_next, code, a, delta)``;
    ``layer_gradients``: ``(W, a_prev, delta, inv_n, decay, dW, db, k_start, k_stop)``;
    ``rows_up_and_down``:
    ``(theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, start, stop, up, down)``.
    """
    real = numba.from_dtype(np.dtype(dtype))
    row, matrix, integers, count = real[::1], real[:, ::1], types.int64[::1], types.int64
    cost = types.Tuple((types.int64, types.float64))
    layers = types.UniTuple(types.int64, 2)
    # theta, sizes, codes, cost, A, first_layer, D, y, s, n_samples, start, stop, up, down
    up_and_down = (row, integers, integers, cost, row, count, row, matrix, row, count, count, count, layers, layers)
    return {
        "input_sum": (matrix, row, matrix, matrix, count, count),
        "activate": (count, matrix),
        "output_delta": (cost, count, matrix, matrix, row, matrix),
        "backpropagate": (matrix, matrix, count, matrix, matrix),
        "layer_gradients": (matrix, matrix, matrix, real, real, matrix, row, count, count),
        "rows_up_and_down": up_and_down,
    }[loop]


def slot_of(loop: str, dtype) -> int:
    """The slot of ``loop`` compiled for ``dtype`` in :data:`ADDRESSES`."""
    return LOOPS.index(loop) * len(DTYPES) + DTYPES.index(np.dtype(dtype).name)


# The (dtype, work) pairs prepare() has made ready: what a call checks first, in a fraction of a microsecond.
READY: set[tuple[np.dtype, tuple[str, ...]]] = set()


def is_ready(dtype, work: tuple[str, ...] = THREADS) -> bool:
    """Whether :func:`prepare` has made ``work`` ready for ``dtype`` (and :func:`clear` has not emptied it since)."""
    return (np.dtype(dtype), work) in READY


def clear(dtype) -> None:
    """Empty the slots of every loop for ``dtype``: the next :func:`prepare` fills them again (for tests)."""
    for loop in LOOPS:
        ADDRESSES[slot_of(loop, dtype)] = 0
    READY.difference_update({key for key in READY if key[0] == np.dtype(dtype)})


def prepare(dtype, work: tuple[str, ...] = THREADS) -> None:
    """Put the address of each loop of ``work`` compiled for ``dtype`` in :data:`ADDRESSES`.

    ``work`` is :data:`FORWARD` or :data:`THREADS`.
    Compiles each loop (or loads it from Numba's cache) for :func:`signature`
    the first time; the compiled code stays as long as the process, held by
    the loop's dispatcher.
    """
    if is_ready(dtype, work):
        return
    importlib.import_module("fastbp.backends.cpu.loops")  # which makes the callers, registering the loops
    for loop in work:
        slot = slot_of(loop, dtype)
        if not ADDRESSES[slot]:
            dispatcher, argument_types = DISPATCHERS[loop], signature(loop, dtype)
            dispatcher.compile(argument_types)
            compiled = dispatcher.overloads[argument_types]
            ADDRESSES[slot] = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)
    READY.add((np.dtype(dtype), work))


def address_slot(builder, slot: int):
    """A pointer to slot ``slot`` of :data:`ADDRESSES`, declared in the module being built."""
    table_type = ir.ArrayType(ir.IntType(64), len(ADDRESSES))
    try:
        table = builder.module.get_global(SYMBOL)
    except KeyError:
        table = ir.GlobalVariable(builder.module, table_type, SYMBOL)
        table.linkage = "external"
    return builder.gep(table, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), slot)])


def slot_is_empty(builder, slot: int):
    """LLVM's ``i1``: whether slot ``slot`` of :data:`ADDRESSES` holds no address, read when the code runs."""
    return builder.icmp_unsigned("==", builder.load(address_slot(builder, slot)), ir.Constant(ir.IntType(64), 0))


@intrinsic
def ready(typingctx, array, *loops):
    """Whether the slots of ``loops`` (string constants) for ``array``'s dtype hold addresses (:func:`prepare`)."""
    names = [getattr(loop, "literal_value", None) for loop in loops]
    if not all(name in LOOPS for name in names) or str(array.dtype) not in DTYPES:
        return None
    slots = [slot_of(name, str(array.dtype)) for name in names]

    def codegen(context, builder, signature, arguments):
        result = ir.Constant(ir.IntType(1), 1)
        for slot in slots:
            result = builder.and_(result, builder.not_(slot_is_empty(builder, slot)))
        return result

    return types.boolean(array, types.StarArgTuple(loops)), codegen


def caller(dispatcher):
    """An intrinsic that calls the compiled ``dispatcher`` (a loop of :data:`LOOPS`) through its address.

    Called with the loop's arguments, which must have the types of
    :func:`signature`: any others are a ``TypingError`` when the caller
    compiles.  Numba's calling convention and its errors are kept; an empty
    slot is a ``RuntimeError`` naming :func:`prepare`.
    """
    loop = dispatcher.py_func.__name__
    DISPATCHERS[loop] = dispatcher

    @intrinsic
    def call(typingctx, *arguments):
        argument_types = tuple(arguments)
        # The dtype of the first array (activate and output_delta lead with an integer code).
        dtype = next((str(kind.dtype) for kind in argument_types if isinstance(kind, types.Array)), None)
        if dtype not in DTYPES or argument_types != signature(loop, dtype):
            raise TypingError(
                f"{loop} by address takes {signature(loop, 'float64')} (or float32), got {argument_types}"
            )
        slot = slot_of(loop, dtype)
        # The loop's result type: compiled here for these types if this process has not yet.
        dispatcher.compile(argument_types)
        result_type = dispatcher.overloads[argument_types].signature.return_type
        message = f"fastbp.backends.cpu.by_address.prepare(dtype) must run before loops.{loop} is called by address"

        def codegen(context, builder, llvm_signature, llvm_arguments):
            values = cgutils.unpack_tuple(builder, llvm_arguments[0], len(argument_types))
            with builder.if_then(slot_is_empty(builder, slot), likely=False):
                context.call_conv.return_user_exc(builder, RuntimeError, (message,))
            convention = context.call_conv
            function_type = convention.get_function_type(result_type, list(argument_types))
            function = builder.inttoptr(builder.load(address_slot(builder, slot)), function_type.as_pointer())
            # Numba's convention: a slot for the return value, one for an exception, then the arguments.
            returned_type = convention.get_return_type(result_type).pointee
            returned = cgutils.alloca_once(builder, returned_type)
            builder.store(cgutils.get_null_value(returned_type), returned)
            exception = cgutils.alloca_once(builder, ir.PointerType(excinfo_t), name="excinfo")
            packed = convention._get_arg_packer(list(argument_types)).as_arguments(builder, values)
            code = builder.call(function, [returned, exception, *packed])
            status = convention._get_return_status(builder, code, builder.load(exception))
            with builder.if_then(status.is_error, likely=False):
                convention.return_status_propagate(builder, status)
            return context.get_returned_value(builder, result_type, builder.load(returned))

        return result_type(types.StarArgTuple(argument_types)), codegen

    return call
