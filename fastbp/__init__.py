"""fastbp: fully connected networks trained by backpropagation, compiled with Numba."""

__version__ = "0.1.0"

from fastbp.descent import gradient_descent_1d
from fastbp.gradcheck import GradientCheck, check_gradients
from fastbp.network import Network
from fastbp.training import DivergenceWarning

__all__ = ["DivergenceWarning", "GradientCheck", "Network", "__version__", "check_gradients", "gradient_descent_1d"]
