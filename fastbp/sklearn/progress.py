"""The estimators' ``verbose`` output: a tqdm bar if tqdm is installed, scikit-learn's lines otherwise."""

import importlib.util


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
