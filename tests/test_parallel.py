"""The parallel backend: layers big enough to be split over threads, checked against the oracle and for determinism."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from conftest import OUTPUT_COSTS, TOLERANCE, random_targets, run_probe

from fastbp import Network, functional
from fastbp.backends import check_n_jobs, get_backend, numba_threads, thread_count
from fastbp.backends.cpu import by_address
from fastbp.backends.cpu.serial import shares_rows
from fastbp.backends.cpu.tuning import (
    PARALLEL_MIN_PARAMETERS,
    PARALLEL_MIN_WORK,
    TILED_DELTAS,
    TILED_GRADIENTS,
    TILED_INPUT_SUMS,
    few_inputs,
    worth_tiling,
)
from fastbp.engine.training import Trainer
from fastbp.numerics import layout
from fastbp.numerics.optim import hyperparameters

# Layers 1 and 2 carry 64 * 256 * 64 = 2**20 multiply-adds per batch of 64, above
# PARALLEL_MIN_WORK, and go to the threads; layer 3 (64 * 10 * 64) stays serial.
# The 33738 parameters are above PARALLEL_MIN_PARAMETERS of either optimiser: the update is threaded too.
SIZES = [64, 256, 64, 10]
BATCH = 64
# Layers 1 and 2 (513 x 515 and 517 x 513 weights, batches of 129) go through the register
# tiles, for the input sums, the gradients and (layer 2's weights) the deltas of layer 1; 129
# samples, 513 and 517 units leave partial tiles on both sides.  Split in two, the 10 output
# units and the 129 samples give odd shares, which the threads must round up.
BIG_SIZES = [515, 513, 517, 10]
BIG_BATCH = 129
# Batches of 257 samples, more than layers 1 and 2 have units: their input sums are shared among
# the threads by samples (shares of 132 and 125, the second with a partial block of four).
TALL_SIZES = [70, 48, 30]
TALL_BATCH = 257
# Online learning (one sample a batch) with a layer of 514 x 520 weights, enough work for the threads:
# its gradients go to them in chunks of four rows (the last of two), one thread runs them in one pass.
ONLINE_SIZES = [520, 514, 3]
# Twelve inputs to 1030 units in batches of 32: one thread sums layer 1's gradients with the units
# innermost (few inputs), the threads in chunks of four rows (the last of two) with the inputs innermost.
FEW_INPUTS_SIZES = [12, 1030, 10]
FEW_INPUTS_BATCH = 32
NETWORKS = {
    "small": (SIZES, BATCH),
    "tiled": (BIG_SIZES, BIG_BATCH),
    "tall": (TALL_SIZES, TALL_BATCH),
    "online": (ONLINE_SIZES, 1),
    "few inputs": (FEW_INPUTS_SIZES, FEW_INPUTS_BATCH),
}

needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")


def problem(dtype, seed=0, sizes=SIZES, batch=BATCH):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3 * batch + 5, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], X.shape[0])]
    return X, Y


def test_the_layers_and_the_update_really_go_to_the_threads():
    assert BATCH * SIZES[1] * SIZES[0] >= PARALLEL_MIN_WORK > BATCH * SIZES[3] * SIZES[2]
    assert layout.parameter_count(np.array(SIZES)) >= max(PARALLEL_MIN_PARAMETERS)
    for threshold in (TILED_INPUT_SUMS, TILED_DELTAS, TILED_GRADIENTS):
        assert not worth_tiling(BATCH, np.empty((SIZES[1], SIZES[0])), threshold)
        assert worth_tiling(BIG_BATCH, np.empty((BIG_SIZES[1], BIG_SIZES[0])), threshold)
        assert worth_tiling(BIG_BATCH, np.empty((BIG_SIZES[2], BIG_SIZES[1])), threshold)
        assert not worth_tiling(BIG_BATCH, np.empty((BIG_SIZES[3], BIG_SIZES[2])), threshold)
    for l in (1, 2):
        assert TALL_BATCH * TALL_SIZES[l] * TALL_SIZES[l - 1] >= PARALLEL_MIN_WORK and TALL_BATCH > TALL_SIZES[l]
    assert ONLINE_SIZES[1] * ONLINE_SIZES[0] >= PARALLEL_MIN_WORK and ONLINE_SIZES[1] % 4 == 2
    assert FEW_INPUTS_BATCH * FEW_INPUTS_SIZES[1] * FEW_INPUTS_SIZES[0] >= PARALLEL_MIN_WORK
    assert FEW_INPUTS_SIZES[1] % 4 == 2
    assert few_inputs(FEW_INPUTS_SIZES[0], FEW_INPUTS_SIZES[1]) and not few_inputs(FEW_INPUTS_SIZES[0], 4)
    # The tall network's forward pass and deltas go to the threads in one region, shared by samples;
    # the others' layer by layer: fewer samples than units (small, tiled), or, with more samples than
    # units, a layer in the register tiles (2048 inputs: 257 x 256 x 2048 multiply-adds).
    assert worth_tiling(257, np.empty((256, 2048)), TILED_INPUT_SUMS)
    for (sizes, batch), shared in (
        (NETWORKS["tall"], True),
        (NETWORKS["small"], False),
        (NETWORKS["tiled"], False),
        (([2048, 256, 10], 257), False),
    ):
        network = Network(sizes, seed=0)
        A = layout.activation_buffer(network.sizes, batch, network.dtype)
        assert shares_rows(network.theta, network.sizes, A, batch, 2, True) is shared
        assert shares_rows(network.theta, network.sizes, A, batch, 1, True) is False


@needs_two_threads
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", ["sigmoid", "relu"])
@pytest.mark.parametrize("shape", NETWORKS)
def test_threaded_steps_match_oracle(shape, hidden, dtype):
    sizes, batch = NETWORKS[shape]
    network = Network(sizes, hidden, "softmax", "categorical_cross_entropy", l2=0.1, dtype=dtype, seed=1)
    X, Y = problem(dtype, sizes=sizes, batch=batch)
    X, Y = X[:batch], Y[:batch]
    a = functional.forward(network, X, "parallel")
    a_ref = functional.forward(network, X, "numpy")
    for got, want in zip(a, a_ref):
        np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    d = functional.deltas(network, a_ref, Y, "parallel")
    d_ref = functional.deltas(network, a_ref, Y, "numpy")
    for got, want in zip(d[1:], d_ref[1:]):
        np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    got = functional.gradient_vector(network, a_ref, d_ref, "parallel")
    want = functional.gradient_vector(network, a_ref, d_ref, "numpy")
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def batch_step(network, X, Y, S, backend, n_threads):
    """``backend``'s cost_and_gradient on ``n_threads`` threads: N C, dC/dtheta, and the A and D it leaves."""
    n_samples = X.shape[0]
    A = layout.activation_buffer(network.sizes, n_samples, network.dtype)
    D = layout.delta_buffer(network.sizes, n_samples, network.dtype)
    layout.layer(A, network.sizes, 0, n_samples, 0)[:] = X
    grad = np.empty_like(network.theta)
    by_address.prepare(network.dtype, by_address.THREADS)  # as kernel_plan does for a fit on threads
    with numba_threads(n_threads):
        total = get_backend(backend).cost_and_gradient(
            *network.kernel_arguments(), A, D, Y, S, n_samples, float(S.sum()), grad, n_threads, None
        )
    return total, grad, A, D


