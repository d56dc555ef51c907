"""The write-once rule: only the backend package names an array library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nnarray

PACKAGE = Path(nnarray.__file__).parent
LIBRARIES = {"numpy", "cupy", "torch", "jax", "dask", "array_api_compat", "array_api_strict"}
MATH = ["activations", "losses", "propagation", "optimizers", "network", "train", "__init__"]


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


def test_only_backend_imports_array_api_compat():
    users = [p for p in PACKAGE.rglob("*.py") if "array_api_compat" in imported_modules(p)]
    assert users, "the backend package should import array_api_compat"
    assert all(p.parent == PACKAGE / "backend" for p in users), users


def test_import_needs_only_numpy_and_array_api_compat():
    code = (
        "import sys, nnarray\n"
        "net = nnarray.Network([2, 3, 1])\n"
        "print(sorted(m for m in ('torch','jax','dask','cupy','array_api_strict',"
        "'matplotlib','sklearn') if m in sys.modules))"
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
