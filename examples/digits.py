"""
Handwritten digits: learning curve and confusion matrix
=======================================================

A 64-32-10 sigmoid network with a softmax output, trained on 75% of the 8x8
digits shipped with fastbp (UCI, CC BY 4.0) by mini-batch gradient descent
(the same job as ``python -m fastbp``).  Records the cost C on the training
and the held-out images after every epoch, and draws that learning curve next
to the confusion matrix of the held-out images: row = true digit, column =
predicted digit (figure: digits.png).

Run (needs matplotlib: ``pip install "fastbp[plot]"``)::

    python examples/digits.py [--epochs 30] [--output digits.png]
"""

import argparse

import numpy as np

from fastbp import functional
from fastbp.cli.demo import report, train_digits
from fastbp.cli.plotting import new_figure, save
from fastbp.datasets import load_digits, one_hot, split, standardization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
    parser.add_argument("--output", default="digits.png", help="the figure's path")
    arguments = parser.parse_args()
    images, labels = load_digits()
    train, test = split(len(labels), 0.25, seed=0)  # train_digits' split (seed 0)
    mean, scale = standardization(images.astype(np.float64), train)
    X_test, Y_test = (images[test] - mean) / scale, one_hot(labels[test], 10)
    held_out = []

    def record(network, epoch: int, loss: float) -> bool:
        held_out.append(functional.cost(network, X_test, Y_test))
        return False

    result = train_digits(epochs=arguments.epochs, callback=record)
    print(report(result, "serial") + " (training time includes the held-out cost after each epoch)")
    network = result["network"]
    predicted = np.argmax(network.predict(X_test), axis=1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels[test], predicted), 1)

    figure, (curve, matrix) = new_figure(2, width=11.0, height=4.6)
    epochs = range(1, len(network.loss_curve) + 1)
    curve.plot(epochs, network.loss_curve, label="training")
    curve.plot(epochs, held_out, label="held-out")
    curve.set_yscale("log")
    curve.set_xlabel("epoch")
    curve.set_ylabel("cost C (categorical cross-entropy + L2)")
    curve.set_title("learning curve")
    curve.legend()
    shown = matrix.imshow(confusion, cmap="Blues")
    for (true, guess), count in np.ndenumerate(confusion):
        if count:
            matrix.text(
                guess,
                true,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if count > confusion.max() / 2 else "black",
            )
    matrix.set_xticks(range(10))
    matrix.set_yticks(range(10))
    matrix.set_xlabel("predicted digit")
    matrix.set_ylabel("true digit")
    matrix.set_title(f"held-out confusion matrix: {100 * result['accuracy']:.1f}% correct")
    figure.colorbar(shown, ax=matrix)
    print(f"wrote {save(figure, arguments.output)}")


if __name__ == "__main__":
    main()
