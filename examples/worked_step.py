r"""
Worked step: one SGD step of a 2-2-1 network by hand
====================================================

Backpropagation worked by hand, as textbooks do it, with every number written out: one step of
stochastic gradient descent on one sample, for a network of two inputs, two sigmoid hidden units
and one sigmoid output, with the ``mse`` cost and no weight decay.

Every value comes from fastbp's own functions (:class:`fastbp.Network` and
``fastbp.functional.forward``, ``cost``, ``deltas``, ``gradients``, ``update``).  Each printed
line writes a formula of docs/notation.md out with the numbers printed beside it, to six
significant digits, and the script checks that this arithmetic, redone from the printed numbers,
gives fastbp's value.

Units are numbered from 1 in the printed text, as in textbooks; the code numbers them from 0, so
the printed ``W^1_12`` is ``W[1][0, 1]`` in the code.  Layers are numbered alike in both: layer 0
is the input, layer 1 the hidden layer, layer 2 the output.

Run: python examples/worked_step.py
"""

# %%
# The chosen numbers
# ------------------
#
# Round numbers, so that the first lines can be checked by hand.  ``WEIGHTS[l]`` is
# :math:`W^l`, one row per receiving unit :math:`k` and one column per emitting unit
# :math:`j`, as fastbp stores it; they are written into the network's views ``W[l]`` and
# ``b[l]``.

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastbp import Network, functional

SAMPLE = np.array([0.05, 0.10])  # x = a^0
TARGET = np.array([0.01])  # y
WEIGHTS = (None, np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([[0.40, 0.45]]))
BIASES = (None, np.array([0.35, 0.35]), np.array([0.60]))
ALPHA = 0.5  # the learning rate
# The printed numbers have DIGITS significant digits: each is off by at most 5e-6 of itself.  A line's
# arithmetic multiplies at most four of them, 1 - a among them (its error, that of a, is a larger part
# of it as a nears 1); redone from the printed numbers, it lands within TOLERANCE of fastbp's float64
# value, relatively.
DIGITS = 6
TOLERANCE = 5e-5


def initial_network() -> Network:
    """The 2-2-1 network of sigmoid units and ``mse`` cost, with the chosen weights and biases.

    Returns
    -------
    Network
        Float64, no weight decay; ``W[l]`` and ``b[l]`` hold ``WEIGHTS[l]`` and ``BIASES[l]``.
    """
    network = Network([2, 2, 1], hidden_activation="sigmoid", output_activation="sigmoid", cost="mse", l2=0.0)
    for l in range(1, network.L + 1):
        network.W[l][:] = WEIGHTS[l]
        network.b[l][:] = BIASES[l]
    return network


# %%
# fastbp computes the step
# ------------------------
#
# The four calls of one training step, on a batch of one row (:math:`N = 1`), and the cost
# before the step.  fastbp's forward pass keeps the activations only: the backward pass needs
# nothing else, since :math:`\sigma'(z) = a (1 - a)` for the sigmoid.  The input sums
# :math:`z^l` are read from layer :math:`l` alone, given the identity activation: a one-layer
# network with the same :math:`W^l` and :math:`b^l` outputs :math:`z^l` from :math:`a^{l-1}`.


def input_sums(network: Network, activations: list) -> list:
    """The input sums of a batch, ``[None, z^1, ..., z^L]``, by fastbp's forward pass.

    Parameters
    ----------
    network : Network
        The network whose layers are read.
    activations : list of ndarray
        ``[a^0, ..., a^L]`` of the batch, as :func:`fastbp.functional.forward` returns them.

    Returns
    -------
    list
        ``z[l]`` of shape ``(N, n_l)`` for ``l = 1 .. L``; ``z[0]`` is None.
    """
    sums = [None]
    for l in range(1, network.L + 1):
        layer = Network([network.sizes[l - 1], network.sizes[l]], output_activation="identity")
        layer.W[1][:] = network.W[l]
        layer.b[1][:] = network.b[l]
        sums.append(functional.forward(layer, activations[l - 1])[1])
    return sums


