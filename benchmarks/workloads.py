"""The benchmark workloads (:mod:`fastbp.bench.workloads`), read from this checkout's source file.

asv imports this suite from the working tree but installs the commit it
measures, which may be older than ``fastbp.bench``.  So the suite loads the
workloads from ``fastbp/bench/workloads.py`` of this checkout (a module that
uses only fastbp's public API: ``Network``, ``BACKENDS``, the digits) rather
than from the installed package.
"""

import importlib.util
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "fastbp" / "bench" / "workloads.py"


def load_source():
    """The module defined by :data:`SOURCE`."""
    spec = importlib.util.spec_from_file_location(f"{__name__}_source", SOURCE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


source = load_source()
L2, LEARNING_RATE, NETWORK_SEED, WORKLOADS = source.L2, source.LEARNING_RATE, source.NETWORK_SEED, source.WORKLOADS
compiled_backends, unavailable = source.compiled_backends, source.unavailable
