"""The initial weights: Glorot-uniform, as scikit-learn's MLP draws them."""

from collections.abc import Callable, Sequence

import numpy as np

from fastbp.numerics import layout

# draw(bound, shape): values of U(-bound, bound) in the given shape.
Draw = Callable[[float, tuple[int, ...]], np.ndarray]


def glorot_uniform(sizes, sigmoid_hidden: bool | Sequence[bool], draw: Draw) -> np.ndarray:
    """Every ``W^l_kj`` and ``b^l_k`` drawn from U(-r, r), ``r = sqrt(f_l / (n_{l-1} + n_l))``: a float64 ``theta``.

    ``f_l = 2`` where the units are sigmoids and 6 otherwise (Glorot and
    Bengio, 2010; scikit-learn's factors).  ``sigmoid_hidden`` says where:
    one flag for every layer (scikit-learn's rule: its ``activation`` decides
    the factor of all layers, the output layer's included), or one flag per
    hidden layer ``1 .. L-1``, each hidden layer taking its own factor and the
    output layer that of the last hidden layer (6 where there is none).  A
    sequence of equal flags therefore gives the same weights as that one flag.
    For each layer ``l = 1 .. L``, ``draw(r, (n_l, n_{l-1}))`` gives ``W[l]``
    and then ``draw(r, (n_l,))`` gives ``b[l]``: the order of the draws is the
    caller's, so that one seed gives the weights its library draws (see
    :meth:`fastbp.Network` and the estimators).  Drawn in float64, so that
    float32 and float64 networks start alike once rounded.
    """
    L = len(sizes) - 1
    if isinstance(sigmoid_hidden, Sequence):
        sigmoid = [*sigmoid_hidden, sigmoid_hidden[-1] if sigmoid_hidden else False]
    else:
        sigmoid = [sigmoid_hidden] * L
    theta = np.empty(layout.parameter_count(sizes), dtype=np.float64)
    for l in range(1, L + 1):
        bound = float(np.sqrt((2.0 if sigmoid[l - 1] else 6.0) / (sizes[l - 1] + sizes[l])))
        layout.weights(theta, sizes, l)[:] = draw(bound, (int(sizes[l]), int(sizes[l - 1])))
        layout.biases(theta, sizes, l)[:] = draw(bound, (int(sizes[l]),))
    return theta
