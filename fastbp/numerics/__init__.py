"""The numerics layer: the compilable formulas and the storage they work on.

The scalar activations and costs (:mod:`~fastbp.numerics.formulas`), the
vectorisable ``exp`` (:mod:`~fastbp.numerics.exp`), the flat buffers and their
per-layer views (:mod:`~fastbp.numerics.layout`), the optimisers' update rules
(:mod:`~fastbp.numerics.optim`) and the shuffling generator
(:mod:`~fastbp.numerics.shuffling`), and the on-disk cache of compiled kernels
(:mod:`~fastbp.numerics.cache`).  Each is written once and compiled for
every target; nothing here imports anything of fastbp outside this package but its version.
"""
