"""The side-by-side benchmark behind ``fastbp bench`` (and ``python -m benchmarks.compare``).

:mod:`fastbp.bench.workloads` holds the five workloads of the CPU comparison,
shared with the asv suite in ``benchmarks/``; :mod:`fastbp.bench.compare`
times fastbp against its peers on them.  Nothing here is imported by
``import fastbp``.
"""
