"""examples/worked_step.py: its numbers are the derivatives of the cost, and its printed arithmetic adds up."""

import ast
import importlib.util
import math
import operator
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fastbp import Network, functional

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "worked_step.py"
H = 1e-6  # the step of the central differences
# The quantities the script prints, in its order; units numbered from 1.
PRINTED = [
    *["z^1_1", "a^1_1", "z^1_2", "a^1_2", "z^2_1", "a^2_1"],
    "C",
    *["delta^2_1", "delta^1_1", "delta^1_2"],
    *["dC/dW^2_11", "dC/dW^2_12", "dC/db^2_1"],
    *["dC/dW^1_11", "dC/dW^1_12", "dC/db^1_1", "dC/dW^1_21", "dC/dW^1_22", "dC/db^1_2"],
    *["W^1_11", "W^1_12", "b^1_1", "W^1_21", "W^1_22", "b^1_2", "W^2_11", "W^2_12", "b^2_1"],
]
# A printed equation: its quantity, then "=" (or "<-" for an update) and the rest.
EQUATION = re.compile(
    r"(?P<quantity>C|[za]\^\d_\d|delta\^\d_\d|dC/d[Wb]\^\d_\d+|[Wb]\^\d_\d+) (?P<sign>=|<-) (?P<rest>.+)"
)
# The symbols of a formula; the first alternative that matches wins (delta^1_1 is not read as a^1_1).
SYMBOL = re.compile(r"dC/d[Wb]\^\d_\d+|delta\^\d_\d|[Wbaz]\^\d_\d+|y_\d|alpha")
OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
}
FUNCTIONS = {"exp": math.exp, "sigma": lambda z: 1 / (1 + math.exp(-z))}


