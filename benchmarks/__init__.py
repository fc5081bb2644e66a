"""fastbp's benchmarks: the asv suite (``bench_training``) and the side-by-side comparison (``compare``)."""
