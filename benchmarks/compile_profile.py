"""Where a cold first run's compile goes: Numba's compile events per function, in a fresh process (issue 16).

Run: ``python -m benchmarks.compile_profile [job ...] [--top N]``.  Each job runs
in a new interpreter with an empty ``NUMBA_CACHE_DIR`` of its own, so every
kernel it needs is compiled; the child listens to Numba's ``numba:compile``
events and reports, per function, how many times it was compiled, its own
("exclusive") seconds and its seconds with the functions it compiled first
("inclusive"), and the process's wall time.  The jobs:

* ``main``: ``python -m fastbp``, the README's main job;
* ``estimator``: ``MLPClassifier(random_state=0).fit(digits).predict(X)``, scikit-learn's
  defaults (float64, ``auto``), as asv's ``FirstEstimatorFit.timeraw_cold_cache``;
* ``estimator-serial``: the same with ``n_jobs=1`` (one thread).

Point ``PYTHONPATH`` at another work tree to profile another commit.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

JOBS = {
    "main": "import contextlib, io\nfrom fastbp.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n    main([])\n",
    "estimator": "from sklearn.datasets import load_digits\nX, y = load_digits(return_X_y=True)\n"
    "from fastbp import MLPClassifier\nMLPClassifier(random_state=0).fit(X, y).predict(X)\n",
    "estimator-serial": "from sklearn.datasets import load_digits\nX, y = load_digits(return_X_y=True)\n"
    "from fastbp import MLPClassifier\nMLPClassifier(random_state=0, n_jobs=1).fit(X, y).predict(X)\n",
}

# Run in the child: a listener that times every compile, nested compiles apart, then the job.
RECORDER = """
import json, sys, time
from numba.core import event

class Recorder(event.Listener):
    def __init__(self):
        self.stack, self.rows = [], {}

    def on_start(self, ev):
        self.stack.append([time.perf_counter(), 0.0])

    def on_end(self, ev):
        started, nested = self.stack.pop()
        seconds = time.perf_counter() - started
        if self.stack:
            self.stack[-1][1] += seconds
        dispatcher = ev.data["dispatcher"]
        name = dispatcher.py_func.__module__.replace("fastbp.", "") + "." + dispatcher.py_func.__qualname__
        row = self.rows.setdefault(name, [0, 0.0, 0.0])
        row[0] += 1
        row[1] += seconds - nested
        row[2] += seconds

recorder = Recorder()
event.register("numba:compile", recorder)
started = time.perf_counter()
exec(compile(sys.argv[1], "<job>", "exec"))
print(json.dumps({"wall": time.perf_counter() - started, "rows": recorder.rows}), file=sys.__stdout__)
"""


def profile(code: str) -> dict:
    """The compile events of ``code`` (a job of :data:`JOBS`) run in a fresh interpreter with an empty Numba cache.

    ``{"wall": seconds, "rows": {function: [compilations, exclusive s, inclusive s]}}``.
    """
    with tempfile.TemporaryDirectory() as cache:
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache)
        done = subprocess.run(
            [sys.executable, "-c", RECORDER, code], env=environment, capture_output=True, text=True, check=True
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(job: str, result: dict, top: int) -> None:
    rows = sorted(result["rows"].items(), key=lambda item: -item[1][1])
    compiles = sum(row[0] for _, row in rows)
    total = sum(row[1] for _, row in rows)
    print(f"{job}: {compiles} compilations, {total:.2f} s compiling, {result['wall']:.2f} s for the job")
    print(f"  {'function':60s} {'n':>3s} {'excl. s':>8s} {'incl. s':>8s}")
    for name, (count, exclusive, inclusive) in rows[:top]:
        print(f"  {name:60s} {count:3d} {exclusive:8.2f} {inclusive:8.2f}")
    rest = rows[top:]
    if rest:
        print(f"  {len(rest)} more functions: {sum(row[1] for _, row in rest):.2f} s exclusive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jobs", nargs="*", default=["main", "estimator"], choices=sorted(JOBS))
    parser.add_argument("--top", type=int, default=25, help="functions listed per job (default 25)")
    args = parser.parse_args()
    for job in args.jobs:
        report(job, profile(JOBS[job]), args.top)


if __name__ == "__main__":
    main()
