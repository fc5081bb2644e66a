"""The gradients of layers of few inputs (fastbp.backends.cpu.few_inputs) against the oracle, chunk by chunk."""

import numba
import numpy as np
import pytest
from conftest import TOLERANCE

from fastbp.backends.cpu import loops
from fastbp.backends.cpu.few_inputs import has_few_inputs
from fastbp.backends.cpu.tiles import LANES

few_inputs = numba.njit(lambda a_prev: has_few_inputs(a_prev))


def expected_few(n_inputs: int, dtype: str) -> bool:
    lanes = LANES[dtype]
    return n_inputs < 2 * lanes and n_inputs % max(lanes // 2, 1) <= 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_inputs", range(1, 18))
def test_gradients_of_few_inputs_match_the_oracle_and_any_split_into_chunks(n_inputs, dtype):
    rng = np.random.default_rng(n_inputs)
    n_samples, n_units = 37, 10  # two blocks of four rows, then a chunk of two; no multiple of four samples
    W = rng.standard_normal((n_units, n_inputs)).astype(dtype)
    a_prev = rng.standard_normal((n_samples, n_inputs)).astype(dtype)
    delta = rng.standard_normal((n_samples, n_units)).astype(dtype)
    inv_n, decay = np.dtype(dtype).type(1 / n_samples), np.dtype(dtype).type(0.1 / n_samples)
    assert few_inputs(a_prev) == expected_few(n_inputs, dtype)
    dW, db = np.empty_like(W), np.empty(n_units, dtype)
    squares = loops.layer_gradients(W, a_prev, delta, inv_n, decay, dW, db, np.int64(0), np.int64(n_units))
    wide = [m.astype(np.float64) for m in (W, a_prev, delta)]
    expected = wide[2].T @ wide[1] * float(inv_n) + float(decay) * wide[0]
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(dW - expected).max() <= TOLERANCE[dtype] * scale * n_samples
    assert squares == pytest.approx(float((wide[0] ** 2).sum()), rel=1e-5)
    # The threads' chunks (from rows 0, 4 and 8) compute each row as one call does: bitwise the same.
    chunked = np.empty_like(W)
    for start in (0, 4, 8):
        loops.layer_gradients(
            W, a_prev, delta, inv_n, decay, chunked, np.empty(n_units, dtype), np.int64(start),
            np.int64(min(start + 4, n_units)),
        )  # fmt: skip
    assert chunked.tobytes() == dW.tobytes()
