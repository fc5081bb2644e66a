"""Batch training by L-BFGS-B (SciPy) on the cost C and its gradient from a backend's kernels.

One call of the objective is one forward and one backward pass over the
whole training set (the batch of docs/notation.md is all ``N`` samples), computed
by the same compiled kernels that train mini-batches:

    N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2        (N = sum_n s_n)

and ``dC/dtheta`` from ``output_delta``, ``backprop_deltas`` and
``accumulate_gradients``.  SciPy works in float64; a float32 network is
evaluated in float32 and its gradient handed back in float64.
"""

from collections.abc import Callable

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from fastbp.backends import get_backend, kernel_plan, numba_threads
from fastbp.engine.compiling import NOTICE
from fastbp.engine.interrupts import cancellable
from fastbp.engine.validation import all_finite, check_backend_reads, check_buffers_fit
from fastbp.numerics import layout
from fastbp.numerics.sparse import CSRRows, activations_of


def cost_and_gradient(network, backend: str, X: np.ndarray, Y: np.ndarray, S: np.ndarray, n_jobs=None) -> Callable:
    """The function ``theta -> (C, dC/dtheta)`` of ``network`` on the samples ``X, Y`` weighted by ``S``.

    It writes each ``theta`` it is given into ``network.theta`` (the kernels
    read the parameters from there).
    """
    check_backend_reads(backend, X)
    kernels = get_backend(backend)
    sizes, n_samples = network.sizes, X.shape[0]
    with NOTICE.index_loops():
        plan = kernel_plan(backend, sizes, n_samples, network.dtype, n_jobs, sparse=isinstance(X, CSRRows))
    check_buffers_fit(sizes, n_samples, network.dtype, "L-BFGS over the whole training set")
    A = activations_of(X, sizes, network.dtype)
    D = layout.delta_buffer(sizes, n_samples, network.dtype)
    grad = np.empty_like(network.theta)
    weight_sum = float(np.sum(S, dtype=np.float64))

    def evaluate(theta: np.ndarray) -> tuple[float, np.ndarray]:
        network.theta[:] = theta
        with cancellable(), numba_threads(plan[0]):
            # N C = sum_n s_n C_n + (lambda / 2) sum_l sum_kj (W^l_kj)^2
            total = kernels.cost_and_gradient(
                *network.kernel_arguments(), A, D, Y, S, n_samples, weight_sum, grad, *plan
            )
        return total / weight_sum, grad.astype(np.float64)

    return evaluate


def minimize_cost(
    network,
    backend: str,
    X,
    Y,
    S,
    max_iter: int,
    max_fun: int,
    tol: float,
    callback: Callable | None = None,
    n_jobs=None,
) -> OptimizeResult:
    """Minimise C over ``network.theta`` by L-BFGS-B; the network keeps the best parameters found.

    ``max_iter``, ``max_fun`` and ``tol`` are SciPy's ``maxiter``, ``maxfun``
    and ``gtol``.  ``callback(iteration, cost)`` is called after every
    iteration; returning True stops the optimisation.

    A ``KeyboardInterrupt`` raised inside the optimisation (a Ctrl-C that
    was not held back, see :mod:`fastbp.engine.interrupts`) stops it: the network
    gets the parameters of the last completed iteration (the initial ones
    if none completed), and the result has ``interrupted = True``.  So does
    an end with a NaN or infinite cost or parameters, with ``diverged = True``.
    """
    evaluate = cost_and_gradient(network, backend, X, Y, S, n_jobs)
    accepted = OptimizeResult(
        x=network.theta.astype(np.float64),
        fun=None,
        nit=0,
        status=-1,
        message="interrupted",
        success=False,
        interrupted=True,
    )

    def after_iteration(intermediate_result: OptimizeResult) -> None:
        accepted.nit += 1
        accepted.x[:] = intermediate_result.x
        accepted.fun = float(intermediate_result.fun)
        if callback is not None and callback(accepted.nit, accepted.fun):
            raise StopIteration

    try:
        result = minimize(
            evaluate,
            accepted.x.copy(),
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
            callback=after_iteration,
        )
    except KeyboardInterrupt:
        result = accepted
    else:
        if not (np.isfinite(result.fun) and all_finite(result.x)):
            result = accepted
            result.update(interrupted=False, diverged=True, message="the cost became NaN or infinite")
    if result.fun is None:
        result.fun = float(evaluate(result.x)[0])
    network.theta[:] = result.x
    return result
