"""The scikit-learn layer: drop-in ``MLPClassifier`` and ``MLPRegressor`` over fastbp's engine.

Importing it imports scikit-learn (``pip install "fastbp[sklearn]"``).
"""

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fastbp.MLPClassifier and fastbp.MLPRegressor need scikit-learn: pip install fastbp[sklearn]"
    ) from error

from fastbp.sklearn.classifier import MLPClassifier  # noqa: E402
from fastbp.sklearn.conversion import from_sklearn  # noqa: E402
from fastbp.sklearn.regressor import MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "from_sklearn"]
