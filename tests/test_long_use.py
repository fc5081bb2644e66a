"""Long use: many fits in one process keep memory flat; fits in threads match fits one after the other."""

import os
import threading
import warnings

import numba
import numpy as np
import pytest

from fastbp import MLPClassifier, Network

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.default_rng(3)
X = RNG.normal(size=(60, 6))
labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def resident_bytes() -> int:
    """This process's resident memory now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def small_fit(seed: int, backend: str = "serial") -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier((8,), max_iter=3, batch_size=16, shuffle=False, random_state=seed, backend=backend).fit(
            X, labels
        )


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="resident memory is read from /proc")
def test_a_thousand_fits_keep_resident_memory_flat():
    resident = {}
    for fit in range(1, 1001):
        small_fit(fit).predict(X)
        if fit in (1, 100, 1000):
            resident[fit] = resident_bytes()
    print(f"resident memory after fit 1, 100, 1000: {[f'{resident[fit] / 2**20:.1f} MiB' for fit in (1, 100, 1000)]}")
    assert resident[1000] - resident[100] < 10 * 2**20


def fitted_in_threads(fit, seeds) -> list:
    results = [None] * len(seeds)

    def run(i):
        results[i] = fit(seeds[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(seeds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_estimators_fitted_in_two_threads_equal_those_fitted_one_after_the_other(backend):
    seeds = [11, 12]
    alone = [small_fit(seed, backend) for seed in seeds]
    together = fitted_in_threads(lambda seed: small_fit(seed, backend), seeds)
    for one, other in zip(alone, together):
        assert one._network.theta.tobytes() == other._network.theta.tobytes()
        assert one.loss_curve_ == other.loss_curve_


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_networks_fitted_in_two_threads_equal_those_fitted_one_after_the_other(backend):
    Y = np.eye(3)[labels]

    def fit(seed):
        return Network([6, 16, 3], "relu", "softmax", "categorical_cross_entropy", seed=seed).fit(
            X, Y, epochs=40, batch_size=4, backend=backend
        )

    seeds = [1, 2]
    alone = [fit(seed) for seed in seeds]
    together = fitted_in_threads(fit, seeds)
    for one, other in zip(alone, together):
        assert one.theta.tobytes() == other.theta.tobytes()


def test_numba_thread_count_is_per_thread_and_restored():
    # Numba's thread count is thread-local: a new thread starts at NUMBA_NUM_THREADS,
    # whatever the thread that started it set; a fit restores the count it found.
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        seen = fitted_in_threads(
            lambda seed: (numba.get_num_threads(), small_fit(seed, "parallel"), numba.get_num_threads()), [0]
        )[0]
        assert seen[0] == seen[2] == numba.config.NUMBA_NUM_THREADS
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(previous)


def test_a_long_fit_with_a_callback_runs_every_epoch():
    # One epoch per call with a callback: the chunk size, still updated, once grew
    # as 4^epochs and overflowed a float after about 510 epochs.
    seen = []
    network = Network([6, 3], seed=0).fit(
        X, np.eye(3)[labels], epochs=600, batch_size=60, callback=lambda net, epoch, loss: seen.append(epoch)
    )
    assert seen == list(range(1, 601))
    assert len(network.loss_curve) == 600
