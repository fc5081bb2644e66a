"""The documents cannot rot: the formula map points at real functions, the model format lists every array."""

import ast
import re
from pathlib import Path

import pytest

from fastbp.engine.io import OPTIONAL, SCHEMA

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ROOT / "docs" / "formulas.md"
# [`name` path:first-last](../path#Lfirst-Llast)
REFERENCE = re.compile(r"\[`(?P<name>\w+)` (?P<path>[\w/.]+):(?P<first>\d+)-(?P<last>\d+)\]\((?P<link>[^)]*)\)")
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
    "delta^L_k = dC_n/da^L_k * sigma_L'(z^L_k)",
    "delta^l_j = sigma_l'(z^l_j) * sum_k W^{l+1}_kj delta^{l+1}_k",
    "dC/dW^l_kj = (1/N) sum_n delta^l_k(n) a^{l-1}_j(n) + (lambda/N) W^l_kj",
    "dC/db^l_k = (1/N) sum_n delta^l_k(n)",
    "W^l_kj <- W^l_kj - alpha dC/dW^l_kj",
    "b^l_k <- b^l_k - alpha dC/db^l_k",
    "w <- w - alpha df/dw",
    "h(x) = w0 + w1 x",
]


def references() -> list[dict]:
    return [match.groupdict() for match in REFERENCE.finditer(FORMULAS.read_text())]


def test_the_page_quotes_every_equation_and_references_code():
    text = FORMULAS.read_text()
    assert [equation for equation in EQUATIONS if equation not in text] == []
    assert len(references()) >= 30


@pytest.mark.parametrize("reference", references(), ids=lambda reference: f"{reference['path']}:{reference['name']}")
def test_each_reference_names_a_function_on_exactly_those_lines(reference):
    path = ROOT / reference["path"]
    assert path.is_file(), f"{reference['path']} does not exist"
    definitions = {
        node.name: (node.lineno, node.end_lineno)
        for node in ast.parse(path.read_text()).body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    assert reference["name"] in definitions, f"{reference['path']} defines no function {reference['name']}"
    first, last = definitions[reference["name"]]
    stated = (int(reference["first"]), int(reference["last"]))
    assert stated == (first, last), (
        f"docs/formulas.md: {reference['name']} is at {reference['path']}:{first}-{last}, "
        f"the page says {stated[0]}-{stated[1]}"
    )
    assert reference["link"] == f"../{reference['path']}#L{first}-L{last}"


def test_the_readme_documents_every_array_of_the_model_file():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Saved models") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    assert rows == set(SCHEMA) | set(OPTIONAL)
