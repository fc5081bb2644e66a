"""Reproducible shuffling with an explicit generator state, compiled.

Each epoch orders the samples one of three ways (``shuffling``, see
:func:`order_samples`): as given (NO_SHUFFLE), a fresh permutation drawn
with fastbp's own generator (SHUFFLE, :meth:`fastbp.Network.fit`), or the
previous epoch's order permuted again exactly as scikit-learn's estimators
permute it with a ``RandomState`` (LIKE_RANDOM_STATE, fastbp's estimators).

The generator is SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter
passed through a fixed mixing function.  Its whole state is one ``uint64``
held in an array that the caller owns, so training draws no number from a
hidden global generator, and the same seed gives the same order of samples in
every backend (the CUDA backend shuffles on the host with these functions).

Every compiled function here but :func:`order_samples` is inlined into its caller
(Numba's IR inlining, before typing): compiled apart, each cost a compilation
of its own in every first fit (benchmarks/README.md, "Where a cold compile
goes"), for code that LLVM inlined into its caller anyway.
"""

import numpy as np

from fastbp.numerics.cache import cached_jit

NO_SHUFFLE = 0
SHUFFLE = 1
LIKE_RANDOM_STATE = 2

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)


@cached_jit(inline="always")
def next_random(state: np.ndarray) -> np.uint64:
    """Advance ``state[0]`` and return the next 64-bit pseudo-random integer."""
    state[0] += GOLDEN_GAMMA
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * MIX_1
    z = (z ^ (z >> np.uint64(27))) * MIX_2
    return z ^ (z >> np.uint64(31))


@cached_jit(inline="always")
def random_below(state: np.ndarray, n: int) -> int:
    """An unbiased integer in ``[0, n)``: reject the draws below ``2**64 mod n``.

    That threshold is below ``n``, so a draw of at least ``n`` (all but about
    ``n / 2**64`` of them) is kept without computing it: one 64-bit division
    per draw instead of two, and the same draws.
    """
    bound = np.uint64(n)
    while True:
        r = next_random(state)
        if r >= bound or r >= (np.uint64(0) - bound) % bound:
            return np.int64(r % bound)


@cached_jit(inline="always")
def shuffle(order: np.ndarray, state: np.ndarray) -> None:
    """Permute ``order`` in place (Fisher-Yates), drawing from ``state``."""
    for i in range(order.shape[0] - 1, 0, -1):
        j = random_below(state, i + 1)
        order[i], order[j] = order[j], order[i]


def seed_state(seed: int) -> np.ndarray:
    """A generator state derived from ``seed`` through NumPy's SeedSequence."""
    return np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)


# NumPy's RandomState: the Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998).
# Its state as the kernels hold it: MT_WORDS 32-bit words, then the position of the
# next word to temper, in one uint64 array (see :func:`random_state_words`).
MT_WORDS = 624
MT_SHIFT = 397
MT_MATRIX = np.uint64(0x9908B0DF)
MT_UPPER = np.uint64(0x80000000)
MT_LOWER = np.uint64(0x7FFFFFFF)
WORD = np.uint64(0xFFFFFFFF)


@cached_jit(inline="always")
def twist(state: np.ndarray) -> None:
    """Regenerate the MT_WORDS words of the state (the recurrence of MT19937)."""
    for i in range(MT_WORDS):
        y = (state[i] & MT_UPPER) | (state[(i + 1) % MT_WORDS] & MT_LOWER)
        value = state[(i + MT_SHIFT) % MT_WORDS] ^ (y >> np.uint64(1))
        if y & np.uint64(1):
            value ^= MT_MATRIX
        state[i] = value
    state[MT_WORDS] = 0


@cached_jit(inline="always")
def tempered(word: np.uint64) -> np.uint64:
    """MT19937's output for one word of its state (the tempering), as RandomState draws it."""
    y = word
    y ^= y >> np.uint64(11)
    y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
    y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
    y ^= y >> np.uint64(18)
    return y & WORD


@cached_jit(inline="always")
def bits_below(largest: np.uint64) -> np.uint64:
    """The mask of the bits up to the highest bit of ``largest`` (``2**k - 1 >= largest``)."""
    mask = largest
    for shift in (1, 2, 4, 8, 16):
        mask |= mask >> np.uint64(shift)
    return mask


@cached_jit(inline="always")
def shuffle_like_random_state(order: np.ndarray, state: np.ndarray) -> None:
    """Permute ``order`` in place exactly as ``RandomState.shuffle`` would, drawing from ``state``.

    Fisher-Yates from the last position down, as NumPy's: so that a fit
    shuffles its samples as scikit-learn does with the same ``random_state``.
    Each swap draws an integer in ``[0, i]`` as RandomState draws it: words
    masked to the bits of ``i``, rejected above ``i`` (``i`` below 2**32, the
    only case an array of samples needs).  The position of the next word
    stays in a local variable through the whole shuffle and is stored back
    at the end: read from and written to ``state`` at every draw, through a
    function per draw, it made the shuffle a large part of an iris-sized
    epoch (benchmarks/README.md, "A new estimator's first fit, the shuffles, and two cores that differ").
    """
    position = state[MT_WORDS]
    for i in range(order.shape[0] - 1, 0, -1):
        largest = np.uint64(i)
        mask = bits_below(largest)
        while True:
            if position >= MT_WORDS:
                twist(state)
                position = np.uint64(0)
            value = tempered(state[position]) & mask
            position += np.uint64(1)
            if value <= largest:
                break
        j = np.int64(value)
        order[i], order[j] = order[j], order[i]
    state[MT_WORDS] = position


def random_state_words(random_state: np.random.RandomState) -> np.ndarray | None:
    """The MT19937 state of ``random_state`` as :func:`shuffle_like_random_state` takes it, or None.

    None when the generator is not NumPy's MT19937 (a ``RandomState`` can wrap another bit generator).
    """
    state = random_state.get_state(legacy=False)
    if state.get("bit_generator") != "MT19937":
        return None
    words = np.empty(MT_WORDS + 1, dtype=np.uint64)
    words[:MT_WORDS] = state["state"]["key"]
    words[MT_WORDS] = state["state"]["pos"]
    return words


def set_random_state_words(random_state: np.random.RandomState, words: np.ndarray) -> None:
    """Put the MT19937 state ``words`` (advanced by the kernels) back into ``random_state``."""
    state = random_state.get_state(legacy=False)
    state["state"] = {"key": words[:MT_WORDS].astype(np.uint32), "pos": int(words[MT_WORDS])}
    random_state.set_state(state)


@cached_jit()
def order_samples(order: np.ndarray, shuffling: int, rng_state: np.ndarray) -> None:
    """An epoch's order of the samples, in place.

    NO_SHUFFLE leaves ``order`` as it is; SHUFFLE sets it to ``0 .. N-1``
    and permutes it with SplitMix64 (``rng_state[0]``), so that each epoch's
    order depends on the generator alone; LIKE_RANDOM_STATE permutes the
    order of the epoch before with MT19937 (``rng_state`` holds its words),
    as scikit-learn's ``shuffle(sample_idx, random_state=...)`` does.
    """
    if shuffling == SHUFFLE:
        for n in range(order.shape[0]):
            order[n] = n
        shuffle(order, rng_state)
    elif shuffling == LIKE_RANDOM_STATE:
        shuffle_like_random_state(order, rng_state)
