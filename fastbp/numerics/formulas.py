"""The scalar formulas of docs/notation.md, written once as plain Python.

Every backend compiles these same functions for its own target (``numba.njit``
for the CPU backends, ``numba.cuda.jit(device=True)`` for CUDA), so a change
here reaches all of them.  They take and return scalars of one float type:
``type(z)(1.0)`` makes a literal of the argument's own type, so that a float32
kernel never silently computes in float64.

Derivatives are written in terms of the activation ``a = sigma(z)`` (for
example ``sigma'(z) = a (1 - a)`` for the sigmoid): the backward pass then needs
only the activations stored by the forward pass, not the input sums ``z``.

``register_jitable`` leaves each a plain Python function and lets compiled
code call it (and inline it).

The integer codes below name activations and costs inside compiled code,
where strings are not welcome; ``ACTIVATIONS`` and ``COSTS`` map the public
names to them.
"""

import math

from numba.extending import register_jitable

from fastbp.numerics.exp import exp
from fastbp.numerics.tanh import tanh

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

MSE = 0
BINARY_CROSS_ENTROPY = 1
CATEGORICAL_CROSS_ENTROPY = 2
POISSON = 3
# The robust costs of the residual a - y, numbered from ABSOLUTE_ERROR on (robust_term tests code >= it).
ABSOLUTE_ERROR = 4
HUBER = 5
LOG_COSH = 6

ACTIVATIONS = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
}
COSTS = {
    "mse": MSE,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
    "categorical_cross_entropy": CATEGORICAL_CROSS_ENTROPY,
    "poisson": POISSON,
    "absolute_error": ABSOLUTE_ERROR,
    "huber": HUBER,
    "log_cosh": LOG_COSH,
}
# Huber's epsilon by default, where its quadratic meets the linear (HuberRegressor's default value).
HUBER_EPSILON = 1.35
HIDDEN_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "softmax", "exp")


@register_jitable
def sigmoid(z):
    """sigma(z) = 1 / (1 + exp(-z)), evaluated without overflow for any finite z.

    With e = exp(-|z|) <= 1: sigma(z) = 1 / (1 + e) for z >= 0 and e / (1 + e)
    for z < 0.  Both sides are computed and one is selected, without a branch,
    so that a loop of sigmoids vectorises.
    """
    one = type(z)(1.0)
    e = exp(-abs(z))
    return (one if z >= 0 else e) / (one + e)


@register_jitable
def relu(z):
    """relu(z) = max(z, 0)."""
    return z if z > 0 else type(z)(0.0)


@register_jitable
def activation(code, z):
    """a = sigma(z) for the element-wise activations (softmax couples a row)."""
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return tanh(z)
    if code == RELU:
        return relu(z)
    if code == EXP:
        return math.exp(z)
    return z


@register_jitable
def softmax_row(z, n):
    """Row n of ``z`` holds z^L on entry and a^L on return (softmax couples a row)."""
    # a^L_k = exp(z^L_k - m) / sum_i exp(z^L_i - m), m = max_i z^L_i
    subtract_row_max(z, n)
    for k in range(z.shape[1]):
        z[n, k] = exp(z[n, k])
    divide_by_row_sum(z, n)


@register_jitable
def subtract_row_max(z, n):
    """z^L_k - m for every k of row n, m = max_i z^L_i: softmax's exponentials then cannot overflow."""
    m = z[n, 0]
    for k in range(1, z.shape[1]):
        m = max(m, z[n, k])
    for k in range(z.shape[1]):
        z[n, k] -= m


@register_jitable
def divide_by_row_sum(z, n):
    """Row n of ``z`` divided by its sum, in the order of its units: softmax's normalisation."""
    total = z.dtype.type(0.0)
    for k in range(z.shape[1]):
        total += z[n, k]
    for k in range(z.shape[1]):
        z[n, k] /= total


# fastmath=False, said explicitly, here and on the cost derivatives below (the factors of delta^L):
# a function compiled without its own setting takes the fast-math flags of the first kernel that
# compiles it in the process (Numba's flag inheritance), and with "reassoc" LLVM rounded the
# sigmoid's a (1 - a) one way inlined into a kernel compiled in the process and another in a kernel
# loaded from the cache, so that one and two threads could differ in the last bit
# (tests/test_tiles.py, tests/test_parallel.py).  Exact, they are the same everywhere, and cost
# nothing measurable (elementwise products and quotients, vectorised without fast-math).
@register_jitable(fastmath=False)
def activation_derivative(code, a):
    """sigma'(z) written in terms of a = sigma(z)."""
    one = type(a)(1.0)
    if code == SIGMOID:
        return a * (one - a)
    if code == TANH:
        return one - a * a
    if code == RELU:
        return one if a > 0 else type(a)(0.0)
    if code == EXP:
        return a
    return one


@register_jitable(fastmath=False)
def clip_probability(a):
    """Clip a to [eps, 1 - eps] (eps of its float type) before taking a log.

    scikit-learn clips the same way, so the reported cross-entropies agree;
    it keeps ``log`` finite for outputs that are exactly 0 or 1.
    """
    one = type(a)(1.0)
    # The machine epsilon of a's own type: 1 + 1e-10 rounds to 1 in float32 only.
    single = one + type(a)(1e-10) == one
    eps = type(a)(1.1920929e-07) if single else type(a)(2.220446049250313e-16)
    if a < eps:
        return eps
    if a > one - eps:
        return one - eps
    return a


