"""Reproducible shuffling with an explicit generator state, compiled.

The generator is SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter
passed through a fixed mixing function.  Its whole state is one ``uint64``
held in an array that the caller owns, so training draws no number from a
hidden global generator, and the same seed gives the same order of samples in
every backend (the CUDA backend shuffles on the host with these functions).
"""

import numba
import numpy as np

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True)
def next_random(state: np.ndarray) -> np.uint64:
    """Advance ``state[0]`` and return the next 64-bit pseudo-random integer."""
    state[0] += GOLDEN_GAMMA
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * MIX_1
    z = (z ^ (z >> np.uint64(27))) * MIX_2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def random_below(state: np.ndarray, n: int) -> int:
    """An unbiased integer in ``[0, n)``: reject the draws below ``2**64 mod n``."""
    bound = np.uint64(n)
    threshold = (np.uint64(0) - bound) % bound
    while True:
        r = next_random(state)
        if r >= threshold:
            return np.int64(r % bound)


@numba.njit(cache=True)
def shuffle(order: np.ndarray, state: np.ndarray) -> None:
    """Permute ``order`` in place (Fisher-Yates), drawing from ``state``."""
    for i in range(order.shape[0] - 1, 0, -1):
        j = random_below(state, i + 1)
        order[i], order[j] = order[j], order[i]


def seed_state(seed: int) -> np.ndarray:
    """A generator state derived from ``seed`` through NumPy's SeedSequence."""
    return np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)
