"""The documentation's Python snippets run, page by page, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_snippets_run(page, tmp_path, monkeypatch, capsys):
    for optional in ("sklearn", "matplotlib"):
        if f"from {optional}" in page.read_text():
            pytest.importorskip(optional)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    for block in blocks:  # each block builds on the ones before, as a reader's session
        exec(compile(block, str(page), "exec"), namespace)
    assert blocks


def test_lecture_page_prints_what_it_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "lecture.md").read_text()
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        exec(compile(block, "lecture.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "0.693147" in out  # log 2, the logistic regression's first cost
    assert "(4, 5) (4, 5) (1, 5) 2" in out
    assert "['dA0', 'dA1', 'dW1', 'dW2', 'db1', 'db2']" in out
    assert "True" in out  # the gradient check


def test_every_tutorial_has_its_plots_in_the_repository():
    """The tutorial pages show the plots under docs/assets/plots (made by the
    examples with --plots docs/assets/plots); a missing one would silently vanish."""
    examples = DOCS.parent / "examples"
    plots = DOCS / "assets" / "plots"
    for example in examples.glob("*.py"):
        if example.name.startswith("_"):
            continue
        assert list(plots.glob(f"{example.stem}_*.png")), f"no plot for {example.name}"
