"""fastbp's CUDA backend against PyTorch CUDA and JAX on the GPU, side by side, in one run.

    python benchmarks/gpu_compare.py [--repeats 3] [--workloads digits,mnistlike,...]

Float32, mini-batch SGD (learning rate 0.1, no momentum, L2 1e-4), sigmoid
hidden units, shuffling every epoch, on the workloads of the CPU comparison
(issue 5) plus ``huge``.  PyTorch runs with TF32 off; JAX runs the whole
epoch in one ``jax.jit`` with ``lax.scan`` over the mini-batches and
``jax_default_matmul_precision='highest'`` (full batches only: the ragged
last batch is dropped, which favours JAX slightly).  Each peer is warmed up
(compiled) first, then timed over whole epochs with the device synchronised
before the clock stops; the peers alternate within each repeat so drift hits
all alike.  Prints the median seconds per epoch, the ratios against fastbp,
GFLOP/s and the fraction of the GPU's FP32 peak (6 N W flops per epoch for N
samples and W weights: 2 forward, 2 for the deltas, 2 for the gradients).
Peers that are not installed are skipped with a note.  Never run it under the
CUDA simulator: its timings mean nothing.
"""

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fastbp from this checkout

# FP32 (non-tensor-core) peak of an H100 SXM, NVIDIA's data sheet: used when
# the device cannot be queried for its SM count and clock.
H100_SXM_FP32_PEAK = 67e12
FP32_LANES_PER_SM = {9: 128, 8: 64, 7: 64}  # Hopper, Ampere (GA100), Volta

# name: (samples, sizes, output, cost, batch, epochs timed)
WORKLOADS = {
    "digits": (1797, [64, 32, 10], "softmax", "categorical_cross_entropy", 32, 20),
    "mnistlike": (10000, [784, 128, 64, 10], "softmax", "categorical_cross_entropy", 64, 5),
    "wide": (8192, [1024, 1024, 1024, 10], "softmax", "categorical_cross_entropy", 256, 5),
    "online": (2000, [16, 32, 1], "identity", "mse", 1, 3),
    "xor": (4, [2, 4, 1], "sigmoid", "binary_cross_entropy", 4, 10000),
    "huge": (65536, [4096, 4096, 4096, 10], "softmax", "categorical_cross_entropy", 1024, 2),
}
LEARNING_RATE, L2 = 0.1, 1e-4


def data(name):
    """X, Y (float32) of a workload: the digits shipped with fastbp, XOR, or synthetic."""
    n, sizes, output, cost, *_ = WORKLOADS[name]
    rng = np.random.default_rng(0)
    if name == "digits":
        from fastbp.datasets import load_digits

        X, labels = load_digits()
        return X.astype(np.float32), np.eye(10, dtype=np.float32)[labels]
    if name == "xor":
        return np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32), np.array([[0], [1], [1], [0]], np.float32)
    X = rng.normal(size=(n, sizes[0])).astype(np.float32)
    if output == "softmax":
        return X, np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    return X, rng.normal(size=(n, sizes[-1])).astype(np.float32)


def fastbp_epochs(name, X, Y):
    """A function that trains ``epochs`` epochs with the cuda backend (the fit copies back: synchronous)."""
    from fastbp import Network

    _, sizes, output, cost, batch, _ = WORKLOADS[name]
    network = Network(sizes, "sigmoid", output, cost, l2=L2, dtype="float32", seed=0)
    return lambda epochs: network.fit(
        X, Y, epochs=epochs, learning_rate=LEARNING_RATE, batch_size=batch, backend="cuda"
    )


