"""fastbp: fully connected networks trained by backpropagation, compiled with Numba."""

__version__ = "0.1.0"

from fastbp.descent import gradient_descent_1d
from fastbp.gradcheck import GradientCheck, check_gradients
from fastbp.network import Network
from fastbp.training import DivergenceWarning

# The scikit-learn estimators need scikit-learn (pip install fastbp[sklearn]);
# they are imported on first use, so that `import fastbp` does not import it.
ESTIMATORS = ("MLPClassifier", "MLPRegressor", "from_sklearn")

__all__ = [
    "DivergenceWarning",
    "GradientCheck",
    "MLPClassifier",
    "MLPRegressor",
    "Network",
    "__version__",
    "check_gradients",
    "from_sklearn",
    "gradient_descent_1d",
]


def __getattr__(name: str):
    """``fastbp.MLPClassifier``, ``fastbp.MLPRegressor``, ``fastbp.from_sklearn``: from :mod:`fastbp.estimators`."""
    if name in ESTIMATORS:
        from fastbp import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'fastbp' has no attribute {name!r}")
