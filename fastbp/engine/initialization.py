"""The initial weights: Glorot-uniform, as scikit-learn's MLP draws them."""

from collections.abc import Callable

import numpy as np

from fastbp.numerics import layout

# draw(bound, shape): values of U(-bound, bound) in the given shape.
Draw = Callable[[float, tuple[int, ...]], np.ndarray]


def glorot_uniform(sizes, sigmoid_hidden: bool, draw: Draw) -> np.ndarray:
    """Every ``W^l_kj`` and ``b^l_k`` drawn from U(-r, r), ``r = sqrt(f / (n_{l-1} + n_l))``: a float64 ``theta``.

    ``f = 2`` when the hidden units are sigmoids and 6 otherwise (Glorot and
    Bengio, 2010; scikit-learn's factors).  For each layer ``l = 1 .. L``,
    ``draw(r, (n_l, n_{l-1}))`` gives ``W[l]`` and then ``draw(r, (n_l,))`` gives
    ``b[l]``: the order of the draws is the caller's, so that one seed gives the
    weights its library draws (see :meth:`fastbp.Network` and the estimators).
    Drawn in float64, so that float32 and float64 networks start alike once rounded.
    """
    theta = np.empty(layout.parameter_count(sizes), dtype=np.float64)
    factor = 2.0 if sigmoid_hidden else 6.0
    for l in range(1, len(sizes)):
        bound = float(np.sqrt(factor / (sizes[l - 1] + sizes[l])))
        layout.weights(theta, sizes, l)[:] = draw(bound, (int(sizes[l]), int(sizes[l - 1])))
        layout.biases(theta, sizes, l)[:] = draw(bound, (int(sizes[l]),))
    return theta
