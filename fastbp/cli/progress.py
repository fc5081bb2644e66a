"""Progress of a training run, epoch by epoch.

:class:`Progress` is the estimators' ``verbose`` output (a tqdm bar if tqdm is
installed, scikit-learn's lines otherwise); :class:`EpochBar` is the command
line's bar, drawn only on a terminal.
"""

import importlib.util
import sys


class Progress:
    """Reports each epoch's loss (and validation score), or nothing when not ``enabled``.

    Parameters
    ----------
    total : int
        The most epochs the run may take (the bar's length).
    enabled : bool
        False: report nothing.
    """

    def __init__(self, total: int, enabled: bool):
        self.enabled = bool(enabled)
        self.bar = None
        if self.enabled and importlib.util.find_spec("tqdm") is not None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="epoch", leave=True)

    def epoch(self, n_iter: int, loss: float, validation_score: float | None = None) -> None:
        """Epoch ``n_iter`` ended with ``loss`` (and ``validation_score`` with early stopping)."""
        if not self.enabled:
            return
        if self.bar is None:
            print(f"Iteration {n_iter}, loss = {loss:.8f}")
            if validation_score is not None:
                print(f"Validation score: {validation_score:f}")
            return
        postfix = {"loss": f"{loss:.6g}"}
        if validation_score is not None:
            postfix["validation"] = f"{validation_score:.6g}"
        self.bar.set_postfix(postfix)
        self.bar.update(1)

    def note(self, message: str) -> None:
        """A line of its own (why training stopped, or slowed down)."""
        if not self.enabled:
            return
        if self.bar is None:
            print(message)
        else:
            self.bar.write(message)

    def close(self) -> None:
        """Finish the bar."""
        if self.bar is not None:
            self.bar.close()


class EpochBar:
    """A one-line bar on a terminal, redrawn as epochs end; silent when the stream is not a terminal.

    Needs nothing beyond the standard library (the command line's progress bar).

    Parameters
    ----------
    total : int
        The most epochs the run may take.
    stream : file
        Where to draw (default: standard error).
    width : int
        The bar's length in characters.
    """

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.width = max(int(total), 1), width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.drawn = False

    def update(self, epoch: int, **values: float) -> None:
        """Epoch ``epoch`` ended; ``values`` (e.g. ``loss=...``) are shown after the bar."""
        if not self.enabled:
            return
        filled = min(self.width, self.width * epoch // self.total)
        shown = "  ".join(f"{name} {value:.4g}" for name, value in values.items())
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {epoch}/{self.total} epochs  {shown}\033[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
