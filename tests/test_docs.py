"""The documents cannot rot: the formulas page includes real functions, the model format lists every array."""

import ast
import re
from pathlib import Path

import pytest

from fastbp.engine.io import OPTIONAL, SCHEMA

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ROOT / "docs" / "formulas.md"
# ```{literalinclude} ../path
# :pyobject: name
INCLUDE = re.compile(r"```\{literalinclude\} \.\./(?P<path>[\w/.]+)\n:pyobject: (?P<name>\w+)\n")
# Also: ... `name` (`path`)
LINK = re.compile(r"`(?P<name>\w+)` \(`(?P<path>[\w/.]+\.py)`\)")
# The equations of docs/notation.md, as the page must quote them.
EQUATIONS = [
    "a^0 = x",
    "z^l_k = sum_j W^l_kj a^{l-1}_j + b^l_k",
    "a^l_k = sigma_l(z^l_k)",
    "a^L_k = exp(z^L_k - m) / sum_i exp(z^L_i - m)",
    "C = (1/N) sum_n C_n + (lambda / (2N)) sum_l sum_kj (W^l_kj)^2",
    "mse: C_n = 1/2 sum_k (a^L_k - y_k)^2",
    "binary xent: C_n = -sum_k [y_k log a^L_k + (1 - y_k) log(1 - a^L_k)]",
    "categorical: C_n = -sum_k y_k log a^L_k",
    "absolute error: C_n = sum_k |a^L_k - y_k|",
    "log-cosh: C_n = sum_k log cosh(a^L_k - y_k)",
    "delta^L_k = dC_n/da^L_k * sigma_L'(z^L_k)",
    "delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k",
    "dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj",
    "dC/db^l_k = (1/N) sum_n delta^l_k(n)",
    "W^l_kj <- W^l_kj - alpha dC/dW^l_kj",
    "b^l_k <- b^l_k - alpha dC/db^l_k",
    "w <- w - alpha df/dw",
    "h(x) = w0 + w1 x",
]
# The reference backend's loops, one per equation: the page shows every one.
REFERENCE_LOOPS = [
    "input_sum",
    "activate",
    "forward",
    "backpropagate",
    "backprop_deltas",
    "weight_gradients",
    "bias_gradients",
    "accumulate_gradients",
]


def functions_in(path: str) -> set[str]:
    """The names of the functions defined at the top level of ``path`` (relative to the repository)."""
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def code_references() -> list[tuple[str, str]]:
    """``(path, name)`` of every function the formulas page includes or links to."""
    text = FORMULAS.read_text()
    return [(m["path"], m["name"]) for pattern in (INCLUDE, LINK) for m in pattern.finditer(text)]


def test_the_page_quotes_every_equation_and_shows_every_reference_loop():
    text = FORMULAS.read_text()
    assert [equation for equation in EQUATIONS if equation not in text] == []
    shown = {name for path, name in code_references() if path == "fastbp/backends/reference.py"}
    assert sorted(set(REFERENCE_LOOPS) - shown) == []
    assert len(code_references()) >= 40


@pytest.mark.parametrize("path,name", code_references(), ids=lambda value: str(value))
def test_each_included_or_linked_function_exists_in_its_file(path, name):
    assert (ROOT / path).is_file(), f"docs/formulas.md names {path}, which does not exist"
    assert name in functions_in(path), f"docs/formulas.md: {path} defines no function {name}"


def test_the_readme_documents_every_array_of_the_model_file():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Saved models") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    assert rows == set(SCHEMA) | set(OPTIONAL)
