"""The heavy loops the threads call by address (fastbp.backends.cpu.by_address)."""

import os

import numba
import numpy as np
import pytest
from conftest import run_probe
from numba.core.errors import TypingError

from fastbp import Network
from fastbp.backends import kernel_plan, prepare_loops
from fastbp.backends.cpu import by_address, loops, parallel
from fastbp.numerics import layout


def batch(dtype, n=37):
    """A batch of a 9-7-5-3 network's arguments for ``rows_up_and_down``: A with its inputs, D, Y, S."""
    network = Network([9, 7, 5, 3], "tanh", "softmax", "categorical_cross_entropy", dtype=dtype, seed=6)
    theta, sizes, codes, cost = network.kernel_arguments()[:4]
    rng = np.random.default_rng(6)
    A = layout.activation_buffer(sizes, n, network.dtype)
    layout.layer(A, sizes, 0, n, 0)[:] = rng.normal(size=(n, 9))
    D = layout.delta_buffer(sizes, n, network.dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, n)]
    S = np.linspace(0.5, 1.5, n).astype(dtype)
    return theta, sizes, codes, cost, A, D, Y, S


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_threads_call_by_address_computes_what_the_loop_computes_called_directly(dtype):
    theta, sizes, codes, cost, A, D, Y, S = batch(dtype)
    n, up, down = Y.shape[0], (np.int64(1), np.int64(3)), (np.int64(3), np.int64(1))
    by_address.prepare(dtype, by_address.THREADS)
    A_direct, D_direct = A.copy(), D.copy()
    loops.rows_up_and_down(theta, sizes, codes, cost, A_direct, 0, D_direct, Y, S, n, 0, n, up, down)
    parallel.rows_up_and_down(theta, sizes, codes, cost, A, 0, D, Y, S, n, up, down, 2)
    assert A.tobytes() == A_direct.tobytes() and D.tobytes() == D_direct.tobytes()


def filled(dtype: str) -> set[str]:
    return {loop for loop in by_address.LOOPS if by_address.ADDRESSES[by_address.slot_of(loop, dtype)]}


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
def test_a_threaded_plan_makes_ready_the_loops_for_the_networks_dtype_and_a_prediction_only_the_forward_ones():
    by_address.clear("float64")  # another test of this process may have filled them
    by_address.clear("float32")
    kernel_plan("parallel", [64, 100, 10], 200, "float64", n_jobs=1)
    kernel_plan("numpy", [64, 100, 10], 200, "float64")
    assert filled("float64") == set()
    prepare_loops("serial", "float64", "forward")
    assert filled("float64") == set(by_address.FORWARD)
    kernel_plan("parallel", [64, 100, 10], 200, "float64", n_jobs=2)
    assert filled("float64") == set(by_address.LOOPS)
    assert filled("float32") == set()
    for loop in by_address.LOOPS:
        assert by_address.signature(loop, "float64") in getattr(loops, loop).signatures


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_threads_gradients_by_address_are_those_of_the_loop_called_directly(dtype):
    rng = np.random.default_rng(8)
    W, a_prev, delta = (rng.normal(size=shape).astype(dtype) for shape in ((13, 6), (21, 6), (21, 13)))
    inv_n, decay = np.dtype(dtype).type(1 / 21), np.dtype(dtype).type(0.01)
    by_address.prepare(dtype)
    dW, db, dW_direct, db_direct = np.empty_like(W), np.empty(13, dtype), np.empty_like(W), np.empty(13, dtype)
    squares = parallel.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db)
    chunks = [
        loops.layer_gradients(W, a_prev, delta, inv_n, decay, dW_direct, db_direct, k, min(k + 4, 13))
        for k in range(0, 13, 4)
    ]
    assert dW.tobytes() == dW_direct.tobytes() and db.tobytes() == db_direct.tobytes()
    assert squares == loops.chunks_total(np.array(chunks))