@register_jitable(fastmath=False)
def positive(a):
    """a, at least the smallest normal float of its type: a Poisson rate in a log or a division.

    An exp output underflows to 0 for z below about -745 (float64) or -103
    (float32); the rate is then taken as the smallest normal float, so that
    the cost and its derivative stay finite.
    """
    one = type(a)(1.0)
    single = one + type(a)(1e-10) == one
    tiny = type(a)(1.1754944e-38) if single else type(a)(2.2250738585072014e-308)
    return a if a > tiny else tiny


@register_jitable
def cost_term(cost, a, y):
    """The contribution of one output unit to C_n; ``cost`` is ``(code, parameter)``.

    mse:            1/2 (a - y)^2
    binary xent:    -[y log a + (1 - y) log(1 - a)]
    categorical:    -y log a
    poisson:        y log(y / a) - y + a   (half the Poisson deviance; y log(y / a) = 0 at y = 0)
    absolute error: |a - y|
    huber:          1/2 (a - y)^2 where |a - y| <= epsilon, else epsilon (|a - y| - epsilon / 2)
    log-cosh:       log(cosh(a - y)), as |r| + log(1 + exp(-2 |r|)) - log 2: no overflow for any r

    ``parameter`` is Huber's epsilon (unused by the others).
    """
    code = cost[0]
    one = type(a)(1.0)
    if code == MSE:
        return type(a)(0.5) * (a - y) * (a - y)
    if code == POISSON:
        return (y * math.log(y / positive(a)) if y > 0 else type(a)(0.0)) - y + a
    if code >= ABSOLUTE_ERROR:
        return robust_term(code, type(a)(cost[1]), a - y)
    p = clip_probability(a)
    # A term whose target factor is 0 is 0 (p is clipped, so its logarithm is finite): with
    # one-hot or 0/1 targets one logarithm per sample is computed, not one per output unit.
    # The sums come out bitwise the same.
    if code == BINARY_CROSS_ENTROPY:
        if y == one:
            return -math.log(p)
        if y == 0:
            return -math.log(one - p)
        return -(y * math.log(p) + (one - y) * math.log(one - p))
    if y == 0:
        return type(a)(0.0)
    return -y * math.log(p)


@register_jitable
def robust_term(code, epsilon, r):
    """The absolute error, Huber's cost or log-cosh of the residual r = a - y."""
    size = abs(r)
    if code == ABSOLUTE_ERROR:
        return size
    if code == HUBER:
        return type(r)(0.5) * r * r if size <= epsilon else epsilon * (size - type(r)(0.5) * epsilon)
    # log cosh r = |r| + log(1 + exp(-2|r|)) - log 2: exp(-2|r|) <= 1, never overflows.
    return size + math.log1p(math.exp(type(r)(-2.0) * size)) - type(r)(0.6931471805599453)


@register_jitable(fastmath=False)
def cost_derivative(cost, a, y):
    """dC_n/da^L_k for one output unit (before the 1/N of the batch mean); ``cost`` is ``(code, parameter)``.

    For the absolute error, sign(a - y), taking the subgradient 0 at a = y; for Huber's,
    a - y clipped to [-epsilon, epsilon]; for log-cosh, tanh(a - y).
    """
    code = cost[0]
    one = type(a)(1.0)
    if code == MSE:
        return a - y
    if code == POISSON:
        return one - y / positive(a)
    if code >= ABSOLUTE_ERROR:
        return robust_derivative(code, type(a)(cost[1]), a - y)
    p = clip_probability(a)
    if code == BINARY_CROSS_ENTROPY:
        return -y / p + (one - y) / (one - p)
    return -y / p


@register_jitable(fastmath=False)
def robust_derivative(code, epsilon, r):
    """d/dr of :func:`robust_term`: sign(r) (0 at r = 0), r clipped to [-epsilon, epsilon], tanh(r)."""
    if code == ABSOLUTE_ERROR:
        if r == 0:
            return type(r)(0.0)
        return type(r)(1.0) if r > 0 else type(r)(-1.0)
    if code == HUBER:
        return min(max(r, -epsilon), epsilon)
    return math.tanh(r)


@register_jitable
def is_canonical_pair(output_code, cost):
    """True where delta^L_k = dC_n/da^L_k sigma'(z^L_k) simplifies to a^L_k - y_k (``cost``: ``(code, parameter)``).

    identity + mse, sigmoid + binary cross-entropy, softmax + categorical
    cross-entropy and exp + poisson (``(1 - y / a) a``): the factors cancel
    exactly, and ``a - y`` is also the numerically better way to compute it.
    """
    code = cost[0]
    return (
        (output_code == IDENTITY and code == MSE)
        or (output_code == EXP and code == POISSON)
        or (output_code == SIGMOID and code == BINARY_CROSS_ENTROPY)
        or (output_code == SOFTMAX and code == CATEGORICAL_CROSS_ENTROPY)
    )
