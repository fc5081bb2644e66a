"""The backends, by name: each a module with the same kernel functions.

``numpy`` is the oracle (NOTATION.md's matrix form), ``serial`` the compiled
index loops, ``cuda`` the same loops as ``numba.cuda`` kernels on an NVIDIA GPU.
A backend module is imported only when first asked for, so that
``import fastbp`` stays fast and never imports ``numba.cuda``.

Asking for ``cuda`` raises :class:`ImportError` when the optional package
numba-cuda is missing (``pip install 'fastbp[cuda]'``) and
:class:`RuntimeError` when no usable GPU is found; no backend falls back to
it silently.
"""

import importlib
from types import ModuleType

BACKENDS = {
    "serial": "fastbp.backends.serial",
    "numpy": "fastbp.backends.numpy_ref",
    "cuda": "fastbp.backends.cuda",
}


def get_backend(name: str) -> ModuleType:
    """The backend module called ``name``.

    A clear ``ValueError`` for an unknown name; for ``cuda``, ``ImportError``
    without numba-cuda and ``RuntimeError`` without a GPU.
    """
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {name!r}")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])
