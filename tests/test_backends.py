"""Every backend keeps the contract of fastbp.backends.contract: the same functions, the same parameters."""

import ast
import inspect
from pathlib import Path

import pytest

from fastbp.backends import numpy_ref, reference
from fastbp.backends.contract import KERNELS
from fastbp.backends.cpu import serial

ROOT = Path(__file__).resolve().parent.parent


def parameters(function) -> tuple[str, ...]:
    """The parameter names of a Python function or of the function a Numba dispatcher compiles."""
    return tuple(inspect.signature(getattr(function, "py_func", function)).parameters)


@pytest.mark.parametrize("module", [numpy_ref, reference, serial], ids=["numpy", "reference", "cpu"])
@pytest.mark.parametrize("name", KERNELS)
def test_each_importable_backend_defines_the_kernel_with_the_contract_parameters(module, name):
    assert hasattr(module, name), f"{module.__name__} has no {name}"
    assert parameters(getattr(module, name)) == KERNELS[name]


def test_the_cuda_backend_exports_every_kernel_with_the_contract_parameters():
    # Read from the source: importing the CUDA backend needs numba-cuda and a GPU (or the simulator).
    tree = ast.parse((ROOT / "fastbp" / "backends" / "cuda" / "host.py").read_text())
    defined = {
        node.name: tuple(arg.arg for arg in node.args.args) for node in tree.body if isinstance(node, ast.FunctionDef)
    }
    assert {name: defined.get(name) for name in KERNELS} == KERNELS
    package = ast.parse((ROOT / "fastbp" / "backends" / "cuda" / "__init__.py").read_text())
    exported = {alias.name for node in package.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert set(KERNELS) <= exported


def test_the_backends_export_nothing_beyond_the_contract():
    assert set(serial.__all__) == set(KERNELS)


def test_a_backend_module_is_imported_once_per_process(monkeypatch):
    import importlib

    from fastbp.backends import BACKENDS, get_backend

    cpu = [name for name, module in BACKENDS.items() if module != BACKENDS["cuda"]]
    modules = {name: get_backend(name) for name in cpu}

    def imported(name):
        raise AssertionError(f"{name} imported again")

    monkeypatch.setattr(importlib, "import_module", imported)
    assert all(get_backend(name) is module for name, module in modules.items())
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        get_backend("gpu")
    with pytest.raises(TypeError, match="backend must be a string"):
        get_backend(["serial"])
