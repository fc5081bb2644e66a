"""
The three-layer sigmoid network learning XOR
============================================

Input (2 units), one hidden layer of sigmoid units, one sigmoid output, the
binary cross-entropy cost, batch gradient descent on the four samples.  No
single layer can separate XOR; the hidden layer makes it separable.  Draws
the output ``a^L`` over the plane with its decision boundary ``a^L = 0.5`` and
the four samples (figure: xor.png).

Run (needs matplotlib: ``pip install "fastbp[plot]"``)::

    python examples/xor.py [--epochs 5000] [--output xor.png]
"""

import argparse

import numpy as np

from fastbp import Network
from fastbp.cli.plotting import new_figure, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5000, help="batch gradient descent steps (default 5000)")
    parser.add_argument("--output", default="xor.png", help="the figure's path")
    arguments = parser.parse_args()
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    network = Network([2, 4, 1], "sigmoid", "sigmoid", "binary_cross_entropy", seed=0)
    network.fit(X, y, epochs=arguments.epochs, learning_rate=0.5, batch_size=4)
    outputs = network.predict(X)
    for x, target, output in zip(X, y[:, 0], outputs[:, 0]):
        print(f"{x.astype(int)} -> {output:.3f} (target {target:.0f})")
    print(f"all four correct: {bool(np.all((outputs > 0.5) == (y > 0.5)))}, final cost {network.loss_curve[-1]:.4f}")

    grid = np.linspace(-0.5, 1.5, 201)
    x1, x2 = np.meshgrid(grid, grid)
    surface = network.predict(np.column_stack([x1.ravel(), x2.ravel()]))[:, 0].reshape(x1.shape)
    figure, axes = new_figure(width=5.6, height=4.8)
    filled = axes.contourf(x1, x2, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    axes.contour(x1, x2, surface, levels=[0.5], colors="k", linewidths=2)
    figure.colorbar(filled, ax=axes, label="a^L (network output)")
    for label, marker in ((0, "o"), (1, "s")):
        rows = y[:, 0] == label
        axes.scatter(X[rows, 0], X[rows, 1], marker=marker, s=120, c="white", edgecolors="k", label=f"XOR = {label}")
    axes.set_xlabel("x_1")
    axes.set_ylabel("x_2")
    axes.set_title(f"2-4-1 sigmoid network after {len(network.loss_curve)} epochs; black: a^L = 0.5")
    axes.legend(loc="upper right")
    print(f"wrote {save(figure, arguments.output)}")


if __name__ == "__main__":
    main()
