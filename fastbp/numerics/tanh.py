"""The hyperbolic tangent used by the formulas, vectorisable on the CPU.

``math.tanh`` compiles to a call into the C library, one value at a time, and
a loop that calls it cannot be vectorised: the tanh of a hidden layer then
costs more than its multiply-adds.  On the CPU, :func:`tanh` therefore
compiles to plain arithmetic, both of these computed and one selected
without a branch, so that LLVM vectorises loops over it:

    tanh(x) = sign(x) (1 - e) / (1 + e),  e = exp(-2 |x|)   for |x| >= 0.625
    tanh(x) = x + x^3 P(x^2)                                 for |x| < 0.625

The first, with :func:`fastbp.numerics.exp.exp`, has no cancellation: there
``e <= exp(-1.25)``.  Near 0, where ``1 - e`` would lose digits, ``P`` is
the polynomial (float32) or rational function (float64) of Moshier's Cephes
library for that range.  Error, checked against NumPy in the tests: float32
within 3 units in the last place, float64 within 4e-16 relative.  Beyond
``|x| = 0.5 ln(1 / smallest normal)`` the result is exactly +-1; NaN stays NaN
(as ``x + x``, not ``x``: a loop storing tanh in place over its input, where
NaN gave back the value loaded, compiled to masked stores, several times
slower on AMD's cores; see :mod:`fastbp.backends.cpu.lanes`).

Other targets (CUDA) keep ``math.tanh``.
"""

import math

from numba.core import types
from numba.extending import overload

from fastbp.numerics.exp import exp

# The polynomial branch's bound, as in Cephes.
SMALL = 0.625
# tanh(x) = x + x^3 P(x^2) on |x| < 0.625, float32 (Cephes tanhf), highest degree first.
P32 = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)
# tanh(x) = x + x^3 P(x^2) / Q(x^2) on |x| < 0.625, float64 (Cephes tanh); Q is monic.
P64 = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
Q64 = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)


def tanh(x):
    """tanh(x) (plain Python: ``math.tanh``)."""
    return math.tanh(x)


@overload(tanh, target="generic")
def _tanh_generic(x):
    return lambda x: math.tanh(x)


@overload(tanh, target="cpu", inline="always")
def _tanh_cpu(x):
    if not isinstance(x, types.Float):
        return lambda x: math.tanh(x)
    if x.bitwidth == 32:

        def tanh32(x):
            one = type(x)(1.0)
            magnitude = abs(x)
            e = exp(type(x)(-2.0) * magnitude)
            large = (one - e) / (one + e)
            s = x * x
            p = type(x)(P32[0])
            p = p * s + type(x)(P32[1])
            p = p * s + type(x)(P32[2])
            p = p * s + type(x)(P32[3])
            p = p * s + type(x)(P32[4])
            small = p * s * x + x
            result = small if magnitude < type(x)(SMALL) else (large if x >= 0 else -large)
            return result if x == x else x + x

        return tanh32

    def tanh64(x):
        magnitude = abs(x)
        e = exp(-2.0 * magnitude)
        large = (1.0 - e) / (1.0 + e)
        s = x * x
        p = (P64[0] * s + P64[1]) * s + P64[2]
        q = ((s + Q64[0]) * s + Q64[1]) * s + Q64[2]
        small = x + x * s * (p / q)
        result = small if magnitude < SMALL else (large if x >= 0 else -large)
        return result if x == x else x + x

    return tanh64
