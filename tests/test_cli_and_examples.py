"""The main job and the examples, run as a user runs them: in a fresh interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def run(*arguments):
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)


def test_main_job_prints_accuracy_epochs_and_times():
    result = run("-m", "fastbp", "--epochs", "30")
    assert result.returncode == 0, result.stderr
    assert re.search(r"compile \(or load from cache\): \d+\.\d+ s", result.stdout)
    assert re.search(r"training: 30 epochs in \d+\.\d+ s", result.stdout)
    accuracy = float(re.search(r"held-out accuracy: (\d+\.\d)%", result.stdout).group(1))
    assert accuracy >= 95.0


def test_main_job_reports_bad_options_in_one_line():
    result = run("-m", "fastbp", "--epochs", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == "fastbp: error: epochs must be at least 1, got 0"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(script):
    result = run(str(script), *(["3"] if script.name == "digits.py" else []))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    if script.name == "xor.py":
        assert "all four correct: True" in result.stdout
