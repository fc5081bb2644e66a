"""The subcommands of the ``fastbp`` command line, one module each (the parser is :mod:`fastbp.cli`)."""
