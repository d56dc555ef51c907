"""The documentation's Python snippets run, each on its own (a fresh
namespace, as a reader pastes one), and print what the page says."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "```python" in p.read_text())


def _floats(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", line)]


def _index_costs(line: str) -> bool:
    first, last, accuracy = _floats(line)
    # the first cost is fixed by the seeded initial parameters; the rest is float32
    # training on the host's BLAS, so only bounded
    return round(first, 3) == 0.722 and last < 0.5 * first and accuracy >= 0.85


def _early_stopping(line: str) -> bool:
    epochs, stopped, accuracy = line.split()
    return 20 < int(epochs) < 200 and stopped == "True" and float(accuracy) >= 0.85


# What each page's snippets print, line by line: a string is the exact line; a
# callable judges lines whose last digits depend on float32 arithmetic or the machine.
EXPECTED: dict[str, list] = {
    "lecture": [
        "0.6931471805599453",  # log 2, the logistic regression's first cost
        "[[0. 0. 0. 1. 1.]]",
        "{'W1': (4, 3), 'b1': (4, 1), 'W2': (1, 4), 'b2': (1, 1)}",
        "(4, 5) (4, 5) (1, 5) 2",
        "['dA0', 'dA1', 'dW1', 'dW2', 'db1', 'db2']",
        "True",  # the gradient check passes
        "[0, 100, 200, 299] [0.6931, 0.0984, 0.0158, 0.0076]",  # float64: exact
    ],
    "index": [
        "[0, 500, 1000, 1500, 1999]",
        _index_costs,
        lambda line: re.fullmatch(r"cpu numpy|cuda:\d+ cupy", line) is not None,
    ],
    "devices": [
        lambda line: re.fullmatch(r"\['cpu'(, 'cuda:\d+')*\]", line) is not None,
        "array_api_strict cpu",
        "True",  # the same seed, bit-identical parameters on two backends
    ],
    "reliability": [
        "[3, 2, 1]",
        "['W1', 'W2', 'b1', 'b2'] float32",
        "'model.npz' asks for 44 bytes of arrays (layer_dims=[3, 2, 1], float32), more than "
        "max_bytes=10; if you trust this file, load it with a larger max_bytes",
    ],
    "beyond": [
        "True [[2 1 2 1 0]]",  # accuracy > 0.9; the first five predictions are right
        _early_stopping,
        lambda line: float(line) >= 0.9,  # digits with scikit-learn
    ],
    "deploy": [
        "['X'] ['probabilities', 'labels']",
        "(400, 1) (400,) int64",
        "rows",
        "True True",  # predict_proba within 1e-6 (float32), the same labels as predict
    ],
}

# What a page's snippets need beyond the test extra: the text that says so,
# and the module skipped without.
OPTIONAL = {"from sklearn": "sklearn", "from matplotlib": "matplotlib",
            ".to_onnx(": "ndonnx", "import onnxruntime": "onnxruntime"}


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_snippets_run_and_print_what_they_should(page, tmp_path, monkeypatch, capsys):
    for needle, optional in OPTIONAL.items():
        if needle in page.read_text():
            pytest.importorskip(optional)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    for block in blocks:  # each on its own: a block leaning on another fails here
        exec(compile(block, str(page), "exec"), {"__name__": "__main__"})
    assert blocks
    lines = capsys.readouterr().out.splitlines()
    expected = EXPECTED.get(page.relative_to(DOCS).with_suffix("").as_posix(), [])
    assert len(lines) == len(expected), (
        f"{page.name} printed {len(lines)} lines, EXPECTED has {len(expected)}: {lines}")
    for i, (line, want) in enumerate(zip(lines, expected, strict=True)):
        ok = line == want if isinstance(want, str) else want(line)
        assert ok, f"{page.name}, printed line {i + 1}: {line!r}, expected {want!r}"


def test_the_beyond_page_shows_right_predictions():
    """The beyond page's "[[2 1 2 1 0]]" are the first five true classes."""
    import numpy as np

    X = np.random.default_rng(0).standard_normal((4, 300))
    y = (X[0] > 0).astype(int) + (X[1] > 0.5)
    assert y[:5].tolist() == [2, 1, 2, 1, 0]


def test_an_unexpected_line_fails(tmp_path, monkeypatch, capsys):
    """The check above can fail: a page printing "False" where "True" is expected."""
    text = (DOCS / "devices.md").read_text()
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path)
    page = tmp_path / "devices.md"
    page.write_text(text.replace("print(all(", "print(not all("))
    with pytest.raises(AssertionError, match="printed line 3: 'False', expected 'True'"):
        test_page_snippets_run_and_print_what_they_should(page, tmp_path, monkeypatch, capsys)


def test_a_block_leaning_on_an_earlier_one_fails(tmp_path, monkeypatch, capsys):
    """The check above can fail: a block that uses a name an earlier block made."""
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path)
    page = tmp_path / "index.md"
    page.write_text("```python\nimport nnarray as nn\n```\n\n```python\nprint(nn)\n```\n")
    with pytest.raises(NameError, match="'nn' is not defined"):
        test_page_snippets_run_and_print_what_they_should(page, tmp_path, monkeypatch, capsys)


def test_every_tutorial_has_its_plots_in_the_repository():
    """The tutorial pages show the plots under docs/assets/plots (made by the
    examples with --plots docs/assets/plots); a missing one would silently vanish."""
    examples = DOCS.parent / "examples"
    plots = DOCS / "assets" / "plots"
    for example in examples.glob("*.py"):
        if example.name.startswith("_"):
            continue
        assert list(plots.glob(f"{example.stem}_*.png")), f"no plot for {example.name}"
