"""fastbp side by side with PyTorch, JAX, scikit-learn and NumPy, in one run.

Run::

    fastbp bench                                      # every workload, float32, all cores
    fastbp bench --workloads digits,online --threads 1 --rounds 10
    python -m benchmarks.compare ...                  # the same, from the repository root

Each workload (:mod:`fastbp.bench.workloads`) trains the same network on the
same data with every peer: mini-batch SGD, learning rate 0.1, no momentum,
L2 1e-4 on the weights, sigmoid hidden units, reshuffled every epoch.

Peers (:mod:`fastbp.bench.peers`, each written as its own experts write it; none
is a fastbp dependency, and a peer that is not installed is skipped with a
note): every compiled fastbp backend through ``Network.fit``, fastbp's
estimators, fastbp's NumPy oracle, JAX (``pip install jax``), PyTorch eager
and with ``torch.compile`` (``pip install torch``), scikit-learn.

The peers are timed in rounds: each round trains every peer for one
measurement unit (one epoch; 10000 epochs for xor), the order rotated from
round to round, so that drift of the machine (clock, caches, other load)
hits every peer alike.  After each unit of a peer that runs on another
thread pool (BLAS, PyTorch's, XLA's, Numba's OpenMP threads) the next peer waits ``SETTLE_SECONDS``
untimed: those pools keep their threads spinning for a while after their
work, on the cores the next peer needs.  A peer whose unit is short (under
``HOT_SECONDS``) runs an untimed unit right before each timed one, so that no
peer is timed with caches that the pause emptied.  Reported: the median seconds per
unit over the rounds, each peer's time divided by the best fastbp backend's (above 1:
fastbp is that many times faster), GFLOP/s and their fraction of the machine's
two peaks (:mod:`fastbp.bench.peaks`): the FMA throughput of a compiled loop at
the widest vector width, and the best BLAS matrix product, both in the same
dtype and thread count.  The header names the CPU and the vector widths of
Numba's register-blocked loops and of its register tiles.  One untimed unit per peer comes
first, so compilation is excluded from the times; compile times are printed
on their own (fastbp: :func:`fastbp.engine.network.warm_up`, which loads Numba's
on-disk cache when it is warm; JAX: lowering and compiling the unit; torch-compile:
its first unit).

The FLOP count of one epoch of ``N`` samples in batches of ``B``, for layer
sizes ``n_0 .. n_L`` (multiply-add = 2 FLOPs, activations not counted):

* forward, per sample and layer ``l``: ``z^l = W^l a^{l-1}``: ``2 n_l n_{l-1}``;
* backward deltas, per sample and layer ``l >= 2``:
  ``(W^l)^T delta^l``: ``2 n_l n_{l-1}`` (none for ``l = 1``: the input has no delta);
* weight gradients, per sample and layer: ``delta^l (a^{l-1})^T``: ``2 n_l n_{l-1}``;
* update, per batch: ``2 P`` for the ``P`` parameters (gradient scale and step);
* sparse inputs (the ``text`` workload): layer 1's forward and gradient count
  ``2 n_1`` per stored nonzero instead of ``2 n_1 n_0`` per sample.
"""

import argparse
import math
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from fastbp.backends.cpu.tuning import VECTOR_BITS
from fastbp.bench import peaks
from fastbp.bench.peers import EstimatorPeer, FastbpPeer, JaxPeer, Peer, SklearnPeer, TorchPeer
from fastbp.bench.workloads import WORKLOADS, Workload, compiled_backends, is_sparse, unavailable

# xor: PyTorch and scikit-learn take 10 to 40 s per 10000 epochs, hence 3 rounds
DEFAULT_ROUNDS = {"digits": 20, "mnistlike": 5, "wide": 3, "online": 7, "xor": 3, "text": 3}
QUICK_ROUNDS = 2
# Units shorter than this are timed right after an untimed one (see measure_rounds).
HOT_SECONDS = 0.05
PEERS = ["fastbp", "numpy", "jax", "torch", "torch-compile", "sklearn"]


def flops_per_unit(workload: Workload, n_samples: int, nonzeros: int | None = None) -> float:
    """FLOPs of one measurement unit, counted as in the module docstring.

    For sparse inputs with ``nonzeros`` stored values, layer 1 counts the
    multiply-adds of the nonzeros only: ``2 n_1`` per nonzero, forward and gradient.
    """
    sizes = workload.sizes
    per_sample = 0.0
    for l in range(1, len(sizes)):
        passes = 3 if l >= 2 else 2  # forward, weight gradient, and the delta below it for l >= 2
        inputs = nonzeros / n_samples if l == 1 and nonzeros is not None else sizes[l - 1]
        per_sample += passes * 2 * sizes[l] * inputs
    parameters = sum(sizes[l] * sizes[l - 1] + sizes[l] for l in range(1, len(sizes)))
    n_batches = math.ceil(n_samples / workload.batch_size)
    return float(workload.epochs * (n_samples * per_sample + n_batches * 2 * parameters))


