"""The README's Python snippets run as written (in a scratch folder)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_snippets_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:  # later blocks build on earlier ones, as a reader would
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "flower.npz").exists()
    assert namespace["net"].score(*namespace["nn"].datasets.planar_flower(m=400)) > 0.85
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) < 1e-7  # gradcheck


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", text, re.S)[:2]
    assert "nnarray train --dataset cat --device auto" in commands[0]
    assert commands[1].endswith("python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci
