"""The commit ``scripts/gpu-check.sh`` records (env.txt) and the benchmark
writes (RESULTS.md): ``NNARRAY_COMMIT`` when set, else git's only where this
project's folder is the top of its repository, else ``unknown`` — never the
commit of another repository the tree was copied into."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, text=True,
                          capture_output=True, check=True).stdout.strip()


def _repository(path: Path) -> str:
    """A git repository at ``path`` with one commit; its short sha."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "README").write_text("another project\n")
    _git(path, "init", "-q")
    _git(path, "add", "README")
    _git(path, "commit", "-q", "-m", "first")
    return _git(path, "rev-parse", "--short", "HEAD")


@pytest.fixture
def no_commit_given(monkeypatch):
    monkeypatch.delenv("NNARRAY_COMMIT", raising=False)


def test_a_repository_at_the_project_folder_names_its_commit(tmp_path, no_commit_given):
    sha = _repository(tmp_path / "project")
    assert report.commit(tmp_path / "project") == sha
    (tmp_path / "project" / "nnarray").mkdir()
    (tmp_path / "project" / "nnarray" / "x.py").write_text("")
    assert report.commit(tmp_path / "project") == f"{sha} with uncommitted changes in nnarray/"


def test_a_copy_inside_another_repository_is_not_its_commit(tmp_path, no_commit_given):
    other = _repository(tmp_path / "outer")
    copy = tmp_path / "outer" / "nnarray-0934bd1"
    copy.mkdir()
    assert other
    assert report.commit(copy) == "unknown"


def test_the_commit_given_wins_over_git(tmp_path, monkeypatch):
    _repository(tmp_path / "outer")
    monkeypatch.setenv("NNARRAY_COMMIT", "0934bd1")
    assert report.commit(tmp_path / "outer") == "0934bd1"
    assert report.commit(tmp_path / "outer" / "copy") == "0934bd1"
    assert report.commit(tmp_path) == "0934bd1"  # no repository at all


def _env_txt_commit_lines() -> str:
    """The lines of gpu-check.sh that finish env.txt: after the probe's
    heredoc, up to env.txt's copy into steps.log."""
    lines = (ROOT / "scripts" / "gpu-check.sh").read_text().splitlines()
    start = lines.index("PY") + 1
    end = lines.index('cat "$out/env.txt" >>"$log"')
    assert 0 < start < end
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("given", [None, "0934bd1"])
def test_gpu_check_records_the_projects_commit_not_the_enclosing_one(tmp_path, given):
    """The H200 run of 2026-12-04 ran a copy of the tree placed inside another
    repository's work tree: env.txt must say the commit given, else unknown."""
    other = _repository(tmp_path / "outer")
    copy = tmp_path / "outer" / "nnarray"
    shutil.copytree(ROOT / "benchmarks", copy / "benchmarks",
                    ignore=shutil.ignore_patterns("*.md", "*.png", "__pycache__"))
    out = tmp_path / "out"
    out.mkdir()
    script = (f"set -uo pipefail\npy={shlex.quote(sys.executable)}\nout={shlex.quote(str(out))}\n"
              f"log={shlex.quote(str(out / 'steps.log'))}\n")
    env = {k: v for k, v in os.environ.items() if k != "NNARRAY_COMMIT"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", ""))
                                        if p)
    if given:
        env["NNARRAY_COMMIT"] = given
    subprocess.run(["bash", "-c", script + _env_txt_commit_lines()], cwd=copy, env=env,
                   check=True, timeout=60)
    recorded = (out / "env.txt").read_text().splitlines()
    assert recorded == [f"commit {given or 'unknown'}"], (recorded, other)