def make_peers(
    names: list[str], workload: Workload, X: np.ndarray, Y: np.ndarray, threads: int, notes: list[str]
) -> list[Peer]:
    """The peers named in ``names`` that can run here; a note for each that cannot."""
    peers: list[Peer] = []
    for name in names:
        if name == "fastbp":
            for backend in compiled_backends():
                reason = unavailable(backend)
                if reason is None:
                    peers.append(FastbpPeer(workload, X, Y, backend))
                else:
                    notes.append(f"fastbp-{backend} skipped: {reason}")
            try:
                peers.append(EstimatorPeer(workload, X, Y))
            except ImportError as error:
                notes.append(f"fastbp-estimator skipped: scikit-learn not installed ({error})")
            continue
        try:
            if name == "numpy":
                peers.append(FastbpPeer(workload, X, Y, "numpy"))
            elif name in ("torch", "torch-compile"):
                peers.append(TorchPeer(workload, X, Y, threads, compiled=name == "torch-compile"))
            elif name == "jax":
                peers.append(JaxPeer(workload, X, Y))
            elif name == "sklearn":
                peers.append(SklearnPeer(workload, X, Y))
        except ImportError as error:
            notes.append(f"{name} skipped: not installed ({error})")
        except Exception as error:  # a peer that cannot run here, such as torch.compile without a compiler
            notes.append(f"{name} skipped: {type(error).__name__}: {error}")
    return peers


def measure_rounds(peers: list[Peer], rounds: int) -> dict[str, list[float]]:
    """Seconds of each peer's measurement units, ``rounds`` of them, order rotated each round.

    A peer whose first, untimed unit takes less than ``HOT_SECONDS`` runs one untimed unit right
    before each timed one, so that every peer is timed with its own data and
    code in the caches: after the settling pause of the peer before it, a short
    unit ran up to twice as slow whichever peer it was (benchmarks/README.md,
    "Hot units"), and the rotation handed that penalty to the peers unevenly.
    """
    short = set()
    for peer in peers:
        started = time.perf_counter()
        peer.train()  # untimed: first calls (allocation, lazy initialisation) excluded
        if time.perf_counter() - started < HOT_SECONDS:
            short.add(peer.name)
    seconds: dict[str, list[float]] = {peer.name: [] for peer in peers}
    for round_index in range(rounds):
        shift = round_index % len(peers)
        for peer in peers[shift:] + peers[:shift]:
            if peer.name in short:
                peer.train()
            started = time.perf_counter()
            peer.train()
            seconds[peer.name].append(time.perf_counter() - started)
            time.sleep(peer.settle_seconds)
    return seconds


def milliseconds(seconds: float) -> str:
    """``seconds`` in milliseconds, four significant digits, never in exponent form."""
    value = seconds * 1e3
    return f"{value:.0f}" if value >= 1000 else f"{value:.4g}"


def report(
    workload: Workload,
    n_samples: int,
    seconds: dict[str, list[float]],
    compile_seconds: dict[str, float | None],
    machine_peaks: tuple[float, float],
    rounds: int,
    nonzeros: int | None = None,
) -> str:
    """The table of one workload (``nonzeros``: the stored values of sparse inputs)."""
    flops = flops_per_unit(workload, n_samples, nonzeros)
    unit = (
        "10000 epochs"
        if workload.epochs == 10000
        else f"{workload.epochs} epoch" + ("s" if workload.epochs > 1 else "")
    )
    median = {name: statistics.median(times) for name, times in seconds.items()}
    fastbp = [name for name in median if name.startswith("fastbp-")]
    best = min(median[name] for name in fastbp) if fastbp else None
    lines = [
        f"{workload.name}: {'-'.join(map(str, workload.sizes))} {workload.output_activation} output, "
        f"{workload.cost}, {n_samples} samples, batch {workload.batch_size}; unit = {unit}, "
        f"{flops / 1e9:.4g} GFLOP; median of {rounds} rounds",
        f"  {'peer':<16}{'ms/unit':>12}{'x fastbp':>10}{'GFLOP/s':>10}{'% FMA':>7}{'% BLAS':>8}{'compile s':>11}",
    ]
    for name in sorted(median, key=lambda name: median[name]):
        ratio = f"{median[name] / best:.2f}" if best else "-"
        rate = flops / median[name] / 1e9
        compiled = compile_seconds.get(name)
        lines.append(
            f"  {name:<16}{milliseconds(median[name]):>12}{ratio:>10}{rate:>10.3g}"
            f"{100 * rate / machine_peaks[0]:>7.1f}{100 * rate / machine_peaks[1]:>8.1f}"
            f"{'-' if compiled is None else f'{compiled:.3g}':>11}"
        )
    return "\n".join(lines)


