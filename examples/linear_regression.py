"""Univariate linear regression by batch gradient descent.

The third source text's case: h(x) = w0 + w1 x fitted by
w0 <- w0 + alpha sum_j (y_j - h(x_j)),  w1 <- w1 + alpha sum_j (y_j - h(x_j)) x_j.
That is a fastbp network with no hidden layer (sizes [1, 1]), an identity
output and the mse cost, trained on the whole set at every step; it converges
to the closed-form least-squares line.

Run: python examples/linear_regression.py
"""

import numpy as np

from fastbp import Network


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 50)
    y = 1.5 - 0.7 * x + rng.normal(scale=0.3, size=50)
    network = Network([1, 1], output_activation="identity", cost="mse", seed=0)
    network.fit(x[:, None], y, epochs=1000, learning_rate=0.1, batch_size=len(x), shuffle=False)
    slope, intercept = np.polyfit(x, y, 1)
    print(f"gradient descent: w1 = {network.W[1][0, 0]:.6f}, w0 = {network.b[1][0]:.6f}")
    print(f"least squares:    w1 = {slope:.6f}, w0 = {intercept:.6f}")
    print("cost after 1, 10, 100, 1000 steps: " + ", ".join(f"{network.loss_curve[i]:.5f}" for i in (0, 9, 99, 999)))


if __name__ == "__main__":
    main()
