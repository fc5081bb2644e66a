"""``python -m benchmarks.compare``: the side-by-side comparison, now :mod:`fastbp.bench.compare`.

The comparison lives in the package so that an installed fastbp runs it as
``fastbp bench``; this module keeps the repository's command working.  It
imports the package only when run: asv imports every module here while
measuring commits that may predate ``fastbp.bench``.
"""

import sys

if __name__ == "__main__":
    from fastbp.bench.compare import main

    sys.exit(main())
