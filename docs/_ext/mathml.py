r"""Sphinx's HTML math as MathML, converted at build time by latex2mathml: no script, nothing fetched.

``html_math_renderer = "mathml"`` selects it.  Inline math becomes
``<span class="math"><math>...</math></span>``, display math
``<div class="math"><math display="block">...</math></div>``, with the
equation number and its permalink in front as Sphinx's own renderers put them
(``$$ ... $$ (label)`` in MyST, ``:label:`` in reST).  A display block of
several equations separated by blank lines gives one ``<math>`` per equation;
one with ``\\`` line breaks is set as ``\begin{split}``.  TeX that
latex2mathml leaves unconverted (an unknown command such as ``\foo``, or a
syntax error, an environment it cannot align) is a build warning, so
``sphinx -W`` stops on it.
"""

import html
import re

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)
# What latex2mathml copies through as text: a command it does not know (<mi>\foo</mi>), or the alignment
# mark of an environment it does not align (gather, multline, alignat, ...: <mi>&</mi>).
UNCONVERTED = re.compile(r">[^<]*\\[A-Za-z]|<mi>&</mi>")
# latex2mathml numbers the rows of align itself; Sphinx numbers the whole block (MyST's amsmath).
NUMBERED_ALIGN = re.compile(r"\\(begin|end)\{align\}")


def mathml(latex: str, display: str, node: nodes.Element) -> str:
    """``latex`` as a ``<math>`` element; a warning located at ``node`` if it does not convert."""
    try:
        converted = convert(latex, display=display)
    except Exception as error:  # latex2mathml raises its own exceptions and plain ones on bad TeX
        logger.warning("latex2mathml could not convert (%s): %s", type(error).__name__, latex, location=node)
        return f"<code>{html.escape(latex)}</code>"
    if UNCONVERTED.search(converted):
        logger.warning("latex2mathml left TeX unconverted: %s", latex, location=node)
    return converted


def visit_math(self, node: nodes.math) -> None:
    """Inline math: ``<span class="math"><math display="inline">``."""
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate nohighlight"))
    self.body.append(mathml(node.astext(), "inline", node) + "</span>")
    raise nodes.SkipNode


def visit_math_block(self, node: nodes.math_block) -> None:
    """Display math: its number and permalink, then one ``<math display="block">`` per equation."""
    self.body.append(self.starttag(node, "div", CLASS="math notranslate nohighlight"))
    if node.get("no-wrap", node.get("nowrap", False)):  # a whole environment, e.g. MyST's amsmath
        equations = [NUMBERED_ALIGN.sub(r"\\\1{align*}", node.astext())]
    else:
        parts = [part for part in node.astext().split("\n\n") if part.strip()]
        equations = [rf"\begin{{split}}{part}\end{{split}}" if r"\\" in part else part for part in parts]
    if node.get("number"):
        self.body.append(f'<span class="eqno">({get_node_equation_number(self, node)})')
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    self.body.extend(mathml(equation, "block", node) for equation in equations)
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app):
    """Register the renderer under the name ``mathml``."""
    app.add_html_math_renderer("mathml", inline_renderers=(visit_math, None), block_renderers=(visit_math_block, None))
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