def torch_epochs(name, X, Y):
    """PyTorch CUDA: nn.Linear layers and optim.SGD, TF32 off, one optimiser step per mini-batch."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    _, sizes, output, cost, batch, _ = WORKLOADS[name]
    device = torch.device("cuda")
    layers = []
    for l in range(1, len(sizes)):
        layers.append(torch.nn.Linear(sizes[l - 1], sizes[l]))
        if l < len(sizes) - 1:
            layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers).to(device)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    Xd, Yd = torch.from_numpy(X).to(device), torch.from_numpy(Y).to(device)

    def batch_cost(out, y):
        if cost == "categorical_cross_entropy":
            data_term = -(y * torch.log_softmax(out, dim=1)).sum(dim=1).mean()
        elif cost == "binary_cross_entropy":
            data_term = torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="sum") / y.shape[0]
        else:
            data_term = 0.5 * ((out - y) ** 2).sum(dim=1).mean()
        return data_term + L2 / (2 * y.shape[0]) * sum((w * w).sum() for w in weights)

    def run(epochs):
        for _ in range(epochs):
            order = torch.randperm(Xd.shape[0], device=device)
            for start in range(0, Xd.shape[0], batch):
                rows = order[start : start + batch]
                optimizer.zero_grad(set_to_none=True)
                batch_cost(model(Xd[rows]), Yd[rows]).backward()
                optimizer.step()
        torch.cuda.synchronize()

    return run


def jax_epochs(name, X, Y):
    """JAX: one jit-compiled epoch, lax.scan over the full mini-batches, matmul precision 'highest'."""
    import jax
    import jax.numpy as jnp

    if jax.default_backend() != "gpu":
        raise RuntimeError(f"JAX runs on {jax.default_backend()}, not on the GPU")
    jax.config.update("jax_default_matmul_precision", "highest")
    _, sizes, output, cost, batch, _ = WORKLOADS[name]
    key = jax.random.PRNGKey(0)
    params = []
    for l in range(1, len(sizes)):
        key, sub = jax.random.split(key)
        bound = np.sqrt(6.0 / (sizes[l] + sizes[l - 1]))
        params.append(
            (
                jax.random.uniform(sub, (sizes[l], sizes[l - 1]), jnp.float32, -bound, bound),
                jnp.zeros(sizes[l], jnp.float32),
            )
        )

    def batch_cost(params, x, y):
        a = x
        for l, (W, b) in enumerate(params):
            z = a @ W.T + b
            a = z if l == len(params) - 1 else jax.nn.sigmoid(z)
        if cost == "categorical_cross_entropy":
            data_term = -(y * jax.nn.log_softmax(a, axis=1)).sum(axis=1).mean()
        elif cost == "binary_cross_entropy":
            data_term = jnp.mean(jnp.sum(jnp.logaddexp(0.0, a) - y * a, axis=1))
        else:
            data_term = 0.5 * jnp.mean(jnp.sum((a - y) ** 2, axis=1))
        return data_term + L2 / (2 * y.shape[0]) * sum(jnp.sum(W * W) for W, _ in params)

    n_batches = X.shape[0] // batch

    @jax.jit
    def epoch(params, key, Xd, Yd):
        order = jax.random.permutation(key, Xd.shape[0])[: n_batches * batch].reshape(n_batches, batch)

        def step(params, rows):
            grads = jax.grad(batch_cost)(params, Xd[rows], Yd[rows])
            return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads), None

        return jax.lax.scan(step, params, order)[0]

    Xd, Yd = jnp.asarray(X), jnp.asarray(Y)
    state = {"params": params, "key": key}

    def run(epochs):
        for _ in range(epochs):
            state["key"], sub = jax.random.split(state["key"])
            state["params"] = epoch(state["params"], sub, Xd, Yd)
        jax.block_until_ready(state["params"])

    return run


PEERS = {
    "fastbp-cuda": ("numba_cuda", fastbp_epochs),
    "pytorch-cuda": ("torch", torch_epochs),
    "jax-gpu": ("jax", jax_epochs),
}


def fp32_peak() -> tuple:
    """(FLOP/s, how it was found): SMs x FP32 lanes x 2 x clock, else the H100 SXM constant."""
    try:
        from numba import cuda

        device = cuda.get_current_device()
        lanes = FP32_LANES_PER_SM.get(device.compute_capability[0])
        if lanes:
            peak = device.MULTIPROCESSOR_COUNT * lanes * 2 * device.CLOCK_RATE * 1e3
            return (
                peak,
                f"{device.name}: {device.MULTIPROCESSOR_COUNT} SMs x {lanes} lanes x 2 "
                f"x {device.CLOCK_RATE / 1e6:.2f} GHz",
            )
    except Exception as error:  # any failure to query falls back to the documented constant
        print(f"note: could not query the device ({error}); using the H100 SXM constant")
    return H100_SXM_FP32_PEAK, "H100 SXM FP32 non-tensor peak, 67 TFLOP/s (data sheet)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    peers = {}
    for peer, (module, make) in PEERS.items():
        if importlib.util.find_spec(module) is None:
            print(f"note: {peer} skipped ({module} is not installed)")
        else:
            peers[peer] = make
    peak, how = fp32_peak()
    print(f"FP32 peak {peak / 1e12:.1f} TFLOP/s ({how})")
    header = f"{'workload':10} {'peer':13} {'s/epoch':>11} {'t/t_fastbp':>10} {'GFLOP/s':>9} {'of peak':>8}"
    print(header)
    for name in args.workloads.split(","):
        X, Y = data(name)
        sizes, epochs = WORKLOADS[name][1], WORKLOADS[name][5]
        flops = 6.0 * X.shape[0] * sum(sizes[l] * sizes[l - 1] for l in range(1, len(sizes)))
        runners = {}
        for peer, make in peers.items():
            try:
                runners[peer] = make(name, X, Y)
                runners[peer](1)  # compile and warm up
            except Exception as error:  # a peer that cannot run this workload is reported, not fatal
                print(f"note: {peer} failed on {name}: {error!r}")
                runners.pop(peer, None)
        times = {peer: [] for peer in runners}
        for _ in range(args.repeats):
            for peer, run in runners.items():
                started = time.perf_counter()
                run(epochs)
                times[peer].append((time.perf_counter() - started) / epochs)
        ours = statistics.median(times["fastbp-cuda"]) if "fastbp-cuda" in times else None
        for peer, values in times.items():
            seconds = statistics.median(values)
            ratio = f"{seconds / ours:9.2f}x" if ours else "         -"
            print(
                f"{name:10} {peer:13} {seconds:11.3e} {ratio:>10} "
                f"{flops / seconds / 1e9:9.1f} {flops / seconds / peak:8.1%}"
            )


if __name__ == "__main__":
    main()
