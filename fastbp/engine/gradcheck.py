"""The central finite-difference check of the backpropagated gradient."""

from dataclasses import dataclass

import numpy as np

from fastbp.engine import functional
from fastbp.engine.network import Network
from fastbp.engine.validation import check_inputs, check_network, check_non_negative_float, check_targets


@dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`check_gradients`.

    Attributes
    ----------
    analytical : ndarray
        dC/dtheta by backpropagation, laid out as ``network.theta``.
    numerical : ndarray
        ``(C(theta + eps e_i) - C(theta - eps e_i)) / (2 eps)`` for each parameter i.
    max_abs_error : float
        ``max_i |analytical_i - numerical_i|``.
    relative_error : float
        ``||analytical - numerical|| / (||analytical|| + ||numerical||)``, the usual
        summary: about 1e-10 or below means the formulas are right in float64.
    """

    analytical: np.ndarray
    numerical: np.ndarray
    max_abs_error: float
    relative_error: float


def check_gradients(network: Network, X, Y, epsilon: float = 1e-6, backend: str = "serial") -> GradientCheck:
    """Compare backpropagation with central finite differences of the cost C.

    Every parameter is perturbed in turn, so this costs ``2 P`` forward passes
    for ``P`` parameters: use it on small networks and batches.  Use a float64
    network: in float32 the differences drown in rounding.

    Parameters
    ----------
    network : Network
        The network whose gradient is checked; its parameters are left unchanged.
    X, Y : array-like
        A batch of inputs and targets.
    epsilon : float
        The step of the central difference.
    backend : str
        The backend whose backpropagation is checked.

    Returns
    -------
    GradientCheck
    """
    check_network(network)
    Y = check_targets(Y, check_inputs(X, network.sizes[0], network.dtype).shape[0], network.sizes[-1], network.dtype)
    epsilon = check_non_negative_float(epsilon, "epsilon", positive=True)
    activations = functional.forward(network, X, backend)
    analytical = functional.gradient_vector(
        network, activations, functional.deltas(network, activations, Y, backend), backend
    )
    numerical = np.empty_like(analytical)
    theta = network.theta
    for i in range(theta.shape[0]):
        saved = theta[i]
        theta[i] = saved + epsilon
        above = functional.cost(network, X, Y, backend)
        theta[i] = saved - epsilon
        below = functional.cost(network, X, Y, backend)
        theta[i] = saved
        numerical[i] = (above - below) / (2 * epsilon)
    difference = analytical - numerical
    scale = np.linalg.norm(analytical) + np.linalg.norm(numerical)
    return GradientCheck(
        analytical=analytical,
        numerical=numerical,
        max_abs_error=float(np.max(np.abs(difference))),
        relative_error=float(np.linalg.norm(difference) / scale) if scale > 0 else 0.0,
    )
