"""The README's Python snippets run as written (in a scratch folder)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nnarray import cli

README = Path(__file__).resolve().parents[1] / "README.md"
CI = README.parent / ".ci" / "run"


def test_readme_snippets_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:  # later blocks build on earlier ones, as a reader would
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "flower.npz").exists()
    assert namespace["net"].score(*namespace["nn"].datasets.planar_flower(m=400)) > 0.85
    out = capsys.readouterr().out.strip().splitlines()
    assert "0.771749" in out  # the course's cat network, its first cost
    assert float(out[-1]) < 1e-7  # gradcheck


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", text, re.S)[:2]
    assert "nnarray train --dataset cat --device auto" in commands[0]
    assert commands[1].endswith("python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_ci_runs_the_main_job_in_full_as_the_readme_writes_it():
    main_job = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)[0]
    command = main_job.split("&&")[-1].strip()
    assert command == "nnarray train --dataset cat --device auto"
    runs = [line for line in CI.read_text().splitlines()
            if "nnarray train" in line and not line.lstrip().startswith(("#", "sys."))]
    assert len(runs) == 1 and f" {command} |" in runs[0], runs  # no --iterations, piped
    assert "--iterations" not in runs[0] and "--dtype" not in runs[0]


def _ci_check() -> str:
    """The Python that CI runs on the command's output."""
    return re.search(r"<<'EOF'\n(.*?)\nEOF\n", CI.read_text(), re.S).group(1)


@pytest.mark.parametrize(
    ("rows", "message"),
    [([["train", 0.0884125, 206 / 209], ["test", 0.761252, 0.8]], None),
     ([["train", 0.0869645, 206 / 209], ["test", 0.773365, 0.76]],
      "test accuracy 0.76 (expected 0.80)"),
     ([["train", 0.3, 0.9], ["test", 0.7, 0.8]], "train accuracy 0.9 (expected 0.986)"),
     ([["train", 0.0884125, 206 / 209]], "test accuracy None (expected 0.80)")],
)
def test_ci_check_of_the_course_figures_can_fail(tmp_path, rows, message):
    log = tmp_path / "cat.log"
    log.write_text("iteration | cost\n" + cli.table(["set", "cost", "accuracy"], rows) + "\n"
                   "2500 iterations in 20.00 s on cpu (numpy, step by step), float64\n")
    proc = subprocess.run([sys.executable, "-", str(log)], input=_ci_check(),
                          capture_output=True, text=True)
    if message is None:
        assert proc.returncode == 0, proc.stderr
        assert "course figures: train 0.986, test 0.80" in proc.stdout
    else:
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
