"""docs/_ext/mathml.py on a small Sphinx project of its own: the MathML it writes, and the TeX it refuses."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("latex2mathml", reason='the docs extra is not installed: pip install ".[docs]"')

MATHML = "http://www.w3.org/1998/Math/MathML"
EXTENSIONS = Path(__file__).resolve().parent.parent / "_ext"
CONF = f"""
import sys
sys.path.insert(0, {str(EXTENSIONS)!r})
extensions = ["myst_parser", "mathml"]
myst_enable_extensions = ["dollarmath", "amsmath"]
html_math_renderer = "mathml"
"""
PAGE = r"""# Math

$$
\frac{\partial C}{\partial b^l_k} = \frac{1}{N} \sum_n \delta^l_k(n)
$$ (gradient)

Inline $a^l_k = \sigma_l(z^l_k)$, and {eq}`gradient`.

$$
a^0 = x

W^l_{kj} \leftarrow W^l_{kj} - \alpha \frac{\partial C}{\partial W^l_{kj}}
$$

\begin{align}
z &= W a + b \\
a &= \sigma(z)
\end{align}
"""


def build(tmp_path: Path, page: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``sphinx -W -b html`` on a project of one Markdown page: the run and the page it wrote."""
    (tmp_path / "conf.py").write_text(CONF)
    (tmp_path / "index.md").write_text(page)
    command = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tmp_path), str(tmp_path / "html")]
    return subprocess.run(command, capture_output=True, text=True, timeout=120), tmp_path / "html" / "index.html"


def test_display_math_is_block_mathml_with_its_number_and_inline_math_is_inline(tmp_path):
    result, page = build(tmp_path, PAGE)
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    blocks = re.findall(r'<div class="(?:amsmath )?math[^"]*"[^>]*>(.*?)</div>', html, flags=re.DOTALL)
    # one <math> per equation: 1, then 2 (a blank line apart), then the align environment
    block_math, inline_math = (f'<math xmlns="{MATHML}" display="{display}">' for display in ("block", "inline"))
    assert [block.count(block_math) for block in blocks] == [1, 2, 1]
    assert 'id="equation-gradient"' in html and '<span class="eqno">(1)<a class="headerlink"' in blocks[0]
    assert '<a class="reference internal" href="#equation-gradient">(1)</a>' in html
    assert f'<span class="math notranslate nohighlight">{inline_math}' in html
    # Sphinx numbers the align environment (2); latex2mathml does not number its rows again
    assert "(2)" in blocks[2] and "<mtext>(1)</mtext>" not in blocks[2]
    assert "\\" not in re.sub(r"<[^>]*>", "", "".join(blocks))


@pytest.mark.parametrize("tex", [r"$\undefinedcommand x$", r"$$\frac{1}{$$"])
def test_tex_that_does_not_convert_fails_the_build(tmp_path, tex):
    result, _ = build(tmp_path, f"# Math\n\n{tex}\n")
    assert result.returncode != 0
    assert "latex2mathml" in result.stderr and "index.md" in result.stderr
