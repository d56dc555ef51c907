"""The commit ``scripts/gpu-check.sh`` records (env.txt) and the benchmark
writes (RESULTS.md): ``NNARRAY_COMMIT`` when set, else git's only where this
project's folder is the top of its repository, else ``unknown`` — never the
commit of another repository the tree was copied into."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import types
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


# ---------------------------------------------------------------- no GPU test skips on a GPU

_SKIPS = '''
import pytest

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="no CUDA device visible to CuPy")
def test_a_gpu_case_marked_to_skip():
    pass

@pytest.mark.gpu
def test_a_gpu_case_that_skips_itself():
    pytest.skip("nvmath-python is not installed")

@pytest.mark.gpu
@pytest.mark.xfail(reason="a known failure", strict=False)
def test_a_gpu_case_expected_to_fail():
    assert False

def test_a_cpu_case_that_skips():
    pytest.skip("scikit-learn is not installed")
'''


@pytest.mark.parametrize("required", [None, "1"])
def test_nnarray_require_gpu_turns_gpu_skips_into_failures(tmp_path, required):
    (tmp_path / "test_skips.py").write_text(_SKIPS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA device\n")
    env = {k: v for k, v in os.environ.items() if k != "NNARRAY_REQUIRE_GPU"}
    if required:
        env["NNARRAY_REQUIRE_GPU"] = required
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p",
                           "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), "-q", "-rA",
                           str(tmp_path / "test_skips.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    out = done.stdout
    if required:
        assert done.returncode == 1, out
        # a skip at setup becomes an error, one in the test a failure
        assert "1 failed, 1 skipped, 1 xfailed, 1 error" in out
        assert ("NNARRAY_REQUIRE_GPU=1: a GPU test may not skip on this machine, but it "
                "skipped: no CUDA device visible to CuPy") in out
        assert "it skipped: nvmath-python is not installed" in out
    else:
        assert done.returncode == 0, out
        assert "3 skipped, 1 xfailed" in out


def _pieces():
    spec = importlib.util.spec_from_file_location("gpu_pieces",
                                                  ROOT / "scripts" / "gpu_pieces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cublas", ["loads", "missing"])
def test_the_gpu_check_fails_when_cublas_does_not_load(monkeypatch, capsys, cublas):
    """On a GPU machine (a stand-in driver and CuPy seeing one GPU), nvmath's
    cuBLAS that cannot load fails the check, naming it."""
    from nnarray import backend
    from nnarray.backend import libraries
    from nnarray.engines import gemm

    for where in (libraries, backend):
        monkeypatch.setattr(where, "cuda_driver", lambda: libraries.Driver(1, (13, 0), ""))
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    bindings = types.ModuleType("nvmath.bindings")
    bindings.cublas = types.ModuleType("nvmath.bindings.cublas")

    def get_property(kind):
        if cublas == "missing":
            raise RuntimeError("DynamicLibNotFoundError: libcublas.so.13 not found")
        return 13

    bindings.cublas.get_property = get_property
    nvmath = types.ModuleType("nvmath")
    nvmath.bindings = bindings
    for name, module in (("cupy", cupy), ("nvmath", nvmath), ("nvmath.bindings", bindings),
                         ("nvmath.bindings.cublas", bindings.cublas)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(gemm, "_failed", None)
    monkeypatch.setattr(gemm, "gemm_for", lambda device_id: object())
    gemm._loads.cache_clear()
    try:
        status = _pieces().main()
    finally:
        gemm._loads.cache_clear()
    out = capsys.readouterr().out
    assert "NVIDIA driver: 1 GPU(s), CUDA 13.0" in out and "CuPy sees the GPU: yes" in out
    if cublas == "loads":
        assert status == 0 and "cuBLAS through nvmath-python: yes" in out
    else:
        assert status == 1
        assert "cuBLAS through nvmath-python: no (nvmath-python's cuBLAS does not load " \
            "(RuntimeError: DynamicLibNotFoundError: libcublas.so.13 not found))" in out
        assert out.rstrip().endswith("missing on this GPU machine: cuBLAS through nvmath-python")


def test_gpu_check_runs_the_pieces_and_requires_the_gpu_tests_on_a_gpu():
    """The lines of gpu-check.sh after the GPU detection: on a GPU machine they
    export NNARRAY_REQUIRE_GPU=1 and run scripts/gpu_pieces.py as a step."""
    lines = (ROOT / "scripts" / "gpu-check.sh").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# 0. On a GPU machine"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "fi") + 1
    stub = ('py=python3\nbefore_bench=100\n'
            'step() { echo "step $* REQUIRE=${NNARRAY_REQUIRE_GPU:-}"; }\n')
    for gpu, want in (("1", "step gpu-pieces 60 100 python3 scripts/gpu_pieces.py REQUIRE=1"),
                      ("0", "")):
        env = {k: v for k, v in os.environ.items() if k != "NNARRAY_REQUIRE_GPU"}
        done = subprocess.run(["bash", "-c", f"gpu={gpu}\n" + stub + "\n".join(lines[start:end])],
                              env=env, capture_output=True, text=True, check=True, timeout=30)
        assert done.stdout.strip() == want
