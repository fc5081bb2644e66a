"""Hyperparameter search on a Dask cluster: worker processes with their share of the cores.

fastbp's estimators run unchanged in scikit-learn's ``GridSearchCV`` and
``RandomizedSearchCV`` under joblib's Dask backend::

    from distributed import Client
    import joblib

    with Client("tcp://scheduler:8786"), joblib.parallel_backend("dask"):
        search.fit(X, y)              # each fit runs as a task on some worker

Compiled kernels.  A task unpickles an estimator whose class lives in
:mod:`fastbp.sklearn.base`; the worker process imports fastbp once, loads each
kernel from Numba's on-disk cache (:mod:`fastbp.numerics.cache`) the first
time a task calls it, and keeps it in memory for the tasks that follow.  A
worker thus compiles nothing when the cache is warm (it is written by the
first process that compiles, and shared by the processes of one
installation, or by every worker whose ``NUMBA_CACHE_DIR`` names one shared
folder: ``fastbp compile`` fills it ahead), and loads each kernel once per
process, not once per task.  :func:`kernel_report`
tells what a process has loaded and compiled: run it on every worker with
``client.run(kernel_report)``.

Threads.  Numba sizes its thread pool once, when it is imported, from the
environment variable ``NUMBA_NUM_THREADS`` (default: every core), and
``numba.set_num_threads`` only lowers the count for the thread that calls it
(Dask runs tasks in threads of its own).  Worker processes that each use
every core oversubscribe them, so each worker process is started with
``NUMBA_NUM_THREADS = cores // worker processes`` in its environment, and
one Dask thread (fits in one worker run one after the other; the workers
run fits side by side).  One thread per worker also keeps Numba's default
threading layer safe: it must not be entered from two threads at once.

The variable must be set before the worker process starts: a worker plugin
or preload runs too late whenever numba was imported first, and it is
whenever the launching script imports fastbp at its top, because a spawned
worker imports the launching script again.  On a cluster, set it where the
workers are launched (16 cores, 2 worker processes)::

    NUMBA_NUM_THREADS=8 dask worker tcp://scheduler:8786 --nworkers 2 --nthreads 1

On one machine, :func:`local_cluster` does it for a ``LocalCluster``.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numba
from numba.core.dispatcher import Dispatcher

from fastbp.engine.validation import check_positive_int

try:
    from distributed import LocalCluster
except ImportError as error:  # pragma: no cover - the test extra installs distributed
    raise ImportError("fastbp.scaleout.dask needs Dask's distributed scheduler: pip install 'fastbp[dask]'") from error


def numba_threads_per_worker(n_workers: int, cores: int | None = None) -> int:
    """``cores // n_workers``, at least 1: each worker process's share of the machine.

    Parameters
    ----------
    n_workers : int
        Worker processes on the machine.
    cores : int, optional
        The machine's cores (default: ``os.cpu_count()``).
    """
    n_workers = check_positive_int(n_workers, "n_workers")
    cores = (os.cpu_count() or 1) if cores is None else check_positive_int(cores, "cores")
    return max(1, cores // n_workers)


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set environment ``variables`` in this process for the block, then restore the previous values."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def local_cluster(n_workers: int = 2, cores: int | None = None, **kwargs: Any) -> LocalCluster:
    """A ``LocalCluster`` of worker processes, each with its share of the cores for Numba.

    Each of the ``n_workers`` processes runs one task at a time
    (``threads_per_worker=1``) with ``NUMBA_NUM_THREADS`` set to
    :func:`numba_threads_per_worker` in its environment.  Multiprocessing
    passes the environment of the launching process to the workers it
    spawns, so the variable is set in this process while the workers start
    and restored right after; it is also given to the nannies (``env``), which
    set it in workers they restart.  Numba in this process keeps its thread
    pool: its size was fixed when numba was imported.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    cores : int, optional
        Cores to share between them (default: ``os.cpu_count()``).
    **kwargs
        Passed on to ``distributed.LocalCluster`` (``dashboard_address``,
        ``memory_limit``, ...).

    Returns
    -------
    distributed.LocalCluster
        Started; use it with ``distributed.Client(cluster)`` and close it when done.
    """
    variables = {"NUMBA_NUM_THREADS": str(numba_threads_per_worker(n_workers, cores))}
    with environment(variables):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=variables, **kwargs)


def kernel_report() -> dict[str, int]:
    """fastbp's compiled kernels in this process, and where they came from.

    Run it on every worker with ``client.run(kernel_report)``.

    Returns
    -------
    dict
        ``numba_threads``: the size of Numba's thread pool;
        ``signatures``: compiled signatures held in memory, over all of
        fastbp's kernels; ``loaded``: signatures loaded from Numba's on-disk
        cache; ``compiled``: signatures compiled because the cache had none;
        ``most_loads``: the most times one signature was loaded (1 when each
        kernel was loaded once for the whole process).
    """
    dispatchers = {
        id(value): value
        for name, module in list(sys.modules.items())
        if name == "fastbp" or name.startswith("fastbp.")
        for value in list(vars(module).values())
        if isinstance(value, Dispatcher)
    }.values()
    loads = [count for dispatcher in dispatchers for count in dispatcher.stats.cache_hits.values()]
    return {
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "signatures": sum(len(dispatcher.signatures) for dispatcher in dispatchers),
        "loaded": sum(loads),
        "compiled": sum(sum(dispatcher.stats.cache_misses.values()) for dispatcher in dispatchers),
        "most_loads": max(loads, default=0),
    }
