"""The write-once rule: only the backend and engines packages name an array
library; and one direction of imports, held by import-linter's contracts."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nnarray

PACKAGE = Path(nnarray.__file__).parent
LIBRARIES = {"numpy", "cupy", "torch", "jax", "dask", "array_api_compat", "array_api_strict"}
MATH = ["activations", "losses", "propagation", "optimizers", "step", "network", "train",
        "fitting", "inputs", "metrics", "__init__"]
ROOT = PACKAGE.parent
BOUNDARY = (PACKAGE / "backend", PACKAGE / "engines")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_math_modules_import_no_array_library():
    offenders = {m: imported_modules(PACKAGE / f"{m}.py") & LIBRARIES for m in MATH}
    assert not any(offenders.values()), offenders


def test_the_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import torch.nn\n    from numpy import ones\n")
    assert imported_modules(bad) == {"torch", "numpy"}


def test_only_backend_and_engines_import_array_api_compat():
    users = [p for p in PACKAGE.rglob("*.py") if "array_api_compat" in imported_modules(p)]
    assert users, "the backend package should import array_api_compat"
    assert all(p.parent in BOUNDARY for p in users), users


def test_the_library_ships_no_self_check():
    """Self-checks and test helpers live in tests/ and scripts/, not in nnarray/."""
    names = {"self_check", "agreement"}
    for path in PACKAGE.rglob("*.py"):
        defined = {n.name for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        assert not defined & names, f"{path.relative_to(ROOT)} defines {defined & names}"


def test_network_class_reads_as_the_lecture_model():
    tree = ast.parse((PACKAGE / "network.py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Network"]
    assert cls.end_lineno - cls.lineno + 1 <= 300


def lint_imports(tree: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the copy of the package under ``tree``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p))
    script = Path(sys.executable).with_name("lint-imports")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--config", str(config), "--no-cache"], cwd=tree,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def package_copy(tmp_path):
    """A copy of the package and of pyproject.toml's contracts, to plant imports in."""
    pytest.importorskip("importlinter", reason="import-linter is not installed (dev extra)")
    shutil.copytree(PACKAGE, tmp_path / "nnarray",
                    ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_import_contracts(package_copy):
    out = lint_imports(package_copy, package_copy / "pyproject.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, planted, broken", [
    # the boundary learns the math: an upward import
    ("backend/targets.py", "from .. import propagation  # noqa\n", "Layers"),
    # the math learns its engines
    ("optimizers.py", "from . import engines  # noqa\n", "Layers"),
    # two engines modules importing each other
    ("engines/chunks.py", "from . import runner  # noqa\n", "No import cycles"),
    # the zip reading learns the model file's format
    ("io/zips.py", "from . import model  # noqa\n", "Files"),
])
def test_a_planted_import_breaks_a_contract(package_copy, module, planted, broken):
    path = package_copy / "nnarray" / module
    path.write_text(path.read_text() + planted)
    out = lint_imports(package_copy, package_copy / "pyproject.toml")
    assert out.returncode != 0
    assert broken in out.stdout and "BROKEN" in out.stdout, out.stdout


def test_import_needs_only_numpy_and_array_api_compat():
    code = (
        "import sys, nnarray\n"
        "net = nnarray.Network([2, 3, 1])\n"
        "print(sorted(m for m in ('torch','jax','dask','cupy','array_api_strict',"
        "'matplotlib','sklearn','ndonnx','onnx','onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_in_place_updates_in_the_math():
    for m in ["activations", "losses", "propagation", "optimizers"]:
        for node in ast.walk(ast.parse((PACKAGE / f"{m}.py").read_text())):
            assert not isinstance(node, ast.AugAssign), f"{m}.py:{node.lineno} updates in place"
            targets = node.targets if isinstance(node, ast.Assign) else []
            for t in targets:
                for sub in ast.walk(t):
                    # only the gradient dict is filled by key; arrays never are
                    if isinstance(sub, ast.Subscript):
                        assert ast.unparse(sub.value) == "grads", f"{m}.py:{node.lineno}"
