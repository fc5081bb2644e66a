"""The three-layer sigmoid network learning XOR.

Input (2 units), one hidden layer of sigmoid units, one sigmoid output, the
binary cross-entropy cost, batch gradient descent on the four samples.  No
single layer can separate XOR; the hidden layer makes it separable.

Run: python examples/xor.py
"""

import numpy as np

from fastbp import Network


def main() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    network = Network([2, 4, 1], "sigmoid", "sigmoid", "binary_cross_entropy", seed=0)
    network.fit(X, y, epochs=5000, learning_rate=0.5, batch_size=4)
    outputs = network.predict(X)
    for x, target, output in zip(X, y[:, 0], outputs[:, 0]):
        print(f"{x.astype(int)} -> {output:.3f} (target {target:.0f})")
    print(f"all four correct: {bool(np.all((outputs > 0.5) == (y > 0.5)))}, final cost {network.loss_curve[-1]:.4f}")


if __name__ == "__main__":
    main()
