"""Iris-sized fits and predictions of fastbp's estimators against scikit-learn's, side by side (issue 14).

Run: ``python -m benchmarks.small_fits`` (scikit-learn needed; it is imported
when the script runs).  Each line is one pair of estimators with the same
parameters and ``random_state`` (so both follow the same trajectory and run
the same epochs), fitted ``--rounds`` times each, fastbp and scikit-learn
alternating; the medians and their ratio are printed.  The rounds are those
of ``fastbp bench`` (:func:`fastbp.bench.compare.measure_rounds`): the order
turns from round to round, a short call runs once untimed right before its
timed run, and each call is followed by an untimed pause of
``SETTLE_SECONDS``, so that neither library is timed while the other's
thread pool (OpenBLAS's, Numba's OpenMP threads) still spins on the cores.  The fits are
scikit-learn's small datasets (iris, wine, breast cancer; standardised), a
hidden layer of 16, 32 or 64 relu units, adam and sgd, up to 300 epochs,
float64.  Then scikit-learn's defaults on the digits, and ``predict`` /
``predict_proba`` / ``score`` of one row and of the 1797 digits (as
``load_digits`` gives them, a strided view, and C-contiguous).

Each fit's line also counts its work (:func:`fit_flops`, the count of
``fastbp bench``), so that the speeds read against the machine's float64 FMA
peak on the threads the fits use (:func:`fastbp.bench.peaks.fma_peak`,
measured first): fastbp's and scikit-learn's GFLOP/s, and the fraction of the
peak that fastbp would need for a ratio of ``--target`` (issue 14's 20x).
"""

import argparse
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from fastbp.bench.compare import flops_per_unit, measure_rounds
from fastbp.bench.peaks import cpu_model, fma_peak
from fastbp.bench.peers import SETTLE_SECONDS, Peer
from fastbp.bench.workloads import Workload


@dataclass
class TimedCall:
    """A call in the rounds of :func:`fastbp.bench.compare.measure_rounds`: ``repeats`` calls make one unit."""

    name: str
    call: Callable[[], object]
    repeats: int
    settle_seconds: float = SETTLE_SECONDS
    compile_seconds: float | None = None

    def train(self) -> None:
        for _ in range(self.repeats):
            self.call()


def side_by_side(calls: dict, rounds: int, repeats: int = 1) -> dict:
    """Median seconds of one call of each, over ``rounds`` rounds of ``repeats`` calls (see the module's text)."""
    units: list[Peer] = [TimedCall(name, call, repeats) for name, call in calls.items()]
    seconds = measure_rounds(units, rounds)
    return {name: float(np.median(values)) / repeats for name, values in seconds.items()}


def fitting(estimator_class, params: dict, X, y):
    """A call that fits a new ``estimator_class(**params)`` to ``(X, y)``."""
    return lambda: estimator_class(**params).fit(X, y)


def fit_flops(n_samples: int, sizes: tuple[int, ...], batch_size: int, epochs: int) -> float:
    """FLOPs of ``epochs`` epochs of ``n_samples`` samples through ``sizes``, as ``fastbp bench`` counts them."""
    workload = Workload("fit", sizes, "softmax", "categorical_cross_entropy", batch_size, epochs, lambda rng: None)
    return flops_per_unit(workload, n_samples)


