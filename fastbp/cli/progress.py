"""The command line's progress bar, drawn only on a terminal."""

import sys
from typing import TextIO


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

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30):
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
