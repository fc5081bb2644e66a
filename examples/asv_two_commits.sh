#!/usr/bin/env bash
# asv used to compare two commits: the same benchmarks timed on both, side by side.
#
# What it shows: `asv continuous` builds each commit into a virtualenv of its own
# (asv.conf.json), runs the chosen benchmarks of benchmarks/bench_training.py on
# both, and lists those whose time changed by more than --factor; `asv compare`
# then prints every result of the two commits with their ratio.
#
# Run from the repository root (needs asv: pip install "fastbp[bench]"; the first
# run installs numpy and numba from PyPI into asv's virtualenv, a few minutes):
#
#     bash examples/asv_two_commits.sh [BASE] [HEAD] [BENCHMARKS]
#
# BASE and HEAD are any git revisions (default HEAD~1 and HEAD); BENCHMARKS is
# asv's regular expression over benchmark names (default: the epoch times).
# With --quick each benchmark runs once: enough to see a factor of two, not 5%;
# drop it (edit below) for timings you mean to report.  No figure: asv's own
# report is text (`asv publish && asv preview` serves its HTML graphs).
set -euo pipefail

base="${1:-HEAD~1}"
head="${2:-HEAD}"
benchmarks="${3:-TrainEpoch.time_epoch}"

asv machine --yes
status=0
asv continuous --quick --factor 1.1 --bench "$benchmarks" "$base" "$head" || status=$?
asv compare --split --factor 1.1 "$(git rev-parse "$base")" "$(git rev-parse "$head")"
if [ "$status" -ne 0 ]; then
    echo "asv continuous exited with status $status: a benchmark got slower by more than 10% (or failed)"
fi
exit "$status"