def load_example():
    spec = importlib.util.spec_from_file_location("worked_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.fixture(scope="module")
def step(example):
    return example.worked_step()


@pytest.fixture(scope="module")
def printed() -> str:
    """What the script prints, run with no arguments in a fresh interpreter (as sphinx-gallery runs it)."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def equations(printed: str) -> list[re.Match]:
    return [match for line in printed.splitlines() if (match := EQUATION.fullmatch(line.strip()))]


def central_difference(example, parameter: Callable[[Network], np.ndarray], index: tuple) -> float:
    """dC/dtheta of the example's network for the entry ``index`` of ``parameter(network)``, by the cost alone."""
    X, Y = example.SAMPLE[np.newaxis, :], example.TARGET[np.newaxis, :]
    costs = []
    for shift in (H, -H):
        network = example.initial_network()
        parameter(network)[index] += shift
        costs.append(functional.cost(network, X, Y))
    return (costs[0] - costs[1]) / (2 * H)


def test_the_network_is_the_2_2_1_sigmoid_network_with_the_chosen_weights(example):
    network = example.initial_network()
    assert network.sizes.tolist() == [2, 2, 1] and network.dtype == np.float64
    assert (network.hidden_activation, network.output_activation, network.cost, network.l2) == (
        "sigmoid",
        "sigmoid",
        "mse",
        0.0,
    )
    for l in (1, 2):
        assert np.array_equal(network.W[l], example.WEIGHTS[l]) and np.array_equal(network.b[l], example.BIASES[l])


def test_the_forward_pass_and_the_cost_are_the_formulas(step):
    a = step.x
    for l in (1, 2):
        z = step.W[l] @ a + step.b[l]
        np.testing.assert_allclose(step.z[l], z, rtol=1e-14)
        a = 1 / (1 + np.exp(-z))
        np.testing.assert_allclose(step.a[l], a, rtol=1e-14)
    assert step.cost == pytest.approx(0.5 * (a[0] - step.y[0]) ** 2, rel=1e-14)


@pytest.mark.parametrize("l", [1, 2])
def test_weight_gradients_are_central_differences_of_the_cost(example, step, l):
    for k, j in np.ndindex(step.W[l].shape):
        expected = central_difference(example, lambda network: network.W[l], (k, j))
        assert step.dW[l][k, j] == pytest.approx(expected, rel=1e-6), (l, k, j)


@pytest.mark.parametrize("l", [1, 2])
def test_bias_gradients_and_deltas_are_central_differences_of_the_cost(example, step, l):
    # z^l_k = ... + b^l_k, so dC/dz^l_k = dC/db^l_k: the bias's central difference checks delta^l_k too.
    for k in range(len(step.b[l])):
        expected = central_difference(example, lambda network: network.b[l], (k,))
        assert step.db[l][k] == pytest.approx(expected, rel=1e-6), (l, k)
        assert step.delta[l][k] == pytest.approx(expected, rel=1e-6), (l, k)


@pytest.mark.parametrize("l", [1, 2])
def test_the_update_is_a_gradient_descent_step(step, l):
    np.testing.assert_allclose(step.W_new[l], step.W[l] - step.alpha * step.dW[l], rtol=1e-15)
    np.testing.assert_allclose(step.b_new[l], step.b[l] - step.alpha * step.db[l], rtol=1e-15)
    assert np.all(step.W_new[l] < step.W[l]) and np.all(step.b_new[l] < step.b[l])  # every gradient is positive


def test_the_script_prints_every_quantity_in_order(printed):
    assert [match["quantity"] for match in equations(printed)] == PRINTED
    assert all((match["sign"] == "<-") == (match["quantity"][0] in "Wb") for match in equations(printed))


def values(step) -> dict[str, float]:
    """The value of each printed symbol before the update, units numbered from 1; z^l from W^l a^{l-1} + b^l."""
    table = {"alpha": step.alpha, "y_1": float(step.y[0]), "C": step.cost}
    table.update({f"a^0_{j}": float(x) for j, x in enumerate(step.x, start=1)})
    for l in (1, 2):
        z = step.W[l] @ (step.x if l == 1 else step.a[1]) + step.b[l]
        for k in range(1, len(step.b[l]) + 1):
            table[f"z^{l}_{k}"] = float(z[k - 1])
            for name, array in (("a", step.a[l]), ("delta", step.delta[l]), ("b", step.b[l]), ("dC/db", step.db[l])):
                table[f"{name}^{l}_{k}"] = float(array[k - 1])
            for j in range(1, step.W[l].shape[1] + 1):
                table[f"W^{l}_{k}{j}"] = float(step.W[l][k - 1, j - 1])
                table[f"dC/dW^{l}_{k}{j}"] = float(step.dW[l][k - 1, j - 1])
    return table


def updated(step, quantity: str) -> float:
    """The value after the update of ``W^l_kj`` or ``b^l_k``."""
    l, units = int(quantity[2]), quantity[4:]
    if quantity[0] == "W":
        return float(step.W_new[l][int(units[0]) - 1, int(units[1]) - 1])
    return float(step.b_new[l][int(units) - 1])


def evaluate(node: ast.AST) -> float:
    """An arithmetic expression: numbers, + - * / **, unary minus, exp and sigma; nothing else."""
    if isinstance(node, ast.Expression):
        return evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in OPERATORS:
        return OPERATORS[type(node.op)](evaluate(node.operand))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if len(node.args) != 1 or node.keywords:
            raise ValueError(f"not arithmetic: {ast.unparse(node)}")
        return FUNCTIONS[node.func.id](evaluate(node.args[0]))
    raise ValueError(f"not arithmetic: {ast.unparse(node)}")


def arithmetic(text: str, table: dict[str, float]) -> float:
    """The value of a printed formula or arithmetic: symbols from ``table``, a space between factors multiplies."""
    text = SYMBOL.sub(lambda symbol: f"({table[symbol[0]]!r})", text)
    text = re.sub(r"(?<=[\w.)])\s+(?=[\w.(])", " * ", text).replace("^", "**")
    return evaluate(ast.parse(text, mode="eval"))


def test_arithmetic_reads_formulas_as_the_notation_writes_them():
    table = {"a^1_1": 0.5, "delta^1_1": 2.0, "alpha": 0.1, "dC/dW^1_11": 3.0, "W^1_11": 1.0}
    assert arithmetic("a^1_1 (1 - a^1_1) delta^1_1", table) == 0.5
    assert arithmetic("W^1_11 - alpha dC/dW^1_11", table) == pytest.approx(0.7)
    assert arithmetic("1/2 * (3 - 1)^2", table) == 2.0
    assert arithmetic("sigma(0) + exp(0)", table) == 1.5
    with pytest.raises(ValueError, match="not arithmetic"):
        arithmetic("__import__('os')", table)


def test_every_printed_equation_adds_up(example, printed, step):
    """Each side of each line has the quantity's value: a formula exactly, the printed numbers to their rounding."""
    table = values(step)
    for match in equations(printed):
        quantity, sides = match["quantity"], match["rest"].split(" = ")
        value = updated(step, quantity) if match["sign"] == "<-" else table[quantity]
        assert len(sides) in (2, 3), match[0]
        formula, *numbers = sides
        assert arithmetic(formula, table) == pytest.approx(value, rel=1e-12), match[0]
        for side in numbers:
            assert not SYMBOL.search(side), match[0]
            assert arithmetic(side, table) == pytest.approx(value, rel=example.TOLERANCE), match[0]


def test_the_example_refuses_to_print_arithmetic_that_does_not_add_up(example):
    with pytest.raises(AssertionError, match="the printed arithmetic gives 2.0, fastbp 2.1"):
        example.equation("c = 2 a", "2 * {a}", {"a": 1.0}, lambda a: 2 * a, 2.1)
    assert example.equation("c = 2 a", "2 * {a}", {"a": 1.0}, lambda a: 2 * a, 2.0) == "c = 2 a = 2 * 1 = 2"
