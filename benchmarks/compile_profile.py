"""Where a cold first run's compile goes: Numba's compile events per function, in a fresh process (issue 16).

Run: ``python -m benchmarks.compile_profile [job ...] [--top N] [--libraries N]``.  Each job runs
in a new interpreter with an empty ``NUMBA_CACHE_DIR`` of its own, so every
kernel it needs is compiled; the child listens to Numba's ``numba:compile``
events and reports, per function, how many times it was compiled, its own
("exclusive") seconds and its seconds with the functions it compiled first
("inclusive"), and the process's wall time.  With ``--libraries N`` it
also lists LLVM's share (:func:`report_libraries`): the N slowest code
libraries and the big functions that were optimised and made into machine
code in several of them.  The jobs:

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

# LLVM's share: each code library's finalize (link, module passes, machine code), and the functions it holds.
from numba.core import codegen

libraries = []
finalize, optimize = codegen.CPUCodeLibrary.finalize, codegen.CPUCodeLibrary._optimize_final_module

def timed_optimize(self):
    started = time.perf_counter()
    optimize(self)
    self._module_pass_seconds = time.perf_counter() - started

def timed_finalize(self):
    started = time.perf_counter()
    finalize(self)
    libraries.append((self, time.perf_counter() - started, getattr(self, "_module_pass_seconds", 0.0)))

def library_row(library, seconds, passes):
    # Counted after the job, so that walking the LLVM module is timed as no one's compile.
    functions = {}
    for function in library._final_module.functions:
        if not function.is_declaration:
            functions[function.name] = sum(len(list(block.instructions)) for block in function.blocks)
    return [library.name, seconds, passes, len(library._linking_libraries), functions]

codegen.CPUCodeLibrary.finalize = timed_finalize
codegen.CPUCodeLibrary._optimize_final_module = timed_optimize

# Numba's compiler passes, each timed without the compiles nested in it (type inference compiles the callees).
from numba.core import compiler_machinery

passes, pass_stack, run_pass = {}, [], compiler_machinery.PassManager._runPass

def timed_pass(self, index, compiler_pass, state):
    pass_stack.append(0.0)
    started = time.perf_counter()
    try:
        return run_pass(self, index, compiler_pass, state)
    finally:
        seconds = time.perf_counter() - started
        nested = pass_stack.pop()
        if pass_stack:
            pass_stack[-1] += seconds
        name = compiler_pass.name()
        passes[name] = passes.get(name, 0.0) + seconds - nested

compiler_machinery.PassManager._runPass = timed_pass
started = time.perf_counter()
exec(compile(sys.argv[1], "<job>", "exec"))
wall = time.perf_counter() - started
rows = [library_row(*library) for library in libraries]
print(json.dumps({"wall": wall, "rows": recorder.rows, "libraries": rows, "passes": passes}), file=sys.__stdout__)
"""


def profile(code: str) -> dict:
    """The compile events of ``code`` (a job of :data:`JOBS`) run in a fresh interpreter with an empty Numba cache.

    ``{"wall": seconds, "rows": {function: [compilations, exclusive s, inclusive s]}, "libraries": [...],
    "passes": {Numba's compiler pass: seconds}}``, each library ``[name, finalize s, module passes s,
    libraries linked in, {LLVM function: instructions}]``, each pass's seconds without the compiles nested in it.
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


def python_name(symbol: str) -> str:
    """The dotted Python name in a Numba function's mangled LLVM symbol (``_ZN6fastbp...5loops9input_sumB...``)."""
    start = symbol.find("_ZN")
    if start < 0:
        return symbol
    parts, position = [], start + 3
    while position < len(symbol) and symbol[position].isdigit():
        digits = position
        while symbol[position].isdigit():
            position += 1
        length = int(symbol[digits:position])
        parts.append(symbol[position : position + length])
        position += length
    return ".".join(part for part in parts if part not in ("fastbp", "backends", "numerics")) or symbol


def report_libraries(result: dict, top: int, least: int = 1000) -> None:
    """LLVM's part of the compile: the code libraries finalized, and how often each big function was processed.

    Numba finalizes one code library per compiled function (and three per
    ``prange`` loop: the loop's body and two wrappers), linking in the
    libraries of everything it calls, then running LLVM's module passes and
    making machine code for all of it: a function is optimised and emitted
    again in every library it is linked into.
    """
    libraries = result["libraries"]
    finalize = sum(library[1] for library in libraries)
    passes = sum(library[2] for library in libraries)
    print(
        f"  LLVM: {len(libraries)} libraries finalized in {finalize:.2f} s: module passes {passes:.2f} s, "
        f"linking and machine code {finalize - passes:.2f} s"
    )
    compiler_passes = sorted(result.get("passes", {}).items(), key=lambda item: -item[1])[:5]
    if compiler_passes:
        # The lowering pass finalizes the function's library: LLVM's time above is inside its time.
        listed = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in compiler_passes)
        print(f"  Numba's passes, nested compiles apart (lowering holds LLVM's finalize): {listed}")
    print(f"  {'library':44s} {'s':>6s} {'passes':>6s} {'linked':>6s} {'instr.':>7s}")
    for name, seconds, module_passes, linked, functions in sorted(libraries, key=lambda item: -item[1])[:top]:
        label = python_name(name) if name.startswith("_ZN") else name.split(" object at")[0].lstrip("<")
        print(f"  {label[:44]:44s} {seconds:6.2f} {module_passes:6.2f} {linked:6d} {sum(functions.values()):7d}")
    copies: dict[str, list[int]] = {}
    for *_, functions in libraries:
        for symbol, size in functions.items():
            if size >= least:
                entry = copies.setdefault(python_name(symbol), [0, 0])
                entry[0] += 1
                entry[1] += size
    print(f"  functions of {least}+ instructions defined in several libraries (copies, instructions processed):")
    for name, (count, size) in sorted(copies.items(), key=lambda item: -item[1][1])[:top]:
        if count > 1:
            print(f"    {name[:60]:60s} {count:3d} {size:8d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jobs", nargs="*", default=["main", "estimator"], choices=sorted(JOBS))
    parser.add_argument("--top", type=int, default=25, help="functions listed per job (default 25)")
    parser.add_argument(
        "--libraries", type=int, default=0, help="also list this many of LLVM's code libraries, slowest first"
    )
    args = parser.parse_args()
    for job in args.jobs:
        result = profile(JOBS[job])
        report(job, result, args.top)
        if args.libraries:
            report_libraries(result, args.libraries)


if __name__ == "__main__":
    main()
