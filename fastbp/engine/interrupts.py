"""Ctrl-C during training: honoured between epochs, so that no epoch is left half done.

Numba's compiled code does not look at signals: a Ctrl-C pressed while the
compiled epoch loop runs reaches Python only once the call returns, and the
``KeyboardInterrupt`` would then be raised wherever Python happens to be, in
the middle of the bookkeeping that follows an epoch (the loss curve, the
counters, early stopping).  So, while a training loop runs in the main
thread, :class:`HeldInterrupts` replaces Python's SIGINT handler by one that
only records the press; the loop asks :meth:`HeldInterrupts.pending` once an
epoch is fully recorded, and stops there.

A second Ctrl-C while an epoch is computing (inside :func:`cancellable`) is
not held: it raises ``KeyboardInterrupt`` at once, and the trainer puts back
the state it saved before that call (see :meth:`fastbp.engine.training.Trainer.run`).

The handler is installed only by the outermost training loop, only in the
main thread (Python delivers signals to it alone), and only where SIGINT has
Python's default handler: an application's own handler is left alone.

Holding the first press matters most while Numba compiles (the first fit of
a process with a cold cache): a ``KeyboardInterrupt`` raised inside the
compiler, possibly inside one of llvmlite's ctypes callbacks, leaves
Numba's state half built and Python reporting the interrupt as unraisable.
A held press lets the compilation finish and stops after the first epoch.
"""

# The C module behind the signal module, whose getsignal and signal convert every handler they
# return into an enum member: for a function handler that means raising and catching a
# ValueError, several microseconds a call, three calls per fit, more than any other step of the
# Python around a short fit (benchmarks/README.md, "Network.fit's Python per call, again").
import _signal  # type: ignore[import-not-found]  # no stubs: typeshed covers the signal module only
import signal
import threading
from contextlib import contextmanager


class TrainingInterrupted(UserWarning):
    """Warned when Ctrl-C stopped a fit early: "Training interrupted by user.", as scikit-learn says it.

    A subclass of ``UserWarning`` (the category scikit-learn uses), so that
    filters written for scikit-learn's warning still match it.
    """


# The HeldInterrupts whose handler is installed (main thread only), or None.
_installed = None


class HeldInterrupts:
    """The Ctrl-C presses held back during one training loop.

    Parameters
    ----------
    owner : bool
        Whether this loop installed the handler: nested loops (an estimator's
        epochs inside its fit) get a handle that never reports a press, so
        that only the outermost loop decides where to stop.
    """

    def __init__(self, owner: bool):
        self.owner = owner
        self.presses = 0
        self.cancellable = False

    def pending(self) -> bool:
        """Whether Ctrl-C was pressed since the last call (a press is reported once)."""
        pressed = self.presses > 0
        self.presses = 0
        return pressed

    def handle(self, signum, frame) -> None:
        """The SIGINT handler: record the press; a second one during a computation raises at once."""
        self.presses += 1
        if self.cancellable and self.presses > 1:
            self.presses = 0
            raise KeyboardInterrupt


@contextmanager
def held_interrupts():
    """Hold Ctrl-C back during the block; yields the :class:`HeldInterrupts` to ask.

    A press not yet reported by :meth:`HeldInterrupts.pending` when the block
    ends raises ``KeyboardInterrupt`` there, so that no press is lost.
    """
    global _installed
    owner = (
        _installed is None
        and threading.current_thread() is threading.main_thread()
        and _signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    held = HeldInterrupts(owner)
    if not owner:
        yield held
        return
    _signal.signal(signal.SIGINT, held.handle)
    _installed = held
    try:
        yield held
    finally:
        _signal.signal(signal.SIGINT, signal.default_int_handler)
        _installed = None
    if held.pending():
        raise KeyboardInterrupt


@contextmanager
def cancellable():
    """Mark the block as a computation that a second Ctrl-C may cut short."""
    held = _installed if threading.current_thread() is threading.main_thread() else None
    if held is None:
        yield
        return
    previous = held.cancellable
    held.cancellable = True
    try:
        yield
    finally:
        held.cancellable = previous