@dataclass(frozen=True)
class WorkedStep:
    """Every quantity of the step, indexed as fastbp indexes them: layer ``l`` at index ``l``, units from 0.

    The per-layer lists hold None at index 0 where the input layer has no such quantity.

    Attributes
    ----------
    x, y : ndarray
        The sample's input row ``a^0`` and its target row.
    alpha : float
        The learning rate.
    W, b : list of ndarray
        ``W^l`` and ``b^l`` before the step.
    z, a : list of ndarray
        The sample's input sums ``z^l`` and activations ``a^l``, shape ``(n_l,)``.
    cost : float
        ``C`` before the step.
    delta : list of ndarray
        ``delta^l``, shape ``(n_l,)``.
    dW, db : list of ndarray
        ``dC/dW^l`` and ``dC/db^l``.
    W_new, b_new : list of ndarray
        ``W^l`` and ``b^l`` after the step.
    """

    x: np.ndarray
    y: np.ndarray
    alpha: float
    W: list
    b: list
    z: list
    a: list
    cost: float
    delta: list
    dW: list
    db: list
    W_new: list
    b_new: list


def worked_step() -> WorkedStep:
    """One SGD step of :func:`initial_network` on ``(SAMPLE, TARGET)`` with learning rate ``ALPHA``.

    Returns
    -------
    WorkedStep
        Every quantity of the step, as fastbp's functions computed it.
    """
    network = initial_network()
    X, Y = SAMPLE[np.newaxis, :], TARGET[np.newaxis, :]  # a batch of one row
    W = [None] + [w.copy() for w in network.W[1:]]
    b = [None] + [bias.copy() for bias in network.b[1:]]
    a = functional.forward(network, X)
    z = input_sums(network, a)
    cost = functional.cost(network, X, Y)
    delta = functional.deltas(network, a, Y)
    dW, db = functional.gradients(network, a, delta)
    functional.update(network, dW, db, ALPHA)

    def row(arrays: list) -> list:
        """The batch's one row of each per-layer ``(1, n_l)`` array."""
        return [None if values is None else values[0] for values in arrays]

    return WorkedStep(
        x=SAMPLE,
        y=TARGET,
        alpha=ALPHA,
        W=W,
        b=b,
        z=row(z),
        a=row(a),
        cost=cost,
        delta=row(delta),
        dW=dW,
        db=db,
        W_new=[None] + [w.copy() for w in network.W[1:]],
        b_new=[None] + [bias.copy() for bias in network.b[1:]],
    )


# sphinx_gallery_start_ignore
def number(value: float) -> str:
    """``value`` as printed: ``DIGITS`` significant digits, trailing zeros dropped."""
    return f"{value:.{DIGITS}g}"


def equation(
    definition: str, arithmetic: str, factors: dict[str, float], recompute: Callable[..., float], value: float
) -> str:
    """The line ``definition = arithmetic = value``, once its arithmetic is checked.

    Parameters
    ----------
    definition : str
        The quantity and its formula, for example ``"dC/dW^2_11 = delta^2_1 a^1_1"``.
    arithmetic : str
        The formula with a ``{name}`` field for each factor, for example ``"{d} * {a}"``.
    factors : dict of str to float
        The value of each field.
    recompute : callable
        The arithmetic as a Python function of the fields, by keyword.
    value : float
        fastbp's value of the quantity.

    Returns
    -------
    str
        The line; the arithmetic is left out where it is the value itself.

    Raises
    ------
    AssertionError
        If the arithmetic, redone from the printed factors, is not within ``TOLERANCE`` of ``value``.
    """
    printed = {name: number(factor) for name, factor in factors.items()}
    redone = recompute(**{name: float(text) for name, text in printed.items()})
    if not math.isclose(redone, value, rel_tol=TOLERANCE):
        raise AssertionError(f"{definition}: the printed arithmetic gives {redone!r}, fastbp {value!r}")
    written = arithmetic.format(**printed)
    steps = [definition] if written == number(value) else [definition, written]
    return " = ".join([*steps, number(value)])


def vector(values: np.ndarray, brackets: str = "()") -> str:
    """Printed numbers between ``brackets``, ``(v_1, v_2)``."""
    return brackets[0] + ", ".join(number(value) for value in values) + brackets[1]


def show(title: str, lines: list[str]) -> None:
    """Print a stage: its title, its lines indented, a blank line."""
    print(f"{title}:")
    for line in lines:
        print(f"  {line}")
    print()


# sphinx_gallery_end_ignore


