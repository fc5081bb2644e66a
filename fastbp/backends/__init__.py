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


# The backend that "auto" stands for: the fastest one available on this machine.
AUTO = "serial"


def resolve(name: str) -> str:
    """The registered backend name that ``name`` stands for (``"auto"``: :data:`AUTO`)."""
    return AUTO if name == "auto" else name


def get_backend(name: str) -> ModuleType:
    """The backend module called ``name``; a clear ``ValueError`` for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {name!r}")
    if resolve(name) not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose auto or one of {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[resolve(name)])
