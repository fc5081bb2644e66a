"""The threads' calls of the delta recursion's and the gradients' loops by address (fastbp.backends.cpu.by_address)."""

import os

import numba
import numpy as np
import pytest
from conftest import run_probe
from numba.core.errors import TypingError

from fastbp import Network
from fastbp.backends import kernel_plan
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
    by_address.prepare(dtype)
    A_direct, D_direct = A.copy(), D.copy()
    loops.rows_up_and_down(theta, sizes, codes, cost, A_direct, 0, D_direct, Y, S, n, 0, n, up, down)
    parallel.rows_up_and_down(theta, sizes, codes, cost, A, 0, D, Y, S, n, up, down, 2)
    assert A.tobytes() == A_direct.tobytes() and D.tobytes() == D_direct.tobytes()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
def test_a_threaded_plan_makes_the_loops_ready_for_the_networks_dtype_and_a_serial_one_does_not():
    slots = [by_address.slot_of(loop, "float64") for loop in by_address.LOOPS]
    for slot in slots:  # emptied: another test of this process may have filled them
        by_address.ADDRESSES[slot] = 0
    kernel_plan("parallel", [64, 100, 10], 200, "float64", n_jobs=1)
    assert [by_address.ADDRESSES[slot] for slot in slots] == [0, 0]
    kernel_plan("parallel", [64, 100, 10], 200, "float64", n_jobs=2)
    for loop, slot in zip(by_address.LOOPS, slots):
        assert by_address.ADDRESSES[slot] != 0
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
        by_address.call_rows_up_and_down((theta, sizes))

    with pytest.raises(TypingError, match="rows_up_and_down by address takes"):
        call(np.ones(3), np.ones(3, dtype=np.int64))

    @numba.njit
    def gradients(W, a_prev):
        return by_address.call_layer_gradients((W, a_prev))

    with pytest.raises(TypingError, match="layer_gradients by address takes"):
        gradients(np.ones((2, 2)), np.ones((2, 2)))


# In a new process: the threads' kernel before prepare() (a clear error, not a call through a null
# address), then after; then, with the cache warm, a second process loads both kernels from it and
# calls through its own table (the address is read when the code runs, not kept in the cache).
PROBE = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_by_address import batch
from fastbp.backends.cpu import by_address, loops, parallel

theta, sizes, codes, cost, A, D, Y, S = batch("float64")
n, up, down = Y.shape[0], (np.int64(1), np.int64(3)), (np.int64(3), np.int64(1))
try:
    parallel.rows_up_and_down(theta, sizes, codes, cost, A, 0, D, Y, S, n, up, down, 2)
    refused = ""
except RuntimeError as error:
    refused = str(error)
by_address.prepare("float64")
parallel.rows_up_and_down(theta, sizes, codes, cost, A, 0, D, Y, S, n, up, down, 2)
loaded = [len(dispatcher.stats.cache_hits) > 0 for dispatcher in (parallel.rows_up_and_down, loops.rows_up_and_down)]
print(json.dumps({{"refused": refused, "deltas": D.tobytes().hex(), "loaded": loaded}}))
"""


def test_a_process_calls_by_address_only_after_prepare_and_reads_its_own_table_from_cached_code(tmp_path):
    probe = PROBE.format(tests=os.path.dirname(__file__))
    first = run_probe(probe, tmp_path)
    second = run_probe(probe, tmp_path)
    for result in (first, second):
        assert "prepare(dtype) must run before" in result["refused"]
    assert first["loaded"] == [False, False] and second["loaded"] == [True, True]
    assert second["deltas"] == first["deltas"]
