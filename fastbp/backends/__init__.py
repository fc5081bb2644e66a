"""The backends, by name: each a module with the same kernel functions.

``numpy`` is the oracle (NOTATION.md's matrix form), ``serial`` the compiled
index loops.  A backend module is imported only when first asked for, so that
``import fastbp`` stays fast.
"""

import importlib
from types import ModuleType

BACKENDS = {
    "serial": "fastbp.backends.serial",
    "numpy": "fastbp.backends.numpy_ref",
}


def get_backend(name: str) -> ModuleType:
    """The backend module called ``name``; a clear ``ValueError`` for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {name!r}")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])
