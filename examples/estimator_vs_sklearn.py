"""
fastbp's MLPClassifier against scikit-learn's
=============================================

The same classifier, fitted twice on 75% of the 8x8 digits shipped with fastbp
(UCI, CC BY 4.0): once by ``sklearn.neural_network.MLPClassifier``, once by
``fastbp.MLPClassifier``, with the same hyperparameters and ``random_state``.
fastbp draws the initial weights and the shuffling as scikit-learn does and
follows its trajectory step by step, so the two loss curves coincide; what
differs is the time.  fastbp's kernels are compiled (or loaded from Numba's
cache) by a first, untimed fit.  Prints both fit times, their ratio and both
held-out accuracies, and draws both loss curves on one plot (figure:
estimator_vs_sklearn.png).

Run (needs ``pip install "fastbp[sklearn,plot]"``)::

    python examples/estimator_vs_sklearn.py [--max-iter 50] [--output estimator_vs_sklearn.png]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from fastbp import MLPClassifier
from fastbp.cli.plotting import new_figure, save
from fastbp.datasets import load_digits, split

HYPERPARAMETERS = {"hidden_layer_sizes": (32,), "solver": "sgd", "learning_rate_init": 0.1, "random_state": 0}


def timed_fit(model, X, y) -> float:
    """Fit ``model`` on ``(X, y)``; the seconds it took."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few epochs on purpose: not converged
        model.fit(X, y)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-iter", type=int, default=50, help="epochs of each fit (default 50)")
    parser.add_argument("--output", default="estimator_vs_sklearn.png", help="the figure's path")
    arguments = parser.parse_args()
    images, labels = load_digits()
    train, test = split(len(labels), 0.25, seed=0)
    X = images / 16.0

    compile_seconds = timed_fit(MLPClassifier(**HYPERPARAMETERS, max_iter=1), X[train], labels[train])
    models = {
        "scikit-learn": SklearnMLPClassifier(**HYPERPARAMETERS, max_iter=arguments.max_iter),
        "fastbp": MLPClassifier(**HYPERPARAMETERS, max_iter=arguments.max_iter),
    }
    seconds = {name: timed_fit(model, X[train], labels[train]) for name, model in models.items()}
    print(f"digits, {len(train)} training / {len(test)} held-out images; MLPClassifier({HYPERPARAMETERS})")
    print(f"fastbp: compile (or load from Numba's cache) {compile_seconds:.2f} s")
    for name, model in models.items():
        accuracy = model.score(X[test], labels[test])
        print(f"{name}: {model.n_iter_} epochs in {seconds[name]:.3f} s, held-out accuracy {100 * accuracy:.1f}%")
    print(f"scikit-learn's time / fastbp's: {seconds['scikit-learn'] / seconds['fastbp']:.2g}")
    curves = {name: np.array(model.loss_curve_) for name, model in models.items()}
    difference = np.max(np.abs(curves["fastbp"] / curves["scikit-learn"] - 1))
    print(f"largest relative difference between the loss curves: {difference:.1e}")

    figure, axes = new_figure(width=6.4, height=4.4)
    for (name, curve), style in zip(curves.items(), ({"linewidth": 6, "alpha": 0.4}, {"linestyle": "--"})):
        epochs = range(1, len(curve) + 1)
        axes.plot(epochs, curve, label=f"{name}: {seconds[name]:.3f} s", **style)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (log-loss + L2)")
    axes.set_title(f"the same fit, step by step: loss curves within {difference:.0e}")
    axes.legend()
    print(f"wrote {save(figure, arguments.output)}")


if __name__ == "__main__":
    main()