@needs_two_threads
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_samples_shared_up_and_down_the_network_match_one_thread_and_oracle(output, cost, dtype):
    # The tall network's batch takes the one-region path (parallel.rows_up_and_down) on two
    # threads, the layer-by-layer loops on one: bitwise the same, for every output delta.
    sizes, batch = NETWORKS["tall"]
    network = Network(sizes, "relu", output, cost, l2=0.3, dtype=dtype, seed=4)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    Y = random_targets(rng, batch, sizes[-1], output, cost).astype(dtype)
    S = np.linspace(0.5, 1.5, batch).astype(dtype)
    two, one = batch_step(network, X, Y, S, "parallel", 2), batch_step(network, X, Y, S, "parallel", None)
    assert two[0] == one[0] and all(got.tobytes() == want.tobytes() for got, want in zip(two[1:], one[1:]))
    oracle = batch_step(network, X, Y, S, "numpy", None)
    assert two[0] == pytest.approx(oracle[0], rel=TOLERANCE[dtype])
    for got, want in zip(two[1:], oracle[1:]):
        np.testing.assert_allclose(
            got, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * max(1.0, np.abs(want).max())
        )


# delta^L of the tall network's batch on two threads (parallel.rows_up_and_down) against
# loops.output_delta called on its own, for every output and cost pair: the JSON list of those
# that differ in any bit.
OUTPUT_DELTA_PROBE = """
import json
import numba, numpy as np
from fastbp import Network
from fastbp.backends.cpu import by_address, loops, parallel
from fastbp.numerics import layout

numba.get_num_threads()
by_address.prepare("float32", by_address.THREADS)
differing = []
for output, cost in PAIRS:
    sizes, n = [70, 48, 30], 257
    network = Network(sizes, "relu", output, cost, dtype="float32", seed=4)
    theta, sizes, codes, cost_argument = network.kernel_arguments()[:4]
    rng = np.random.default_rng(4)
    A = layout.activation_buffer(sizes, n, network.dtype)
    layout.layer(A, sizes, 0, n, 0)[:] = rng.normal(size=(n, 70))
    D = layout.delta_buffer(sizes, n, network.dtype)
    Y = np.eye(30, dtype=np.float32)[rng.integers(0, 30, n)]
    S = np.linspace(0.5, 1.5, n).astype(np.float32)
    parallel.rows_up_and_down(theta, sizes, codes, cost_argument, A, 0, D, Y, S, n, (1, 2), (2, 2), 2)
    alone = np.empty_like(Y)
    loops.output_delta(cost_argument, codes[2], layout.layer(A, sizes, 2, n, 0), Y, S, alone)
    if alone.tobytes() != layout.layer(D, sizes, 2, n, 1).tobytes():
        differing.append([output, cost])
print(json.dumps(differing))
"""