def limit_threads(threads: int) -> Any:
    """A context limiting the BLAS/OpenMP pools (NumPy, scikit-learn) to ``threads``, if threadpoolctl is there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The comparison's options, on ``parser`` (this module's own, or ``fastbp bench``'s)."""
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated, from: " + ", ".join(WORKLOADS)
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, from: " + ", ".join(PEERS))
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per workload (default: per workload)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="threads for every peer (default: Numba's count)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds: checks that the comparison runs")


def check_arguments(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> argparse.Namespace:
    """Split the comma-separated lists and check every name and number (``parser.error`` otherwise)."""
    for option, known in (("workloads", WORKLOADS), ("peers", PEERS)):
        names = getattr(arguments, option).split(",")
        unknown = [name for name in names if name not in known]
        if unknown:
            parser.error(f"unknown {option}: {', '.join(unknown)}")
        setattr(arguments, option, names)
    if arguments.rounds is not None and arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    if arguments.threads is not None:
        import numba

        if not 1 <= arguments.threads <= numba.config.NUMBA_NUM_THREADS:
            parser.error(
                f"--threads must be from 1 to NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, "
                f"got {arguments.threads}"
            )
    return arguments


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line of ``python -m benchmarks.compare``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return check_arguments(parser, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the comparison and print one table per workload."""
    return run(parse_arguments(argv))


def run(arguments: argparse.Namespace) -> int:
    """Run the comparison of checked ``arguments`` and print one table per workload."""
    import numba

    threads_before = numba.get_num_threads()
    threads = arguments.threads or threads_before
    notes = []
    if "jax" in arguments.peers and "jax" not in sys.modules:
        if threads == 1:
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            )
        elif threads != os.cpu_count():
            notes.append(f"jax uses all {os.cpu_count()} cores: XLA has no flag for {threads} threads")
    limits = limit_threads(threads)
    if limits is None:
        notes.append("threadpoolctl not installed: NumPy's BLAS threads not limited")
    numba.set_num_threads(threads)
    try:
        machine_peaks = peaks.fma_peak(arguments.dtype, threads), peaks.blas_peak(arguments.dtype, threads)
        print(
            f"fastbp compare: {arguments.dtype}, {threads} thread(s), {os.cpu_count()} CPU(s): {peaks.cpu_model()}; "
            f"Numba's loops use {peaks.numba_vector_bits()}-bit vectors, "
            f"the register tiles {VECTOR_BITS}-bit"
        )
        print(
            f"peaks: FMA {machine_peaks[0]:.1f} GFLOP/s (compiled loop of independent FMAs), "
            f"BLAS {machine_peaks[1]:.1f} GFLOP/s (NumPy {peaks.BLAS_SIZE}-square product, "
            f"{'/'.join(peaks.BLAS_THROTTLES)} unset)"
        )
        print(f"load average at start (1, 5, 15 min): {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
        print("ms/unit: median seconds per unit x 1000; x fastbp: peer time / best fastbp backend time\n")
        for name in arguments.workloads:
            workload = WORKLOADS[name]
            try:
                X, Y = workload.data(arguments.dtype)
            except ImportError as error:  # the text workload's sparse matrix needs scipy
                notes.append(f"{name} skipped: {error}")
                continue
            peers = make_peers(arguments.peers, workload, X, Y, threads, notes)
            rounds = arguments.rounds or (QUICK_ROUNDS if arguments.quick else DEFAULT_ROUNDS[name])
            seconds = measure_rounds(peers, rounds)
            compile_seconds = {peer.name: peer.compile_seconds for peer in peers}
            nonzeros = X.nnz if is_sparse(X) else None
            table = report(workload, X.shape[0], seconds, compile_seconds, machine_peaks, rounds, nonzeros)
            print(table + "\n", flush=True)
    finally:
        numba.set_num_threads(threads_before)
        if limits is not None:
            limits.restore_original_limits()
    for note in dict.fromkeys(notes):
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
