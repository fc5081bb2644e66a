"""fit time of fastbp.MLPClassifier against scikit-learn's, same parameters, on the digits shipped with fastbp.

Run: ``python -m benchmarks.estimator_vs_sklearn`` (scikit-learn needed; it is
imported when the script runs, so that asv can import this module without it).  For each solver it fits
both estimators ``REPEATS`` times on 75% of the digits (pixels / 16) with the
same parameters and random_state (so both follow the same trajectory), and
prints the median fit times, their ratio and both held-out accuracies.  The
first fastbp fit (JIT compile, or loading Numba's cache) is timed apart.
"""

import time
import warnings

import numpy as np

from fastbp.datasets import load_digits, split

REPEATS = 7
PARAMS = dict(hidden_layer_sizes=(32,), max_iter=30, batch_size=32, learning_rate_init=0.01, random_state=0)


def timed_fit(model, X, y) -> float:
    started = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - started


def main() -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from fastbp import MLPClassifier

    images, labels = load_digits()
    X = images / 16.0
    train, test = split(len(labels), 0.25, seed=0)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"digits: {len(train)} training / {len(test)} held-out images; {PARAMS}; median of {REPEATS} fits")
    for solver in ("sgd", "adam"):
        compile_seconds = timed_fit(MLPClassifier(solver=solver, **PARAMS), X[train], labels[train])
        times = {"fastbp": [], "sklearn": []}
        models = {}
        for _ in range(REPEATS):
            for name, cls in (("fastbp", MLPClassifier), ("sklearn", SklearnMLP)):
                models[name] = cls(solver=solver, **PARAMS)
                times[name].append(timed_fit(models[name], X[train], labels[train]))
        fastbp_s, sklearn_s = np.median(times["fastbp"]), np.median(times["sklearn"])
        print(
            f"{solver}: first fastbp fit (compile or cache load) {compile_seconds:.3f} s; "
            f"fit fastbp {fastbp_s * 1e3:.1f} ms, sklearn {sklearn_s * 1e3:.1f} ms, "
            f"ratio sklearn/fastbp {sklearn_s / fastbp_s:.1f}x; "
            f"held-out accuracy fastbp {models['fastbp'].score(X[test], labels[test]):.4f}, "
            f"sklearn {models['sklearn'].score(X[test], labels[test]):.4f}"
        )


if __name__ == "__main__":
    main()
