"""
Univariate linear regression by batch gradient descent
======================================================

The third source text's case: ``h(x) = w0 + w1 x`` fitted by
``w0 <- w0 + alpha sum_j (y_j - h(x_j))``, ``w1 <- w1 + alpha sum_j (y_j - h(x_j)) x_j``.
That is a fastbp network with no hidden layer (sizes ``[1, 1]``), an identity
output and the mse cost, trained on the whole set at every step; it converges
to the closed-form least-squares line.  Draws the data with the fitted line,
and the cost after each iteration (figure: linear_regression.png).

Run (needs matplotlib: ``pip install "fastbp[plot]"``)::

    python examples/linear_regression.py [--iterations 1000] [--output linear_regression.png]
"""

import argparse

import numpy as np

from fastbp import Network
from fastbp.cli.plotting import new_figure, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=1000, help="batch gradient descent steps (default 1000)")
    parser.add_argument("--output", default="linear_regression.png", help="the figure's path")
    arguments = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 50)
    y = 1.5 - 0.7 * x + rng.normal(scale=0.3, size=50)
    network = Network([1, 1], output_activation="identity", cost="mse", seed=0)
    network.fit(x[:, None], y, epochs=arguments.iterations, learning_rate=0.1, batch_size=len(x), shuffle=False)
    w1, w0 = network.W[1][0, 0], network.b[1][0]
    slope, intercept = np.polyfit(x, y, 1)
    print(f"gradient descent: w1 = {w1:.6f}, w0 = {w0:.6f}")
    print(f"least squares:    w1 = {slope:.6f}, w0 = {intercept:.6f}")
    shown = [i for i in (0, 9, 99, 999) if i < len(network.loss_curve)]
    print(
        f"cost after {', '.join(str(i + 1) for i in shown)} steps: "
        + ", ".join(f"{network.loss_curve[i]:.5f}" for i in shown)
    )

    figure, (data, cost) = new_figure(2, width=10.0, height=4.2)
    line = np.linspace(-2, 2, 2)
    data.plot(x, y, "o", color="C0", markersize=4, label="data")
    data.plot(line, w0 + w1 * line, color="C3", label=f"h(x) = {w0:.3f} + ({w1:.3f}) x, gradient descent")
    data.plot(line, intercept + slope * line, "--", color="k", linewidth=1, label="least squares")
    data.set_xlabel("x")
    data.set_ylabel("y")
    data.set_title("the fitted line")
    data.legend()
    cost.plot(range(1, len(network.loss_curve) + 1), network.loss_curve)
    cost.set_xscale("log")
    cost.set_xlabel("iteration")
    cost.set_ylabel("cost C = (1/2N) sum_j (h(x_j) - y_j)^2")
    cost.set_title("cost per iteration")
    print(f"wrote {save(figure, arguments.output)}")


if __name__ == "__main__":
    main()
