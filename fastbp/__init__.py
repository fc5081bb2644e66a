"""fastbp: fully connected networks trained by backpropagation, compiled with Numba."""

from fastbp._version import __version__
from fastbp.engine import functional
from fastbp.engine.descent import gradient_descent_1d
from fastbp.engine.gradcheck import GradientCheck, check_gradients
from fastbp.engine.interrupts import TrainingInterrupted
from fastbp.engine.network import Network, warm_up
from fastbp.engine.training import DivergenceWarning

# The scikit-learn estimators need scikit-learn (pip install fastbp[sklearn]);
# they are imported on first use, so that `import fastbp` does not import it.
ESTIMATORS = ("MLPClassifier", "MLPRegressor", "from_sklearn")

__all__ = [
    "DivergenceWarning",
    "GradientCheck",
    "MLPClassifier",
    "MLPRegressor",
    "Network",
    "TrainingInterrupted",
    "__version__",
    "check_gradients",
    "from_sklearn",
    "functional",
    "gradient_descent_1d",
    "warm_up",
]


def __getattr__(name: str):
    """``fastbp.MLPClassifier``, ``fastbp.MLPRegressor``, ``fastbp.from_sklearn``: from :mod:`fastbp.sklearn`."""
    if name in ESTIMATORS:
        from fastbp import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'fastbp' has no attribute {name!r}")
