"""A small training run with one choice of CUDA kernels, for compute-sanitizer (see gpu_run.sh).

compute-sanitizer --tool racecheck python benchmarks/racecheck_run.py {element,tiled,fused}
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastbp import Network  # noqa: E402
from fastbp.backends import get_backend  # noqa: E402

SETTINGS = {"element": (10**9, -1), "tiled": (0, -1), "fused": (10**9, 10**12)}

if __name__ == "__main__":
    get_backend("cuda")
    from fastbp.backends.cuda import config

    config.TILED_MIN_WIDTH, config.FUSED_MAX_WORK = SETTINGS[sys.argv[1]]
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(37, 9)), rng.integers(0, 3, 37)
    network = Network([9, 11, 7, 3], "tanh", "softmax", "categorical_cross_entropy", l2=1e-3, seed=0)
    network.fit(X, np.eye(3)[labels], epochs=2, learning_rate=0.1, batch_size=8, backend="cuda")
    print(sys.argv[1], "loss curve", network.loss_curve)
