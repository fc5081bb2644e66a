"""The training engine: the :class:`~fastbp.engine.network.Network` object and what drives the backends.

Validation of user input (:mod:`~fastbp.engine.validation`), the model file
(:mod:`~fastbp.engine.io`), the epoch driver (:mod:`~fastbp.engine.training`),
L-BFGS (:mod:`~fastbp.engine.lbfgs`), the step-by-step API
(:mod:`~fastbp.engine.functional`), finite differences
(:mod:`~fastbp.engine.gradcheck`) and Ctrl-C handling
(:mod:`~fastbp.engine.interrupts`).  It imports the backends and the
numerics, never scikit-learn or the command line.
"""

# Reports the first compile of each kernel configuration on standard error (see the module).
from fastbp.engine import compiling  # noqa: E402, F401
