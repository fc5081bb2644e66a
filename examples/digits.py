"""Handwritten digits: a 64-32-10 sigmoid network with a softmax output.

Trains on 75% of the 8x8 digits shipped with fastbp (UCI, CC BY 4.0) by
mini-batch gradient descent and reports held-out accuracy and timings; the
same job as ``python -m fastbp``.

Run: python examples/digits.py [epochs]
"""

import sys

from fastbp.demo import report, train_digits


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    print(report(train_digits(epochs=epochs), "serial"))


if __name__ == "__main__":
    main()
