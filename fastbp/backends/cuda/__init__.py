"""The CUDA backend: docs/notation.md's index loops as ``numba.cuda`` kernels.

The entry points have the names and signatures of :mod:`fastbp.backends.cpu.serial`
and take host NumPy arrays: each copies its inputs to the GPU, runs its
kernels and copies its outputs back.  :func:`train_epochs` keeps everything
on the device for the whole call: one copy in, one copy out, and no host
synchronisation per mini-batch (see its docstring).

Each formula is written once, as a device function computing one element,
with the formula quoted above it (``input_sum_at`` computes ``z^l_k`` for
one ``(n, k)``, ``weight_gradient_at`` computes ``dC/dW^l_kj`` for one
``(k, j)``, ...).  Three kinds of kernels call them:

* the **element kernels**: one thread per ``(n, k)`` of the input sums, per
  ``(n, j)`` of the deltas, per ``(k, j)`` of the weight gradients, per
  parameter of the update;
* the **tiled kernels**, for wide layers: the input sums, the delta recursion
  and the weight gradients are matrix products (docs/notation.md's matrix form),
  computed tile by tile through shared memory (:func:`tile_products`), each
  thread holding ``REGISTERS x REGISTERS`` outputs in registers;
* the **fused epoch kernel**, for small networks: one thread block runs every
  step of every mini-batch of an epoch, the threads striding over the same
  elements, separated by ``cuda.syncthreads()``, so that one launch per epoch
  replaces a dozen per mini-batch.

The scalar formulas of :mod:`fastbp.numerics.formulas`, the layout helpers of
:mod:`fastbp.numerics.layout` and the update rules of :mod:`fastbp.numerics.optim` are
``register_jitable`` functions; numba-cuda compiles them for the device
when a kernel calls them (it installs the "generic" overloads of Numba's
registry defined outside Numba, see ``numba_cuda/numba/cuda/typing/context.py``),
so they stay written once for every backend.

Thread blocks: ``BLOCK x BLOCK`` threads for two-dimensional kernels and
``BLOCK * BLOCK`` for one-dimensional ones; ``BLOCK`` (a power of two) is
read from the environment variable ``FASTBP_CUDA_BLOCK`` when this module is
first imported (default 16), and ``REGISTERS`` from ``FASTBP_CUDA_REGISTERS``
(default 4).  The tests set them small so that their inputs span several
blocks with ragged last blocks.

Importing this module raises :class:`ImportError` when the ``numba-cuda``
package is missing and :class:`RuntimeError` when no CUDA GPU can be used
(Numba's CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``, counts as one).
"""

import importlib.util

if importlib.util.find_spec("numba_cuda") is None:
    raise ImportError(
        "the cuda backend needs the numba-cuda package, which is not installed: "
        "pip install 'fastbp[cuda]' (or pip install numba-cuda)"
    )

from numba import cuda  # noqa: E402

if not cuda.is_available():
    raise RuntimeError(
        "the cuda backend needs an NVIDIA GPU with a working CUDA driver, and none was found "
        "(numba.cuda.is_available() is False); use backend='serial'"
    )


from fastbp.backends.cuda.host import (  # noqa: E402
    accumulate_gradients,
    apply_update,
    backprop_deltas,
    cost_and_gradient,
    data_cost,
    forward,
    load_batch,
    output_delta,
    predict,
    squared_weights,
    train_epochs,
)

__all__ = [
    "accumulate_gradients",
    "apply_update",
    "backprop_deltas",
    "cost_and_gradient",
    "data_cost",
    "forward",
    "load_batch",
    "output_delta",
    "predict",
    "squared_weights",
    "train_epochs",
]
