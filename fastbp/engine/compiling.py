"""Compiling fastbp's kernels: said on standard error as it happens, and done ahead on request.

Numba compiles a kernel the first time it is called with a new combination
of argument types (the dtype, and the threads and tiles of
:func:`fastbp.backends.kernel_plan`), then caches the machine code on disk
(:mod:`fastbp.numerics.cache`).  So a configuration compiles once per machine,
and takes seconds; later runs load it in milliseconds.  :data:`NOTICE` tells
the user when that first compile happens and how long it took; it stays
silent when the kernels come from the cache.  Set ``NOTICE.enabled = False``
to silence it.

:func:`compile_ahead` fills the cache for the configurations asked
(``fastbp compile`` on the command line), for containers, CI images and
clusters whose workers share one cache folder.
"""

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import TextIO

from numba.core import event, types

from fastbp.backends.cpu.by_address import LOOPS

# The functions whose compile is worth a word: those Python calls, each the root of a tree of kernels,
# and the loops the kernels call by address, compiled on their own by
# fastbp.backends.cpu.by_address.prepare (compiled inside another kernel, no name is reported).
ROOT_KERNELS = ("train_epochs", "predict", "cost_and_gradient", "forward", "backprop_deltas", "accumulate_gradients")
ENTRY_POINTS = (*ROOT_KERNELS, *LOOPS)


def configuration(dispatcher, argument_types: tuple) -> str:
    """What a kernel is compiled for, in words: ``float32, threads, register tiles``."""
    named = dict(zip(dispatcher.py_func.__code__.co_varnames, argument_types))
    # The dtype of the first array: the parameters, one layer's weights, or a loop's activations.
    first_array = next((kind for kind in argument_types if isinstance(kind, types.Array)), None)
    words = [str(first_array.dtype)] if first_array is not None else []
    if "n_threads" in named:
        words.append("one thread" if isinstance(named["n_threads"], types.NoneType) else "threads")
    if "tiles" in named and not isinstance(named["tiles"], types.NoneType):
        words.append("register tiles")
    return ", ".join(words)


class CompileNotice(event.Listener):
    """A listener of Numba's compile events that reports each compile of a fastbp entry point, with its time.

    Numba sends a compile event only when it compiles, not when it loads a
    function from its cache.  The compiles of the functions an entry point
    calls are nested inside its own, and are not reported apart.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.enabled = True
        self.depth = 0
        self.reported: tuple[str, float] | None = None
        # Inside index_loops(): None until a loop compiles, then what is compiling and since when.
        self.loops: tuple[str, float] | None = None
        self.grouping = False

    @contextmanager
    def index_loops(self) -> Iterator[None]:
        """Within the block, the loops compiled for calls by address are reported in one line, not one each.

        A fit makes them ready before its kernels compile
        (:func:`fastbp.backends.cpu.by_address.prepare`): five or six
        loops, each a compile of its own.
        """
        self.grouping, self.loops = True, None
        try:
            yield
        finally:
            if self.loops is not None:
                what, started = self.loops
                self.write(f"fastbp: compiled {what} in {time.perf_counter() - started:.1f} s")
            self.grouping, self.loops = False, None

    def write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        # On a terminal, first clear the line a progress bar may be drawing (it draws itself again).
        stream.write(("\r\033[K" if stream.isatty() else "") + line + "\n")
        stream.flush()

    def on_start(self, ev) -> None:
        self.depth += 1
        dispatcher = ev.data.get("dispatcher")
        function = getattr(dispatcher, "py_func", None)
        if self.depth != 1 or not self.enabled or function is None:
            return
        # A function made by exec() has no module: it is not fastbp's.
        module = getattr(function, "__module__", None) or ""
        if not module.startswith("fastbp.") or function.__name__ not in ENTRY_POINTS:
            return
        arguments = configuration(dispatcher, ev.data.get("args", ()))
        if self.grouping and function.__name__ in LOOPS:
            if self.loops is None:
                self.loops = (f"the index loops ({arguments})", time.perf_counter())
                self.write(
                    f"fastbp: compiling {self.loops[0]} for this machine; once only, later runs load them "
                    "from Numba's cache"
                )
            return
        what = f"{function.__name__} ({arguments})"
        self.reported = (what, time.perf_counter())
        self.write(f"fastbp: compiling {what} for this machine; once only, later runs load it from Numba's cache")

    def on_end(self, ev) -> None:
        self.depth -= 1
        if self.depth == 0 and self.reported is not None:
            what, started = self.reported
            self.reported = None
            self.write(f"fastbp: compiled {what} in {time.perf_counter() - started:.1f} s")


NOTICE = CompileNotice()
event.register("numba:compile", NOTICE)


def compile_ahead(
    jobs: Iterable[tuple[str, Callable[[], object]]], report: Callable[[str, float], None], processes: int = 1
) -> float:
    """Run each ``(name, job)`` (a call that compiles, or loads from the cache, some kernels); the seconds in all.

    ``report(name, seconds)`` is called after each job, for a progress
    display.  With ``processes`` above 1 the jobs run in that many fresh
    processes at once (each job must then be picklable, a module-level
    function or a ``functools.partial`` of one): Numba compiles on one core
    per process, and the processes share the on-disk cache, so that a
    kernel one of them has cached the others load.  The seconds are then
    those of the whole run, not the sum of the jobs'.
    """
    if processes <= 1:
        total = 0.0
        for name, job in jobs:
            seconds = timed(job)
            total += seconds
            report(name, seconds)
        return total
    started = time.perf_counter()
    # "spawn": a child forked from a process whose Numba threads have started may hang.
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {pool.submit(timed_quietly, job): name for name, job in jobs}
        for done in as_completed(running):
            report(running[done], done.result())
    return time.perf_counter() - started


def timed(job: Callable[[], object]) -> float:
    """Run ``job``; the seconds it took."""
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def timed_quietly(job: Callable[[], object]) -> float:
    """:func:`timed` without :data:`NOTICE`'s lines: in a process of :func:`compile_ahead`, whose caller reports."""
    NOTICE.enabled = False
    return timed(job)
