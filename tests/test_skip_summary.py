"""The summary of skipped tests: one line a missing library, with its count,
and pytest's own totals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import skip_group

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/skip_sample.py", "-n", "0",
                           "-p", "no:cacheprovider", "-o", "addopts=-ra", *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NNARRAY_TEST_BACKENDS": "numpy"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_skips_are_counted_one_line_a_missing_library():
    out = _pytest("-q")
    skipped = sorted(line for line in out.splitlines() if line.startswith("SKIPPED"))
    assert skipped == ["SKIPPED [1] tests: nnarray_sample_missing_b is not installed",
                       "SKIPPED [1] tests: no CUDA device here",
                       "SKIPPED [4] tests: nnarray_sample_missing_a is not installed"], out
    assert "1 passed, 6 skipped" in out, out


def test_verbose_lists_skips_as_pytest_does():
    out = _pytest("-v")
    assert "tests/skip_sample.py:9: could not import 'nnarray_sample_missing_a'" in out, out


def test_skip_groups():
    assert skip_group("Skipped: could not import 'torch': No module named 'torch'") == \
        "torch is not installed"
    assert skip_group("cupy on cuda:0: cupy is not installed") == "cupy is not installed"
    assert skip_group("could not import 'dask.array': x") == "dask is not installed"
    assert skip_group("torch on cuda:0: torch has no CUDA device") == "torch has no CUDA device"
    assert skip_group("POSIX permission bits") == "POSIX permission bits"
