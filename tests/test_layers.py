"""The folders of fastbp are layers, and imports run one way: from a layer to the layers below it.

    numerics  <-  backends  <-  engine  <-  sklearn  <-  cli, bench, scaleout

``datasets`` and ``_version`` import nothing of fastbp.  The package's ``__init__``
(the public names) stands beside the application layers, which may import from it
(``fastbp.bench.workloads`` must: asv loads that file for older commits, where only
the public names are where they are today); ``__main__`` is on top.  Every import counts, also those
made inside a function.  The test reads the source, so it needs none of the
optional packages.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastbp"
# Rank of each top-level folder or module of fastbp: a module may import modules of its own rank or below.
RANKS = {
    "_version": 0,
    "datasets": 0,
    "numerics": 1,
    "backends": 2,
    "engine": 3,
    "sklearn": 4,
    "cli": 5,
    "bench": 5,
    "scaleout": 5,
    "__init__": 5,
    "__main__": 6,
}
# Layers that must not import scikit-learn: everything below fastbp.sklearn.
WITHOUT_SKLEARN = ("numerics", "backends", "engine", "datasets", "_version")


def module_name(path: Path) -> str:
    parts = ("fastbp", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    """The top-level folder or module of fastbp that ``module`` belongs to (``__init__`` for the package itself)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imports(module: str) -> set[str]:
    """The modules ``module`` imports (fastbp's resolved to modules that exist), at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


def fastbp_imports(module: str) -> set[str]:
    return {name for name in imports(module) if name == "fastbp" or name.startswith("fastbp.")} - {module}


def test_every_module_belongs_to_a_layer():
    assert {module: layer(module) for module in MODULES if layer(module) not in RANKS} == {}


@pytest.mark.parametrize("module", MODULES)
def test_imports_run_from_a_layer_to_the_layers_below(module):
    rank = RANKS[layer(module)]
    upward = sorted(name for name in fastbp_imports(module) if RANKS[layer(name)] > rank)
    assert upward == [], f"{module} (layer {layer(module)}) imports from a layer above it"


@pytest.mark.parametrize("module", [module for module in MODULES if layer(module) in WITHOUT_SKLEARN])
def test_nothing_below_the_sklearn_layer_imports_scikit_learn(module):
    assert sorted(name for name in imports(module) if name.split(".")[0] == "sklearn") == []


def test_there_is_no_import_circle():
    graph = {module: fastbp_imports(module) & set(MODULES) for module in MODULES}
    state: dict[str, str] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(graph[module]):
            if state.get(name) == "open":
                circles.append(path[path.index(name) :] + [name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_checks_see_real_imports():
    # The reader must resolve the kinds of import the package uses, or the tests above prove nothing.
    assert "fastbp.numerics.layout" in fastbp_imports("fastbp.backends.cpu.serial")
    assert "fastbp.engine.functional" in fastbp_imports("fastbp")
    assert "fastbp.backends.cuda.config" in fastbp_imports("fastbp.backends.cuda.host")
    assert "sklearn.base" in imports("fastbp.sklearn.base")
    assert (
        RANKS[layer("fastbp.cli.train")] > RANKS[layer("fastbp.sklearn.base")] > RANKS[layer("fastbp.engine.network")]
    )
