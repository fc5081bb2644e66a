"""fastbp beyond one machine, on the distributed engines that already exist.

* :mod:`fastbp.scaleout.dask`: hyperparameter search (scikit-learn's
  ``GridSearchCV`` / ``RandomizedSearchCV``) spread over a Dask cluster
  through joblib's Dask backend, workers started with their share of the
  cores (``pip install "fastbp[dask]"``).
* :mod:`fastbp.scaleout.mpi`: data-parallel training with MPI, each rank
  holding a shard of the data, gradients (or parameters) averaged with
  ``Allreduce`` (``pip install "fastbp[mpi]"``, run under ``mpiexec``).

Neither is imported by ``import fastbp``: each submodule imports its engine
(distributed, mpi4py) when it is imported itself.
"""
