"""The random generator of one fit: scikit-learn's ``check_random_state``, made when first drawn from."""

import functools
import numbers
import threading
import weakref
from collections.abc import Callable

import numpy as np
from sklearn.utils import check_random_state

from fastbp.numerics.shuffling import random_state_words, set_random_state_words


@functools.lru_cache(maxsize=16)
def seed_words(seed: int) -> np.ndarray:
    """The MT19937 words of ``RandomState(seed)`` before any draw (read-only; copy them to draw)."""
    words = random_state_words(np.random.RandomState(seed))
    assert words is not None  # RandomState(seed) is always MT19937
    words.flags.writeable = False
    return words


class SpareGenerator(threading.local):
    """A ``RandomState`` per thread for the fits seeded with an integer, reseeded by each.

    ``RandomState(seed)`` spends most of its time setting up a new MT19937, a
    large part of a short fit's fixed cost (benchmarks/README.md, "A new
    estimator's first fit, the shuffles, and two cores that differ");
    ``seed`` on an existing one gives the same generator.  It is lent to one
    fit at a time: to another only once the :class:`FitRandomState` it was
    lent to is gone (a fit inside a fit's callback makes its own).
    """

    def __init__(self) -> None:
        self.generator: np.random.RandomState | None = None
        # A weak reference to the FitRandomState it is lent to (at first, to none).
        self.holder: Callable[[], FitRandomState | None] = lambda: None

    def lend(self, seed: int, holder: "FitRandomState") -> np.random.RandomState:
        """``RandomState(seed)`` for ``holder``: the thread's own, reseeded, unless another holder still has it."""
        if self.holder() is not None:
            return np.random.RandomState(seed)
        if self.generator is None:
            self.generator = np.random.RandomState(seed)
        else:
            self.generator.seed(seed)
        self.holder = weakref.ref(holder)
        return self.generator


SPARE_GENERATOR = SpareGenerator()


class FitRandomState:
    """``check_random_state(random_state)`` for one fit, made only where a draw needs it.

    An integer seed gives a generator that the fit alone holds: until
    something draws from it (the first fit's initial weights, the early
    stopping split), its MT19937 words are the seed's own, cached per seed
    (:func:`seed_words`), and nobody reads them back after the fit.  A refit
    with ``warm_start`` or a ``partial_fit`` with a seed thus makes no
    ``RandomState``.  A ``RandomState`` (or None, NumPy's global one) is the
    caller's: it is checked at once, and gets the kernels' words back.
    """

    def __init__(self, random_state) -> None:
        self.seed: int | None = int(random_state) if isinstance(random_state, numbers.Integral) else None
        self._generator = None if self.seed is not None else check_random_state(random_state)

    @property
    def generator(self) -> np.random.RandomState:
        """The ``RandomState`` itself (made from the seed on first use)."""
        if self._generator is None:
            assert self.seed is not None  # a generator not made from a seed is the caller's, held from the start
            self._generator = SPARE_GENERATOR.lend(self.seed, self)
        return self._generator

    def words(self) -> np.ndarray | None:
        """The generator's MT19937 words for the kernels (a copy), or None if it is not MT19937."""
        if self._generator is None and self.seed is not None:
            return seed_words(self.seed).copy()
        return random_state_words(self.generator)

    def give_back(self, words: np.ndarray) -> None:
        """Leave the caller's generator where the kernels' draws left ``words`` (nothing for a seed)."""
        if self.seed is None:
            set_random_state_words(self.generator, words)