@needs_two_threads
def test_delta_of_the_output_layer_is_bitwise_the_same_in_a_kernel_loaded_from_the_cache(tmp_path):
    # Compiled in one process, loaded from the cache in the next: the threaded kernel's delta^L once
    # differed from output_delta's own in the last bit, for the pairs whose delta^L is a product of
    # three factors (sigmoid and softmax with the squared error, sigmoid with the categorical
    # cross-entropy), where LLVM was free to reassociate it (benchmarks/README.md, "The last bit of
    # delta^L on two threads").
    script = OUTPUT_DELTA_PROBE.replace("PAIRS", repr(OUTPUT_COSTS))
    assert run_probe(script, tmp_path) == []
    assert run_probe(script, tmp_path) == []


def train(backend, n_jobs, dtype="float32", optimizer="sgd", shape="small"):
    sizes, batch = NETWORKS[shape]
    network = Network(sizes, "sigmoid", "softmax", "categorical_cross_entropy", l2=1e-4, dtype=dtype, seed=2)
    X, Y = problem(dtype, seed=3, sizes=sizes, batch=batch)
    trainer = Trainer(network, hyperparameters(0.1, momentum=0.9), optimizer, backend, n_jobs=n_jobs)
    trainer.run(X, Y, np.ones(X.shape[0], dtype=dtype), epochs=3, batch_size=batch)
    return network


