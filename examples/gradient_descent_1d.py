"""
Gradient descent on a function of one variable
===============================================

The first source text's picture, ``w <- w - alpha df/dw``: standing at a point
of ``f(w) = (w - 3)^2 + 1``, knowing only the slope there, step downhill in
proportion to it.  A small alpha creeps, a larger one gets there fast, one too
large overshoots and diverges.  Prints each path and draws the steps on the
curve, one panel per alpha (figure: gradient_descent_1d.png).

Run (needs matplotlib: ``pip install "fastbp[plot]"``)::

    python examples/gradient_descent_1d.py [--steps 20] [--output gradient_descent_1d.png]
"""

import argparse

import numpy as np

from fastbp import gradient_descent_1d
from fastbp.cli.plotting import new_figure, save

ALPHAS = (0.05, 0.3, 1.05)


def f(w):
    return (w - 3.0) ** 2 + 1.0


def df_dw(w: float) -> float:
    return 2.0 * (w - 3.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="updates per run (default 20)")
    parser.add_argument("--output", default="gradient_descent_1d.png", help="the figure's path")
    arguments = parser.parse_args()
    figure, panels = new_figure(len(ALPHAS), width=4.2 * len(ALPHAS), height=4.0)
    for alpha, axes in zip(ALPHAS, panels):
        path = gradient_descent_1d(df_dw, w0=-4.0, learning_rate=alpha, steps=arguments.steps)
        print(
            f"alpha={alpha:<5} w: "
            + " ".join(f"{w:.3g}" for w in path[:6])
            + f" ... {path[-1]:.6g}  f(w)={f(path[-1]):.6g}"
        )
        reach = max(7.0, float(np.max(np.abs(path - 3.0)))) * 1.05
        w = np.linspace(3.0 - reach, 3.0 + reach, 400)
        axes.plot(w, f(w), color="0.6", label="f(w) = (w - 3)^2 + 1")
        axes.plot(path, f(path), "o-", color="C3", markersize=4, linewidth=1, label="steps")
        axes.plot(path[0], f(path[0]), "s", color="C0", label="start")
        axes.set_title(f"alpha = {alpha}: w = {path[-1]:.3g} after {arguments.steps} steps")
        axes.set_xlabel("w")
        axes.set_ylabel("f(w)")
        axes.legend(loc="upper center")
    print(f"wrote {save(figure, arguments.output)}")


if __name__ == "__main__":
    main()
