"""Issue 17's targets on the text workload: fastbp on sparse X against scikit-learn, and against fastbp on X densified.

Each fit runs in a process of its own, so that its peak memory is its own:
the process builds the text workload's CSR matrix (20000 x 50000, 0.1%
nonzero, 20 classes; :mod:`fastbp.bench.workloads`), holds out a quarter of
the rows, then fits ``MLPClassifier(hidden_layer_sizes=(100,), max_iter=E,
random_state=0)`` (scikit-learn's other defaults: adam, relu, batch 200) and
prints one JSON line: the fit's seconds, the held-out accuracy, and the peak
resident memory's growth during the fit (``ru_maxrss`` after the fit minus the
resident memory before it).  ``--runs`` rounds, the three fits alternating.

    python benchmarks/sparse_text.py --epochs 10 --runs 2 --dtype float32
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

FITS = ("fastbp-sparse", "sklearn-sparse", "fastbp-dense")


def resident_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def one_fit(fit: str, epochs: int, dtype: str) -> dict:
    """Build the data, fit as ``fit`` says, and measure (runs in the child process)."""
    import numpy as np

    from fastbp.bench.workloads import WORKLOADS

    X, Y = WORKLOADS["text"].data(dtype)
    labels = Y.argmax(axis=1)
    held_out = np.arange(X.shape[0]) % 4 == 0
    X_train, X_test = X[~held_out], X[held_out]
    if fit == "fastbp-dense":
        X_train, X_test = X_train.toarray(), X_test.toarray()
    if fit.startswith("sklearn"):
        from sklearn.neural_network import MLPClassifier
    else:
        from fastbp import MLPClassifier
        from fastbp.engine.network import warm_up

        warm_up("auto", dtype)
        MLPClassifier(hidden_layer_sizes=(100,), max_iter=1, random_state=0).fit(X_train[:400], labels[~held_out][:400])
    model = MLPClassifier(hidden_layer_sizes=(100,), max_iter=epochs, random_state=0)
    before = resident_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        started = time.perf_counter()
        model.fit(X_train, labels[~held_out])
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "fit": fit,
        "seconds": seconds,
        "accuracy": float(model.score(X_test, labels[held_out])),
        "peak_growth_mb": max(peak - before, 0) / 2**20,
        "dense_matrix_mb": X.shape[0] * X.shape[1] * np.dtype(dtype).itemsize / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--fits", default=",".join(FITS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        print(json.dumps(one_fit(arguments.child, arguments.epochs, arguments.dtype)))
        return 0
    results: dict[str, list[dict]] = {}
    fits = arguments.fits.split(",")
    for run in range(arguments.runs):
        for fit in fits[run % len(fits) :] + fits[: run % len(fits)]:
            command = [sys.executable, __file__, "--child", fit, "--epochs", str(arguments.epochs)]
            done = subprocess.run(command + ["--dtype", arguments.dtype], capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.setdefault(fit, []).append(result)
            print(json.dumps(result), flush=True)
    print(f"\n{arguments.epochs} epochs, {arguments.dtype}, medians of {arguments.runs} run(s):")
    for fit, runs in results.items():
        seconds = statistics.median(run["seconds"] for run in runs)
        print(
            f"  {fit:15s} {seconds:8.2f} s  accuracy {runs[0]['accuracy']:.4f}  "
            f"peak growth {statistics.median(run['peak_growth_mb'] for run in runs):8.0f} MB "
            f"(dense matrix {runs[0]['dense_matrix_mb']:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