@needs_two_threads
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", NETWORKS)
def test_one_and_two_threads_give_bitwise_identical_weights(shape, dtype, optimizer):
    one = train("parallel", 1, dtype, optimizer, shape)
    two = train("parallel", 2, dtype, optimizer, shape)
    serial = train("serial", None, dtype, optimizer, shape)
    assert one.theta.tobytes() == two.theta.tobytes() == serial.theta.tobytes()
    assert one.loss_curve == two.loss_curve == serial.loss_curve


@needs_two_threads
def test_thread_count_follows_n_jobs_and_is_restored():
    before = numba.get_num_threads()
    assert thread_count("parallel", SIZES, BATCH, n_jobs=1) == 1
    assert thread_count("serial", SIZES, BATCH, n_jobs=2) == 1
    assert thread_count("auto", [2, 4, 1], 4, n_jobs=2) == 1
    assert thread_count("auto", SIZES, BATCH, n_jobs=2) == 2
    with numba_threads(1):
        assert numba.get_num_threads() == 1
        assert thread_count("parallel", SIZES, BATCH) == 1
    assert numba.get_num_threads() == before
    train("parallel", 1)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("n_jobs, error", [(0, ValueError), (10**6, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_n_jobs(n_jobs, error):
    with pytest.raises(error, match="n_jobs"):
        check_n_jobs(n_jobs)
    # also where the auto backend keeps a small network on one thread
    with pytest.raises(error, match="n_jobs"):
        thread_count("auto", [2, 4, 1], 4, n_jobs=n_jobs)


def test_a_one_thread_plan_leaves_numbas_thread_count_alone():
    """``numba_threads(None)``, a kernel compiled without the threads' code: the count is not set, or reset."""
    before = numba.get_num_threads()
    with numba_threads(1):
        with numba_threads(None):
            assert numba.get_num_threads() == 1
        assert numba.get_num_threads() == 1
    with numba_threads(None):
        assert numba.get_num_threads() == before
    assert numba.get_num_threads() == before


# Three fresh processes sharing an empty Numba cache: the first compiles a parallel kernel alone,
# the second compiles the forward pass that calls it (the kernel then comes from the cache), the
# third loads that forward pass from the cache and runs it.
FRESH_PROCESSES = [
    """
    from fastbp.backends.cpu import by_address, parallel
    W, b, a_prev, z = np.ones((256, 64)), np.ones(256), np.ones((64, 64)), np.empty((64, 256))
    by_address.prepare("float64", by_address.FORWARD)
    parallel.forward_layer(W, b, 0, a_prev, z, 2)  # 0: identity
    """,
    """
    functional.forward(Network([64, 256, 64, 10], seed=0), np.ones((64, 64)), "parallel")
    """,
    """
    network, X = Network([64, 256, 64, 10], seed=0), np.ones((64, 64))
    a, a_ref = functional.forward(network, X, "parallel"), functional.forward(network, X, "numpy")
    print(np.allclose(a[-1], a_ref[-1]))
    """,
]


@needs_two_threads
def test_a_cached_caller_of_a_parallel_kernel_finds_the_threads_started(tmp_path):
    # Numba (issue #8578, 0.68 included) starts its thread pool when it loads a parallel
    # function from the cache, but not when it loads a cached caller that has the parallel code
    # linked in: that caller would crash on a pool never started.  fastbp's entry points ask for
    # Numba's thread count first, which starts the pool.
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for source in FRESH_PROCESSES:
        program = "import numpy as np\nfrom fastbp import Network, functional\n" + textwrap.dedent(source)
        result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_cpu_backend_comes_with_numbas_threads_started():
    # A cached kernel that links parallel code, loaded before Numba started its threads, called a
    # null pointer even on one thread (Numba #8578): `fastbp predict` crashed after a `fastbp
    # train` had filled the cache. get_backend starts the threads for every CPU backend.
    program = (
        "import numba.np.ufunc.parallel as threading\n"
        "from fastbp.backends import get_backend\n"
        "print(threading._is_initialized, end=' ')\n"
        "get_backend('serial')\n"
        "print(threading._is_initialized)"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
