"""The backend matrix: every (backend, device, dtype) that exists on this machine.

numpy and array_api_strict (on its CPU device, on ``device1`` standing in for a
second device, and on ``no_float64`` standing in for a GPU without float64)
always run; torch, jax (with x64 enabled) and dask when installed; cupy and
torch on CUDA when a CUDA device exists. Missing ones are skipped with a reason.
Narrow the matrix with ``pytest --backend cupy`` (repeatable) or
``NNARRAY_TEST_BACKENDS=numpy,torch``.

On a GPU machine, ``NNARRAY_REQUIRE_GPU=1`` (``scripts/gpu-check.sh`` sets it
there) turns every skip of a test marked ``gpu`` into a failure: a GPU test
may not skip there for want of a piece (CuPy, nvmath-python, a CUDA torch).

The summary of skipped tests is one line a reason (``SKIPPED [1246] tests:
torch is not installed``), not one a test file and line; ``-v`` lists them
as pytest does.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from nnarray import backend


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


if _installed("jax"):
    import jax

    jax.config.update("jax_enable_x64", True)  # the tests' choice; nnarray never flips it


def _cuda_reason(backend_name: str) -> str | None:
    if backend_name == "cupy":
        if not _installed("cupy"):
            return "cupy is not installed"
        return None if backend._cuda_device_count() > 0 else "no CUDA device visible to CuPy"
    if not _installed("torch"):
        return "torch is not installed"
    import torch

    return None if torch.cuda.is_available() else "torch has no CUDA device"


# (backend, device, why it is skipped or None)
CASES: list[tuple[str, str, str | None]] = [
    ("numpy", "cpu", None),
    *(("array_api_strict", dev, None if _installed("array_api_strict") else
        "array_api_strict is not installed") for dev in ("cpu", "device1", "no_float64")),
    ("torch", "cpu", None if _installed("torch") else "torch is not installed"),
    ("jax", "cpu", None if _installed("jax") else "jax is not installed"),
    ("dask", "cpu", None if _installed("dask") else "dask is not installed"),
    ("cupy", "cuda:0", _cuda_reason("cupy")),
    ("torch", "cuda:0", _cuda_reason("torch")),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend", action="append", default=[],
        help="run only these backends (repeatable): numpy, array_api_strict, torch, jax, "
        "dask, cupy",
    )


def _selected(config: pytest.Config) -> set[str] | None:
    names = list(config.getoption("--backend"))
    env = os.environ.get("NNARRAY_TEST_BACKENDS", "")
    names += [n.strip() for n in env.split(",") if n.strip()]
    for n in names:
        if n not in backend.BACKENDS:
            raise pytest.UsageError(f"--backend must be one of {backend.BACKENDS}, got {n!r}")
    return set(names) or None


@dataclass(frozen=True)
class Case:
    """One point of the matrix, with helpers to make arrays there."""

    backend: str
    device: str
    dtype: str

    @property
    def target(self) -> backend.Target:
        return backend.resolve(self.backend, self.device)

    @property
    def xp(self) -> Any:
        return self.target.xp

    def asarray(self, host: Any) -> Any:
        """A host array copied here, cast to this case's dtype."""
        return self.target.asarray(np.asarray(host, dtype=np.float64), self.dtype)

    def __str__(self) -> str:
        return f"{self.backend}-{self.device}-{self.dtype}"


def _params(config: pytest.Config, dtypes: tuple[str, ...]) -> list[Any]:
    selected = _selected(config)
    out = []
    for name, dev, reason in CASES:
        if selected is not None and name not in selected:
            continue
        for dtype in dtypes:
            if dev == "no_float64" and dtype == "float64":
                continue
            case = Case(name, dev, dtype)
            marks = [pytest.mark.skip(reason=f"{name} on {dev}: {reason}")] if reason else []
            if dev.startswith("cuda"):
                marks.append(pytest.mark.gpu)
            out.append(pytest.param(case, id=str(case), marks=marks))
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``case``: every backend/device in float32 and float64; ``case64``:
    float64 only (gradient checks, exact reproductions)."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", _params(metafunc.config, ("float32", "float64")))
    if "case64" in metafunc.fixturenames:
        metafunc.parametrize("case64", _params(metafunc.config, ("float64",)))


REQUIRE_GPU = "NNARRAY_REQUIRE_GPU"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """With ``NNARRAY_REQUIRE_GPU=1``, a skipped ``gpu`` test fails, saying why it skipped."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail")
            and os.environ.get(REQUIRE_GPU, "") not in ("", "0")
            and item.get_closest_marker("gpu") is not None):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (f"{REQUIRE_GPU}=1: a GPU test may not skip on this machine, but "
                           f"it skipped: {reason}")


# ---------------------------------------------------------------------- #
# Skipped tests: one summary line a missing library, with its count.
# ---------------------------------------------------------------------- #
_MISSING = (re.compile(r"could not import '([\w.]+)'"), re.compile(r"\b([\w.-]+) is not installed"))
_CASE = re.compile(r"^[\w.]+ on [\w:]+: ")  # "torch on cuda:0: ", the matrix's prefix
_fold_skips = False


def skip_group(reason: str) -> str:
    """The line a skip reason is counted under: ``"<library> is not installed"``
    for a missing library however the test says it; else the reason without the
    matrix's ``"<backend> on <device>: "``."""
    reason = reason.removeprefix("Skipped: ")
    for pattern in _MISSING:
        found = pattern.search(reason)
        if found:
            return f"{found[1].partition('.')[0]} is not installed"
    return _CASE.sub("", reason)


def pytest_configure(config: pytest.Config) -> None:
    global _fold_skips
    _fold_skips = config.option.verbose <= 0


def _fold(report: pytest.CollectReport | pytest.TestReport) -> None:
    """A skip's place becomes the folder and its reason its group, so that
    ``-rs`` counts one line a group (the totals are pytest's own)."""
    if _fold_skips and report.skipped and isinstance(report.longrepr, tuple):
        _, _, reason = report.longrepr
        report.longrepr = (os.path.dirname(__file__), None, skip_group(reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _fold(report)


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    _fold(report)
