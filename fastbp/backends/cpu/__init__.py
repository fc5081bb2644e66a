"""The CPU backends: the index loops compiled by Numba, on one thread (``serial``) or several (``parallel``).

:mod:`~fastbp.backends.cpu.loops` holds the loops of the derivation over ranges
of units and samples, :mod:`~fastbp.backends.cpu.parallel` splits them over
threads, :mod:`~fastbp.backends.cpu.serial` is the backend module (the layer by
layer structure and the training loop), :mod:`~fastbp.backends.cpu.tuning`
the compilation options, tiles and thresholds, :mod:`~fastbp.backends.cpu.lanes`
element operations written as LLVM intrinsics.
"""
