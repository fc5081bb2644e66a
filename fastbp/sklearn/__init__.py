"""The scikit-learn layer: drop-in ``MLPClassifier`` and ``MLPRegressor`` over fastbp's engine.

Importing it imports scikit-learn (``pip install "fastbp[sklearn]"``).
"""

from fastbp.sklearn.base import MLPClassifier, MLPRegressor, from_sklearn

__all__ = ["MLPClassifier", "MLPRegressor", "from_sklearn"]
