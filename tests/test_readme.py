"""The README's Python blocks run as written, each on its own (a fresh namespace,
an empty folder), as a reader pastes one; its commands are the ones CI runs."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nnarray import cli

README = Path(__file__).resolve().parents[1] / "README.md"
CI = README.parent / ".ci" / "run"


BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def run_alone(block: str, where: Path) -> tuple[dict, list[str]]:
    """Run one README block as a reader would paste it into a fresh interpreter:
    in a namespace of its own, in an empty folder; returns the namespace and the
    lines it printed."""
    where.mkdir()
    namespace: dict = {"__name__": "__main__"}
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(where)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace, out.getvalue().splitlines()


def _use(ns: dict, out: list[str], where: Path) -> None:
    assert (where / "flower.npz").exists()
    assert ns["net"].score(*ns["nn"].datasets.planar_flower(m=400)) > 0.85


def _sklearn(ns: dict, out: list[str], where: Path) -> None:
    assert float(out[-1]) > 0.9  # digits, test accuracy


def _course(ns: dict, out: list[str], where: Path) -> None:
    assert "0.771749" in out  # the course's cat network, its first cost


def _building_blocks(ns: dict, out: list[str], where: Path) -> None:
    assert float(out[-1]) < 1e-7  # gradcheck


CHECKS = [_use, _sklearn, _course, _building_blocks]  # what each block, in order, must do


def test_every_readme_block_is_checked():
    assert len(BLOCKS) == len(CHECKS), f"{len(BLOCKS)} Python blocks, {len(CHECKS)} checks"


@pytest.mark.parametrize(("block", "check"), list(zip(BLOCKS, CHECKS, strict=False)),
                         ids=[c.__name__.strip("_") for c in CHECKS[:len(BLOCKS)]])
def test_each_readme_block_runs_alone(tmp_path, block, check):
    if check is _sklearn:
        pytest.importorskip("sklearn")
    ns, out = run_alone(block, tmp_path / "scratch")
    check(ns, out, tmp_path / "scratch")


def test_a_block_that_leans_on_another_fails(tmp_path):
    """The check above can fail: a block that uses a name an earlier block made."""
    leaning = "X, Y = nn.datasets.planar_flower(m=10)\n"
    with pytest.raises(NameError, match="'nn' is not defined"):
        run_alone(leaning, tmp_path / "scratch")
    ns, _ = run_alone("import nnarray as nn\n" + leaning, tmp_path / "again")
    assert ns["X"].shape == (2, 10)


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
                   "2500 iterations in 20.00 s on the CPU with NumPy, float64\n")
    proc = subprocess.run([sys.executable, "-", str(log)], input=_ci_check(),
                          capture_output=True, text=True)
    if message is None:
        assert proc.returncode == 0, proc.stderr
        assert "course figures: train 0.986, test 0.80" in proc.stdout
    else:
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_readme_starts_from_a_clone_and_a_venv_with_one_install_story():
    text = README.read_text()
    first = re.findall(r"```bash\n(.*?)\n```", text, re.S)[0].splitlines()
    assert first[0].startswith("git clone ") and "python -m venv .venv" in first[1]
    assert "pip install -e ." in first[2]
    installs = re.findall(r"pip install ([^`\n]*)", text)
    assert installs and all(i.startswith("-e ") for i in installs), installs


def test_the_notebooks_extra_installs_jupyter():
    pyproject = (README.parent / "pyproject.toml").read_text()
    extra = re.search(r"^notebooks = \[(.*)\]$", pyproject, re.M)
    assert extra and "jupyterlab" in extra[1], "no notebooks extra with JupyterLab"
    assert 'pip install -e ".[notebooks]"' in README.read_text()


def test_the_readme_shows_a_picture_near_the_top():
    text = README.read_text()
    pictures = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", text)
    assert pictures and text.index(pictures[0]) < text.index("## Quick start")
    assert (README.parent / pictures[0]).is_file()


def test_the_results_lead_with_the_figures_and_state_ranges():
    section = README.read_text().split("## The lecture's results", 1)[1].split("\n## ", 1)[0]
    assert section.index("| what (command) |") < section.index("OpenBLAS")
    assert "ReLU 0.90–0.9025" in section and "3.5e-5–3.6e-5" in section
