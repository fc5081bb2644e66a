"""Sphinx configuration of fastbp's documentation site.

Build it from the repository root with
``python -m pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``.
autodoc documents the *installed* fastbp; only ``docs/_ext`` (the local
extensions) is put on ``sys.path``.  Every page works offline: the math is
MathML converted at build time (``_ext/mathml.py``), and the theme loads
nothing from the network.
"""

import sys
from pathlib import Path

import fastbp

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "fastbp"
author = "the fastbp authors"
copyright = "the fastbp authors, BSD-3-Clause"
release = version = fastbp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "mathml",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Only the pages: not the build, the local extensions and style sheet, nor the site's tests.
exclude_patterns = ["_build", "_ext", "_static", "tests"]

# Markdown pages may write math as $...$ and $$...$$, and amsmath environments.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
html_math_renderer = "mathml"

# The API page: numpydoc sections, the methods listed by autodoc's :members: (not by numpydoc's tables).
numpydoc_show_class_members = False
autodoc_member_order = "bysource"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # every example runs, except the Dask search (a cluster of worker processes): shown only
    "filename_pattern": r"^(?!.*dask_search\.py$)",
    "within_subsection_order": "gallery.reading_order",
    "reset_argv": "gallery.reset_argv",
    "image_scrapers": ("gallery.figure_scraper",),
    "reset_modules": (),
    "download_all_examples": False,
    "show_signature": False,
    # its pages of execution times load jQuery and DataTables from CDNs
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_static_path = ["_static"]
html_css_files = ["mathml.css", "wide.css"]
# No left sidebar: the site is five pages in the top bar, and the code needs the width.
html_sidebars = {"**": []}
html_show_sourcelink = False
# The theme's defaults fetch nothing from the network (no version switcher, analytics nor web fonts), and
# docs/tests/test_site.py checks every built page and style sheet for it.
