"""Element operations the CPU loops emit as LLVM intrinsics, where Numba's own lowering compiles slow code.

:func:`positive_part` is relu's ``max(z, 0)`` as ``llvm.maxnum``: written as
Numba's comparison and select, ``z[n, k] = relu(z[n, k])`` in place let LLVM
see that positive values store what they loaded, and it vectorised the loop
into masked stores of the zeros (``vmaskmovpd``), which AMD's Zen cores run
several times slower than plain stores (benchmarks/README.md, "relu in
place").  ``maxnum`` is a value, not a select of the loaded one, so the loop
stores whole vectors of ``vmaxpd``.  (:func:`fastbp.numerics.tanh.tanh` gives
NaN as ``x + x`` rather than the ``x`` it loaded for the same reason.)
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def positive_part(typingctx, z):
    """max(z, 0) by LLVM's ``maxnum``: as :func:`fastbp.numerics.formulas.relu`, NaN gives 0."""
    if not isinstance(z, types.Float):
        return None

    def codegen(context, builder, signature, args):
        (value,) = args
        kind = value.type
        maxnum = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(kind, [kind, kind]), f"llvm.maxnum.f{z.bitwidth}"
        )
        return builder.call(maxnum, [value, ir.Constant(kind, 0.0)])

    return z(z), codegen