# %%
# The network and the sample
# --------------------------
#
# :math:`W^1` is :math:`2 \times 2`, :math:`W^2` is :math:`1 \times 2`; the row is the
# receiving unit :math:`k`, the column the emitting unit :math:`j`.
#
# From here on each printed line reads ``quantity = formula = arithmetic = value``.  The
# arithmetic is written with the printed (rounded) numbers; the script redoes it from them and
# stops unless it lands within ``TOLERANCE`` of fastbp's value.  The functions that write and
# check the lines are hidden on this page (the script below has them): what shows is the
# computation above and what it prints.


# sphinx_gallery_start_ignore
def setup_lines(step: WorkedStep) -> list[str]:
    """The sample, the learning rate and the parameters before the step."""
    lines = [f"input x = {vector(step.x)}, target y = {vector(step.y)}, learning rate alpha = {number(step.alpha)}"]
    for l in range(1, len(step.W)):
        rows = ", ".join(vector(w, "[]") for w in step.W[l])
        lines.append(f"W^{l} = [{rows}], b^{l} = {vector(step.b[l])}")
    return lines


# sphinx_gallery_end_ignore

if __name__ == "__main__":
    step = worked_step()
    show(
        "2-2-1 network, sigmoid units, cost mse; units numbered from 1 (W^l_kj is W[l][k-1, j-1] in the code)",
        setup_lines(step),
    )

# %%
# Forward pass
# ------------
#
# Layer after layer, each unit sums its inputs and applies the sigmoid, with :math:`a^0 = x`:
#
# .. math::
#
#    z^l_k = \sum_{j} W^l_{kj} a^{l-1}_j + b^l_k, \qquad
#    a^l_k = \sigma(z^l_k) = \frac{1}{1 + \exp(-z^l_k)}


# sphinx_gallery_start_ignore
def forward_lines(step: WorkedStep) -> list[str]:
    """``z^l_k`` and ``a^l_k`` for each unit of layers 1 and 2, in that order."""
    lines = []
    for l in range(1, len(step.W)):
        for k, w in enumerate(step.W[l], start=1):
            lines.append(
                equation(
                    f"z^{l}_{k} = W^{l}_{k}1 a^{l - 1}_1 + W^{l}_{k}2 a^{l - 1}_2 + b^{l}_{k}",
                    "{w1} * {a1} + {w2} * {a2} + {b}",
                    {"w1": w[0], "a1": step.a[l - 1][0], "w2": w[1], "a2": step.a[l - 1][1], "b": step.b[l][k - 1]},
                    lambda w1, a1, w2, a2, b: w1 * a1 + w2 * a2 + b,
                    step.z[l][k - 1],
                )
            )
            lines.append(
                equation(
                    f"a^{l}_{k} = sigma(z^{l}_{k})",
                    "1 / (1 + exp(-{z}))",
                    {"z": step.z[l][k - 1]},
                    lambda z: 1 / (1 + math.exp(-z)),
                    step.a[l][k - 1],
                )
            )
    return lines


# sphinx_gallery_end_ignore

if __name__ == "__main__":
    show("forward pass", forward_lines(step))

# %%
# Cost
# ----
#
# One sample (:math:`N = 1`), one output, no weight decay (:math:`\lambda = 0`):
#
# .. math::
#
#    C = \frac{1}{2} (a^2_1 - y_1)^2
#
# This is the cost before the step, from :func:`fastbp.functional.cost`.


# sphinx_gallery_start_ignore
def cost_lines(step: WorkedStep) -> list[str]:
    """The cost ``C`` of the sample before the step."""
    return [
        equation(
            "C = 1/2 (a^2_1 - y_1)^2",
            "1/2 * ({a} - {y})^2",
            {"a": step.a[2][0], "y": step.y[0]},
            lambda a, y: (a - y) ** 2 / 2,
            step.cost,
        )
    ]


# sphinx_gallery_end_ignore

if __name__ == "__main__":
    show("cost", cost_lines(step))

# %%
# Deltas
# ------
#
# :math:`\delta^l_k = \partial C / \partial z^l_k`.  At the output, the ``mse`` cost gives
# :math:`\partial C / \partial a^2_1 = a^2_1 - y_1` and the sigmoid
# :math:`\sigma'(z) = a (1 - a)`; each hidden unit :math:`j` then collects the delta of the
# output unit it feeds, through the weight :math:`W^2_{1j}` of that connection:
#
# .. math::
#
#    \delta^2_1 = (a^2_1 - y_1) \, a^2_1 (1 - a^2_1), \qquad
#    \delta^1_j = a^1_j (1 - a^1_j) \, W^2_{1j} \delta^2_1


