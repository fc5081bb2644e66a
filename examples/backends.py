"""
The same fit on every backend, side by side
===========================================

Trains the digits workload of the benchmarks (64-32-10 sigmoid network,
softmax output, mini-batch SGD, batch 32; :mod:`fastbp.bench.workloads`)
from the same initial weights on each backend that can run here: the
compiled ``serial``, ``parallel`` and ``auto``, ``cuda`` when a GPU is
present (skipped otherwise), the reference loops and the NumPy oracle.  Compilation (or loading
from Numba's cache) is timed apart from training.  Prints a table, with the
final cost of each run (the same on every backend up to rounding), and draws
the milliseconds per epoch as bars (figure: backends.png).  One run each, on
whatever else this machine is doing: for careful timings use ``fastbp bench``.

Run (needs matplotlib: ``pip install "fastbp[plot]"``)::

    python examples/backends.py [--epochs 20] [--dtype float32] [--output backends.png]
"""

import argparse
import time

from fastbp import warm_up
from fastbp.bench.workloads import LEARNING_RATE, WORKLOADS, compiled_backends, unavailable
from fastbp.cli.plotting import new_figure, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per backend (default 20)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--output", default="backends.png", help="the figure's path")
    arguments = parser.parse_args()
    workload = WORKLOADS["digits"]
    X, Y = workload.data(arguments.dtype)
    rows = []
    for backend in compiled_backends() + ["reference", "numpy"]:
        reason = unavailable(backend)
        if reason is not None:
            print(f"{backend}: skipped ({reason})")
            continue
        compile_seconds = warm_up(backend, arguments.dtype)
        network = workload.network(arguments.dtype)
        started = time.perf_counter()
        network.fit(
            X, Y, epochs=arguments.epochs, learning_rate=LEARNING_RATE, batch_size=workload.batch_size, backend=backend
        )
        seconds = time.perf_counter() - started
        rows.append((backend, compile_seconds, 1e3 * seconds / arguments.epochs, network.loss_curve[-1]))

    print(
        f"digits 64-32-10, {X.shape[0]} images, batch {workload.batch_size}, "
        f"{arguments.epochs} epochs, {arguments.dtype}"
    )
    print(f"{'backend':<10}{'compile s':>10}{'ms/epoch':>10}{'final cost':>12}")
    for backend, compile_seconds, per_epoch, cost in rows:
        print(f"{backend:<10}{compile_seconds:>10.2f}{per_epoch:>10.3g}{cost:>12.6f}")

    figure, axes = new_figure(width=6.4, height=4.0)
    bars = axes.bar(
        [row[0] for row in rows], [row[2] for row in rows], color=[f"C{index}" for index in range(len(rows))]
    )
    axes.bar_label(bars, labels=[f"{row[2]:.3g}" for row in rows])
    axes.set_ylabel("milliseconds per epoch")
    axes.set_title(f"the same fit on each backend: digits 64-32-10, {arguments.dtype}")
    print(f"wrote {save(figure, arguments.output)}")


if __name__ == "__main__":
    main()
