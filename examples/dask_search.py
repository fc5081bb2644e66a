"""
Hyperparameter search over a Dask cluster
=========================================

scikit-learn's ``GridSearchCV`` over fastbp's ``MLPClassifier``.  The search
code is plain scikit-learn; joblib's Dask backend sends each fit to a worker.
Without ``--scheduler`` it starts a local cluster of worker processes (each
with its share of the cores for Numba); with it, the same code runs on a
cluster started elsewhere, for example on each machine::

    dask scheduler                                            # once, prints tcp://host:8786
    NUMBA_NUM_THREADS=8 dask worker tcp://host:8786 --nworkers 2 --nthreads 1   # 16 cores

Run (needs ``pip install "fastbp[dask,sklearn]"``)::

    python examples/dask_search.py [--scheduler tcp://host:8786] [--workers 2]
"""

import argparse
import time
import warnings
from contextlib import nullcontext

import joblib
from distributed import Client
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from fastbp import MLPClassifier
from fastbp.datasets import load_digits
from fastbp.scaleout.dask import kernel_report, local_cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a local cluster)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default: 2)")
    options = parser.parse_args()

    pixels, labels = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(pixels / 16.0, labels, test_size=0.25, random_state=0)
    grid = {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-2], "learning_rate_init": [0.05, 0.2]}
    search = GridSearchCV(MLPClassifier(solver="sgd", max_iter=20, random_state=0), grid, cv=3)

    cluster = (
        nullcontext(options.scheduler) if options.scheduler else local_cluster(options.workers, dashboard_address=None)
    )
    with cluster as address, Client(address) as client:
        started = time.perf_counter()
        with joblib.parallel_backend("dask"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X_train, y_train)
        seconds = time.perf_counter() - started
        reports = client.run(kernel_report)

    n_fits = len(search.cv_results_["params"]) * search.n_splits_
    print(f"{n_fits} fits on {len(reports)} Dask workers in {seconds:.2f} s ({n_fits / seconds:.1f} fits/s)")
    for worker, report in sorted(reports.items()):
        print(
            f"  {worker}: {report['numba_threads']} Numba threads, {report['signatures']} kernel signatures "
            f"({report['loaded']} loaded from Numba's cache, {report['compiled']} compiled)"
        )
    print(f"best parameters: {search.best_params_}")
    print(f"cross-validated accuracy {search.best_score_:.3f}, held-out accuracy {search.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
