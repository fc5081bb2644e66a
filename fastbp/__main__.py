"""``python -m fastbp``: the command line (see :mod:`fastbp.cli`)."""

from fastbp.cli import main

raise SystemExit(main())