def test_arguments_of_other_types_are_refused_when_the_call_compiles():
    @numba.njit
    def call(theta, sizes):
        loops.rows_up_and_down_by_address(theta, sizes)

    with pytest.raises(TypingError, match="rows_up_and_down by address takes"):
        call(np.ones(3), np.ones(3, dtype=np.int64))

    @numba.njit
    def gradients(W, a_prev):
        return loops.layer_gradients_by_address(W, a_prev)

    with pytest.raises(TypingError, match="layer_gradients by address takes"):
        gradients(np.ones((2, 2)), np.ones((2, 2)))

    @numba.njit
    def input_sum(W, b, a_prev, z):  # a strided z: not the C-contiguous array of the signature
        loops.input_sum_by_address(W, b, a_prev, z[:, ::2], 0, 2)

    with pytest.raises(TypingError, match="input_sum by address takes"):
        input_sum(np.ones((2, 2)), np.ones(2), np.ones((3, 2)), np.ones((3, 4)))


def compiled_call(call):
    """A compiled function that passes its arguments to ``call`` (a loop's caller by address)."""

    @numba.njit
    def run(*arguments):
        return call(*arguments)

    return run


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_loop_by_address_computes_what_it_computes_called_directly(dtype):
    theta, sizes, codes, cost, A, D, Y, S = batch(dtype)
    by_address.prepare(dtype, by_address.THREADS)
    rng = np.random.default_rng(9)
    n, W, b = Y.shape[0], layout.weights(theta, sizes, 1), layout.biases(theta, sizes, 1)

    def random(*shape):
        return rng.uniform(0.1, 0.9, size=shape).astype(dtype)

    # each loop's arguments, and which of them it writes
    cases = {
        "input_sum": ((W, b, random(n, 9), np.empty((n, 7), dtype), 0, 7), 3),
        "activate": ((codes[1], random(n, 7)), 1),
        "output_delta": ((cost, codes[3], random(n, 3), Y, S, np.empty((n, 3), dtype)), 5),
        "backpropagate": ((W, random(n, 7), codes[1], random(n, 9), np.empty((n, 9), dtype)), 4),
    }
    for loop, (arguments, written) in cases.items():
        copied = tuple(argument.copy() if isinstance(argument, np.ndarray) else argument for argument in arguments)
        getattr(loops, loop)(*arguments)
        compiled_call(getattr(loops, f"{loop}_by_address"))(*copied)
        assert copied[written].tobytes() == arguments[written].tobytes(), loop


# In a new process: a loop and the threads' kernel before prepare() (clear errors, not calls through a
# null address), then after; then, with the cache warm, a second process loads both kernels from it and
# calls through its own table (the address is read when the code runs, not kept in the cache).
PROBE = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_by_address import batch
from fastbp.backends.cpu import by_address, loops, parallel
from fastbp.numerics import layout

theta, sizes, codes, cost, A, D, Y, S = batch("float64")
n, up, down = Y.shape[0], (np.int64(1), np.int64(3)), (np.int64(3), np.int64(1))
W, b, a_prev = layout.weights(theta, sizes, 1), layout.biases(theta, sizes, 1), layout.layer(A, sizes, 0, n, 0)
try:
    loops.threads_input_sums(W, b, a_prev, np.empty((n, 7)))
    serial_refused = ""
except RuntimeError as error:
    serial_refused = str(error)
try:
    parallel.rows_up_and_down(theta, sizes, codes, cost, A, 0, D, Y, S, n, up, down, 2)
    refused = ""
except RuntimeError as error:
    refused = str(error)
by_address.prepare("float64", by_address.THREADS)
parallel.rows_up_and_down(theta, sizes, codes, cost, A, 0, D, Y, S, n, up, down, 2)
loaded = [len(dispatcher.stats.cache_hits) > 0 for dispatcher in (parallel.rows_up_and_down, loops.rows_up_and_down)]
result = {{"refused": refused, "serial_refused": serial_refused, "deltas": D.tobytes().hex(), "loaded": loaded}}
print(json.dumps(result))
"""


def test_a_process_calls_by_address_only_after_prepare_and_reads_its_own_table_from_cached_code(tmp_path):
    probe = PROBE.format(tests=os.path.dirname(__file__))
    first = run_probe(probe, tmp_path)
    second = run_probe(probe, tmp_path)
    for result in (first, second):
        assert "prepare(dtype) must run before the threads' delta recursion" in result["refused"]
        assert "prepare(dtype) must run before loops.input_sum is called by address" in result["serial_refused"]
    assert first["loaded"] == [False, False] and second["loaded"] == [True, True]
    assert second["deltas"] == first["deltas"]