# sphinx_gallery_start_ignore
def delta_lines(step: WorkedStep) -> list[str]:
    """``delta^2_1``, then ``delta^1_j`` for each hidden unit."""
    lines = [
        equation(
            "delta^2_1 = (a^2_1 - y_1) a^2_1 (1 - a^2_1)",
            "({a} - {y}) * {a} * (1 - {a})",
            {"a": step.a[2][0], "y": step.y[0]},
            lambda a, y: (a - y) * a * (1 - a),
            step.delta[2][0],
        )
    ]
    for j in range(1, len(step.a[1]) + 1):
        lines.append(
            equation(
                f"delta^1_{j} = a^1_{j} (1 - a^1_{j}) W^2_1{j} delta^2_1",
                "{a} * (1 - {a}) * {w} * {d}",
                {"a": step.a[1][j - 1], "w": step.W[2][0, j - 1], "d": step.delta[2][0]},
                lambda a, w, d: a * (1 - a) * w * d,
                step.delta[1][j - 1],
            )
        )
    return lines


# sphinx_gallery_end_ignore

if __name__ == "__main__":
    show("deltas", delta_lines(step))

# %%
# Gradients
# ---------
#
# With one sample and :math:`\lambda = 0`, the gradients are products of a delta and the
# activation that the weight multiplies:
#
# .. math::
#
#    \frac{\partial C}{\partial W^l_{kj}} = \delta^l_k a^{l-1}_j, \qquad
#    \frac{\partial C}{\partial b^l_k} = \delta^l_k


# sphinx_gallery_start_ignore
def gradient_lines(step: WorkedStep) -> list[str]:
    """``dC/dW^l_kj`` for each weight of a unit, then ``dC/db^l_k``; the output layer first."""
    lines = []
    for l in range(len(step.W) - 1, 0, -1):
        for k, d in enumerate(step.delta[l], start=1):
            for j, a in enumerate(step.a[l - 1], start=1):
                lines.append(
                    equation(
                        f"dC/dW^{l}_{k}{j} = delta^{l}_{k} a^{l - 1}_{j}",
                        "{d} * {a}",
                        {"d": d, "a": a},
                        lambda d, a: d * a,
                        step.dW[l][k - 1, j - 1],
                    )
                )
            lines.append(equation(f"dC/db^{l}_{k} = delta^{l}_{k}", "{d}", {"d": d}, lambda d: d, step.db[l][k - 1]))
    return lines


# sphinx_gallery_end_ignore

if __name__ == "__main__":
    show("gradients", gradient_lines(step))

# %%
# Update
# ------
#
# Gradient descent with learning rate :math:`\alpha`, by :func:`fastbp.functional.update`:
#
# .. math::
#
#    W^l_{kj} \leftarrow W^l_{kj} - \alpha \frac{\partial C}{\partial W^l_{kj}}, \qquad
#    b^l_k \leftarrow b^l_k - \alpha \frac{\partial C}{\partial b^l_k}


# sphinx_gallery_start_ignore
def update_lines(step: WorkedStep) -> list[str]:
    """Each weight and bias after the step, layer 1 first."""
    lines = []
    for l in range(1, len(step.W)):
        for k in range(1, len(step.b[l]) + 1):
            for j in range(1, step.W[l].shape[1] + 1):
                lines.append(
                    equation(
                        f"W^{l}_{k}{j} <- W^{l}_{k}{j} - alpha dC/dW^{l}_{k}{j}",
                        "{w} - {alpha} * {g}",
                        {"w": step.W[l][k - 1, j - 1], "alpha": step.alpha, "g": step.dW[l][k - 1, j - 1]},
                        lambda w, alpha, g: w - alpha * g,
                        step.W_new[l][k - 1, j - 1],
                    )
                )
            lines.append(
                equation(
                    f"b^{l}_{k} <- b^{l}_{k} - alpha dC/db^{l}_{k}",
                    "{b} - {alpha} * {g}",
                    {"b": step.b[l][k - 1], "alpha": step.alpha, "g": step.db[l][k - 1]},
                    lambda b, alpha, g: b - alpha * g,
                    step.b_new[l][k - 1],
                )
            )
    return lines


# sphinx_gallery_end_ignore

if __name__ == "__main__":
    show("update", update_lines(step))