def small_fits(rounds: int, target: float, peak: float) -> None:
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    from fastbp import MLPClassifier

    ratios = []
    for name, load in (("iris", load_iris), ("wine", load_wine), ("cancer", load_breast_cancer)):
        X, y = load(return_X_y=True)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        for hidden in (16, 32, 64):
            for solver in ("adam", "sgd"):
                params = dict(hidden_layer_sizes=(hidden,), solver=solver, max_iter=300, random_state=0)
                fitted = MLPClassifier(**params).fit(X, y)  # compiled, or loaded from Numba's cache
                seconds = side_by_side(
                    {
                        "fastbp": fitting(MLPClassifier, params, X, y),
                        "sklearn": fitting(SklearnMLPClassifier, params, X, y),
                    },
                    rounds,
                )
                ratios.append(seconds["sklearn"] / seconds["fastbp"])
                # scikit-learn's network: one logistic output for two classes, else one per class
                sizes = (X.shape[1], hidden, fitted.n_outputs_)
                flops = fit_flops(X.shape[0], sizes, min(200, X.shape[0]), fitted.n_iter_)
                needed = flops * target / seconds["sklearn"] / 1e9
                print(
                    f"{name:6s} {X.shape[0]:3d} x {X.shape[1]:2d}, {hidden:2d} units, {solver:4s}, "
                    f"{fitted.n_iter_} epochs: fastbp {seconds['fastbp'] * 1e3:7.2f} ms, "
                    f"scikit-learn {seconds['sklearn'] * 1e3:7.1f} ms, {ratios[-1]:5.1f}x; GFLOP/s fastbp "
                    f"{flops / seconds['fastbp'] / 1e9:5.1f}, scikit-learn {flops / seconds['sklearn'] / 1e9:4.1f}, "
                    f"{target:g}x needs {needed:5.1f} ({100 * needed / peak:3.0f}% of the peak)",
                    flush=True,
                )
    print(f"geometric mean of the ratios: {np.exp(np.mean(np.log(ratios))):.1f}x")


def digits(rounds: int) -> None:
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

    from fastbp import MLPClassifier, MLPRegressor

    X, y = load_digits(return_X_y=True)
    models = {"fastbp": MLPClassifier(random_state=0).fit(X, y)}
    seconds = side_by_side(
        {
            "fastbp": lambda: models.__setitem__("fastbp", MLPClassifier(random_state=0).fit(X, y)),
            "sklearn": lambda: models.__setitem__("sklearn", SklearnMLPClassifier(random_state=0).fit(X, y)),
        },
        rounds,
    )
    print(
        f"digits, scikit-learn's defaults ({models['fastbp'].n_iter_} epochs): fastbp "
        f"{seconds['fastbp'] * 1e3:.0f} ms, scikit-learn {seconds['sklearn'] * 1e3:.0f} ms, "
        f"{seconds['sklearn'] / seconds['fastbp']:.2f}x"
    )
    target = (y - 4.5) / 3
    regressors = {
        "fastbp": MLPRegressor(random_state=0, max_iter=20).fit(X, target),
        "sklearn": SklearnMLPRegressor(random_state=0, max_iter=20).fit(X, target),
    }
    for rows, inputs in (("one row", X[:1]), ("1797 rows", X), ("1797 rows, C-contiguous", np.ascontiguousarray(X))):
        for kind, estimators, methods in (
            ("classifier", models, ("predict", "predict_proba", "score")),
            ("regressor", regressors, ("predict", "score")),
        ):
            for method in methods:
                labels = (y if kind == "classifier" else target)[: len(inputs)]

                def call(name, method=method, inputs=inputs, labels=labels, estimators=estimators):
                    function = getattr(estimators[name], method)
                    return lambda: function(inputs, labels) if method == "score" else function(inputs)

                seconds = side_by_side({name: call(name) for name in ("fastbp", "sklearn")}, rounds, repeats=200)
                print(
                    f"{kind} {method:13s} {rows:24s} fastbp {seconds['fastbp'] * 1e6:7.1f} us, "
                    f"scikit-learn {seconds['sklearn'] * 1e6:7.1f} us, {seconds['sklearn'] / seconds['fastbp']:5.2f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per comparison (default 5)")
    parser.add_argument("--target", type=float, default=20.0, help="the ratio to scikit-learn to size (default 20)")
    args = parser.parse_args()
    # ConvergenceWarning (300 epochs), and UndefinedMetricWarning (R^2 of one row is NaN, for both)
    warnings.simplefilter("ignore")
    threads = numba.get_num_threads()
    peak = fma_peak("float64", threads)
    print(f"{cpu_model()}; float64 FMA peak on {threads} threads: {peak:.1f} GFLOP/s")
    small_fits(args.rounds, args.target, peak)
    digits(args.rounds)


if __name__ == "__main__":
    main()
