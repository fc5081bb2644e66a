"""The examples in sphinx-gallery: their command lines in the docs build, and the figures they write.

The examples are command-line scripts that write their figure to ``--output``
with matplotlib's Agg canvas (:mod:`fastbp.cli.plotting`, no ``pyplot``), so
sphinx-gallery's matplotlib scraper sees nothing.  Instead :func:`reset_argv`
gives each example that draws a ``--output`` beside its copy in the gallery
folder (``auto_examples/xor.png`` for ``xor.py``), and :func:`figure_scraper`
moves that file to the image name sphinx-gallery expects and embeds it.
``docs/conf.py`` names both in ``sphinx_gallery_conf``.
"""

import shutil
from pathlib import Path

from sphinx_gallery.scrapers import figure_rst

# The examples in the gallery's reading order, with their arguments in the docs build (sizes that keep it
# short); None: the example draws nothing and takes no arguments.
EXAMPLES = {
    "gradient_descent_1d.py": [],
    "linear_regression.py": [],
    "xor.py": [],
    "worked_step.py": None,
    "digits.py": [],
    "estimator_vs_sklearn.py": [],
    "backends.py": ["--epochs", "5"],
    "dask_search.py": None,
}


def reading_order(filename: str) -> tuple[int, str]:
    """sphinx-gallery's ``within_subsection_order``: the order of :data:`EXAMPLES`, then any other by name."""
    return (list(EXAMPLES).index(filename) if filename in EXAMPLES else len(EXAMPLES), filename)


def figure_path(script_vars: dict) -> Path:
    """Where the example writes its figure: beside its copy in the gallery folder, as ``NAME.png``."""
    return Path(script_vars["target_file"]).with_suffix(".png")


def reset_argv(gallery_conf: dict, script_vars: dict) -> list[str]:
    """The example's ``sys.argv[1:]``: its arguments and ``--output``, or none if it draws nothing."""
    arguments = EXAMPLES.get(Path(script_vars["src_file"]).name)
    return [] if arguments is None else [*arguments, "--output", str(figure_path(script_vars))]


def figure_scraper(block, block_vars: dict, gallery_conf: dict) -> str:
    """sphinx-gallery's image scraper: the figure the code block wrote, as reST (empty if none)."""
    written = figure_path(block_vars)
    if not written.is_file():
        return ""
    image = next(block_vars["image_path_iterator"])
    shutil.move(written, image)
    return figure_rst([image], gallery_conf["src_dir"])
