"""The built site: its math is MathML in a real browser, and no page loads anything from the network.

Build the site first (``python -m sphinx -W -b html docs docs/_build/html``), then run
``python -m pytest docs/tests``.  The browser test needs Chromium (Debian's ``chromium``).
"""

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest

SITE = Path(__file__).resolve().parent.parent / "_build" / "html"
FORMULAS = SITE / "formulas.html"
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# TeX that a page shows as text when its math was not converted.
RAW_TEX = re.compile(r"\$\$|\\[A-Za-z]+|\\[()\[\]]")
# A URL that the browser would fetch from the network (data: and relative URLs stay local).
NETWORK = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# Elements that load what they point to, and the attribute that points; plain <a href> only links.
LOADS = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "embed": "src"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")


class PageText(HTMLParser):
    """The text of a page outside ``<math>`` (with its ``<annotation>``), code blocks, scripts and styles."""

    SKIPPED = {"math", "pre", "script", "style"}

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.SKIPPED

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIPPED

    def handle_data(self, data):
        if self.depth == 0:
            self.parts.append(data)


class Loads(HTMLParser):
    """The URLs that a page's elements load, and the CSS of its ``<style>`` elements."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.in_style = False
        self.css: list[str] = []

    def handle_starttag(self, tag, attrs):
        attribute = dict(attrs).get(LOADS.get(tag, ""))
        if attribute:
            self.urls.append(attribute)
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.css.append(data)


def css_urls(css: str) -> list[str]:
    """The URLs of ``url(...)`` and ``@import "..."`` in a style sheet."""
    return [url or imported for url, imported in CSS_URL.findall(css)]


@pytest.fixture(scope="module")
def site() -> Path:
    if not FORMULAS.is_file():
        pytest.skip(f"the site is not built ({FORMULAS} is missing): python -m sphinx -W -b html docs docs/_build/html")
    return SITE


@pytest.fixture(scope="module")
def chromium(site) -> str:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium or chromium-browser executable on PATH (Debian: apt-get install chromium)")
    return executable


def test_the_formulas_page_shows_mathml_and_code_in_chromium(chromium, tmp_path):
    page = FORMULAS.as_uri()
    dom = subprocess.run(
        [chromium, *HEADLESS, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert re.search(r'<math\b[^>]*display="block"', dom), 'no display math (<math display="block">) on the page'
    assert '<div class="highlight' in dom, "no highlighted code block on the page"
    text = PageText()
    text.feed(dom)
    raw = sorted(set(RAW_TEX.findall(" ".join(text.parts))))
    assert raw == [], f"TeX shown as text, outside <math>: {raw}"

    screenshot = tmp_path / "formulas.png"
    subprocess.run(
        [chromium, *HEADLESS, f"--screenshot={screenshot}", "--window-size=1280,3000", page],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert screenshot.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (3000, 1280)
    assert pixels.std() > 0.05, "the screenshot is (nearly) one colour: nothing was drawn"


def test_no_page_and_no_style_sheet_loads_from_the_network(site):
    pages, sheets = sorted(site.rglob("*.html")), sorted(site.rglob("*.css"))
    assert len(pages) > 5 and sheets
    found = []
    for page in pages:
        loads = Loads()
        loads.feed(page.read_text(encoding="utf-8"))
        urls = loads.urls + [url for css in loads.css for url in css_urls(css)]
        found += [f"{page.relative_to(site)}: {url}" for url in urls if NETWORK.match(url)]
    for sheet in sheets:
        urls = css_urls(sheet.read_text(encoding="utf-8"))
        found += [f"{sheet.relative_to(site)}: {url}" for url in urls if NETWORK.match(url)]
    assert found == [], "loaded from the network:\n" + "\n".join(found)
