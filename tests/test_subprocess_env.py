"""Subprocesses started by the tests keep the parent's ``PYTHONPATH``.

A child that gets ``PYTHONPATH=<this tree>`` alone loses whatever the parent
found through it: dependencies installed with ``pip install --target DIR``
and put on ``PYTHONPATH`` (as ``scripts/gpu-check.sh`` does) are then missing
in the child. So every ``PYTHONPATH`` a test sets must extend the parent's —
``os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)``,
empty parts dropped (an empty entry puts the child's working directory on its
path) — and an ``env=`` built from nothing must name ``PYTHONPATH``.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _is_pythonpath(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == "PYTHONPATH"


def _reads_parent(node: ast.AST) -> bool:
    """True when ``node`` reads the parent's value: ``os.environ.get("PYTHONPATH", ...)``,
    ``os.getenv("PYTHONPATH", ...)`` or ``os.environ["PYTHONPATH"]``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.args:
            getter = (sub.func.attr == "get" and _is_environ(sub.func.value)) or (
                sub.func.attr == "getenv")
            if getter and _is_pythonpath(sub.args[0]):
                return True
        if isinstance(sub, ast.Subscript) and _is_environ(sub.value) and _is_pythonpath(
                sub.slice):
            return True
    return False


def _extends(node: ast.AST) -> bool:
    """True when the parent's value is read inside a comprehension that drops
    empty parts (``... for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p``)."""
    return any(isinstance(sub, ast.comprehension) and sub.ifs and _reads_parent(sub.iter)
               for sub in ast.walk(node))


def _from_environ(node: ast.AST) -> bool:
    """True for an environment built on the parent's: ``dict(os.environ, ...)``,
    ``{**os.environ, ...}``, ``os.environ.copy()``."""
    if isinstance(node, ast.Dict):
        return any(k is None and _is_environ(v) for k, v in zip(node.keys, node.values,
                                                                strict=True))
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "dict":
            return any(_is_environ(a) for a in node.args)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "copy":
            return _is_environ(node.func.value)
    return _is_environ(node)


def _names_pythonpath(node: ast.AST) -> bool:
    if isinstance(node, ast.Dict):
        return any(_is_pythonpath(k) for k in node.keys)
    if isinstance(node, ast.Call):
        return any(k.arg == "PYTHONPATH" for k in node.keywords)
    return False


def problems(source: str, filename: str = "<source>") -> list[str]:
    """Each place in ``source`` where a subprocess's ``PYTHONPATH`` replaces
    the parent's instead of extending it, as ``file:line: what``."""
    tree = ast.parse(source, filename)
    scope_of: dict[ast.AST, ast.AST] = {}  # each node's innermost function (or the module)

    def mark(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            scope_of[child] = scope
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef |
                                        ast.Lambda) else scope
            mark(child, inner)

    mark(tree, tree)
    assigned: dict[tuple[ast.AST, str], list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault((scope_of[node], target.id), []).append(node.value)

    def values(node: ast.AST, depth: int = 0) -> list[ast.AST]:
        """``node``, or what the name it is was assigned in its own function
        (else at the module's level)."""
        if isinstance(node, ast.Name) and depth < 5:
            for scope in (scope_of.get(node, tree), tree):
                if (scope, node.id) in assigned:
                    return [v for a in assigned[scope, node.id] for v in values(a, depth + 1)]
        return [node]

    found = []

    def check(value: ast.AST, line: int) -> None:
        for v in values(value):
            if not _extends(v):
                found.append(f"{filename}:{line}: PYTHONPATH = {ast.unparse(v)} does not "
                             "extend the parent's os.environ['PYTHONPATH'] (empty parts "
                             "dropped)")

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _is_pythonpath(key):
                    check(value, value.lineno)
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "PYTHONPATH":
                    check(kw.value, kw.value.lineno)
                elif kw.arg == "env":
                    for v in values(kw.value):
                        built = isinstance(v, ast.Dict) or (
                            isinstance(v, ast.Call) and isinstance(v.func, ast.Name)
                            and v.func.id == "dict")
                        if built and not (_from_environ(v) or _names_pythonpath(v)):
                            found.append(f"{filename}:{kw.value.lineno}: env={ast.unparse(v)} "
                                         "drops the parent's PYTHONPATH")
            if (isinstance(node.func, ast.Attribute) and node.func.attr in ("setenv", "putenv")
                    and len(node.args) >= 2 and _is_pythonpath(node.args[0])):
                check(node.args[1], node.lineno)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and _is_pythonpath(target.slice):
                    check(node.value, node.lineno)
    return found


def test_no_test_replaces_the_parents_pythonpath():
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 10
    found = [p for f in files for p in problems(f.read_text(), str(f.relative_to(TESTS)))]
    assert not found, "\n".join(found)


REPLACING = {
    "dict": 'env = dict(os.environ, PYTHONPATH=str(ROOT))\nrun(env=env)',
    "literal": 'env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}',
    "item": 'env = dict(os.environ)\nenv["PYTHONPATH"] = str(ROOT)',
    "setenv": 'monkeypatch.setenv("PYTHONPATH", str(ROOT))',
    "empty part kept": 'env = dict(os.environ, PYTHONPATH=os.pathsep.join('
                       '[str(ROOT), os.environ.get("PYTHONPATH", "")]))',
    "named": 'path = str(ROOT)\nrun(env={"PATH": "", "PYTHONPATH": path})',
    "dropped": 'subprocess.run(cmd, env={"PATH": "", "MPLBACKEND": "Agg"})',
}

EXTENDING = {
    "named": '''
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        subprocess.run(cmd, env={"PATH": "", "PYTHONPATH": path})''',
    "inline": '''
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)}''',
    "inherited": 'subprocess.run(cmd, env=dict(os.environ, NNARRAY_DEVICE="cpu"))',
    "another function's name": '''
        def run(cmd):
            path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
            subprocess.run(cmd, env={"PATH": "", "PYTHONPATH": path})

        def test_it(tmp_path):
            path = tmp_path / "model.npz"
            run([str(path)])''',
}


@pytest.mark.parametrize("name", sorted(REPLACING))
def test_the_check_finds_a_replaced_pythonpath(name):
    assert len(problems(REPLACING[name])) == 1


@pytest.mark.parametrize("name", sorted(EXTENDING))
def test_the_check_accepts_an_extended_pythonpath(name):
    assert problems(textwrap.dedent(EXTENDING[name])) == []
