"""The compiled shuffles draw exactly what their definitions say: RandomState's for the estimators, SplitMix64's."""

import numpy as np
import pytest

from fastbp.numerics.shuffling import (
    random_state_words,
    seed_state,
    shuffle,
    shuffle_like_random_state,
)

MASK = (1 << 64) - 1


def splitmix64_shuffle(order: list, state: int) -> tuple[list, int]:
    """Fisher-Yates from the last position down with SplitMix64, draws below 2**64 mod n rejected (pure Python)."""
    order = list(order)
    for i in range(len(order) - 1, 0, -1):
        bound = i + 1
        while True:
            state = (state + 0x9E3779B97F4A7C15) & MASK
            z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            r = z ^ (z >> 31)
            if r >= (1 << 64) % bound:
                break
        j = r % bound
        order[i], order[j] = order[j], order[i]
    return order, state


@pytest.mark.parametrize("n", [2, 3, 150, 623, 624, 625, 1797])
@pytest.mark.parametrize("drawn_before", [0, 1, 700])
def test_random_state_shuffles_are_numpys_epoch_after_epoch(n, drawn_before):
    generator = np.random.RandomState(n)
    generator.uniform(size=drawn_before)  # the state anywhere in its block of 624 words
    words = random_state_words(generator)
    order, expected = np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    for _ in range(4):  # 1797 samples draw past the end of a block: the state twists mid-shuffle
        shuffle_like_random_state(order, words)
        generator.shuffle(expected)
        np.testing.assert_array_equal(order, expected)
        np.testing.assert_array_equal(words, random_state_words(generator))


@pytest.mark.parametrize("n", [2, 5, 150, 2000])
def test_splitmix64_shuffles_are_the_definitions(n):
    state = seed_state(3)
    order, expected, expected_state = np.arange(n, dtype=np.int64), list(range(n)), int(state[0])
    for _ in range(3):
        shuffle(order, state)
        expected, expected_state = splitmix64_shuffle(expected, expected_state)
        assert order.tolist() == expected
        assert int(state[0]) == expected_state
