"""The documentation site, built with mkdocs: it loads nothing from the network
(MathJax is vendored, the theme uses the system's fonts), and the notebooks of
examples/notebooks are pages with their saved plots."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host
LOADING_RELS = {"stylesheet", "preload", "modulepreload", "preconnect", "dns-prefetch",
                "prefetch", "icon", "manifest"}


class _Loads(HTMLParser):
    """What a page makes the browser fetch: script, stylesheet, image, frame and
    media sources, and URLs that inline scripts import."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and LOADING_RELS & set(a.get("rel", "").lower().split()):
            self.urls.append(a.get("href", ""))
        elif tag in ("script", "img", "iframe", "audio", "video", "source", "embed"):
            self.urls.append(a.get("src", ""))
        elif tag == "object":
            self.urls.append(a.get("data", ""))
        self._script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._script = False

    def handle_data(self, data: str) -> None:
        if self._script:
            self.urls += re.findall(r"""\bimport\s*\(\s*["']([^"']+)["']""", data)


def remote_loads(html: str) -> list[str]:
    """The URLs a page would fetch from the network."""
    parser = _Loads()
    parser.feed(html)
    return [u for u in parser.urls if REMOTE.match(u.strip())]


def remote_css(css: str) -> list[str]:
    """``@import`` and ``url(...)`` of a stylesheet that point at the network."""
    found = re.findall(r"""url\(\s*["']?([^"')]+)""", css)
    found += re.findall(r"""@import\s+["']([^"']+)""", css)
    return [u for u in found if REMOTE.match(u.strip())]


def test_the_check_finds_what_the_network_would_serve():
    page = """
    <link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">
    <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
    <link rel="stylesheet" href="../assets/main.css"><a href="https://github.com/">repo</a>
    <script src="//cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>
    <script src="../javascripts/mathjax/tex-svg.js"></script>
    <script type="module">const m = (await import("https://cdnjs.example/mermaid.mjs"));</script>
    <img src="data:image/png;base64,iVBOR"><img src="http://example.com/a.png">
    """
    assert remote_loads(page) == [
        "https://fonts.googleapis.com/css?family=Roboto", "https://fonts.gstatic.com",
        "//cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js", "https://cdnjs.example/mermaid.mjs",
        "http://example.com/a.png"]
    assert remote_css("a{background:url(../x.svg)} @import 'https://f.example/a.css';"
                      'b{src:url("https://f.example/r.woff2")}') == [
        "https://f.example/r.woff2", "https://f.example/a.css"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    for module, package in [("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                            ("mkdocstrings", "mkdocstrings[python]"),
                            ("mkdocs_jupyter", "mkdocs-jupyter")]:
        pytest.importorskip(module, reason=f"building the docs needs {package} "
                            "(pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert build.returncode == 0, build.stderr[-3000:]
    return out


def test_the_site_loads_nothing_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    remote = {str(p.relative_to(site)): urls for p in pages
              if (urls := remote_loads(p.read_text(encoding="utf-8")))}
    assert not remote, remote
    sheets = {str(p.relative_to(site)): urls for p in sorted(site.rglob("*.css"))
              if (urls := remote_css(p.read_text(encoding="utf-8")))}
    assert not sheets, sheets


def test_every_page_gets_the_vendored_mathjax_once(site):
    assert (site / "javascripts" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000
    for page in [site / "lecture" / "index.html",
                 *(site / "notebooks" / p.stem / "index.html" for p in NOTEBOOKS)]:
        scripts = re.findall(r'<script src="([^"]*mathjax[^"]*)"', page.read_text())
        assert [s.rsplit("/", 2)[-2:] for s in scripts] == [
            ["javascripts", "mathjax.js"], ["mathjax", "tex-svg.js"]], (page, scripts)


def test_the_lecture_page_hands_its_formulas_to_mathjax(site):
    html = (site / "lecture" / "index.html").read_text()
    assert html.count('class="arithmatex"') > 20
    assert r'<span class="arithmatex">\(' in html and r'<div class="arithmatex">\[' in html


@pytest.mark.parametrize("notebook", [p.stem for p in NOTEBOOKS])
def test_notebook_pages_show_their_text_formulas_and_plots(site, notebook):
    html = (site / "notebooks" / notebook / "index.html").read_text()
    assert "jp-RenderedMarkdown" in html  # the class javascripts/mathjax.js typesets
    assert re.search(r"\$[^$<]+\$", html), "no $...$ formula on the page"
    saved = (ROOT / "examples" / "notebooks" / f"{notebook}.ipynb").read_text()
    plots = saved.count('"image/png"')
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == plots
    if notebook != "03_deep_building_blocks":
        assert plots, f"{notebook} shows no plot"
