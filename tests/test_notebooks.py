"""The notebooks in examples/notebooks: each runs from top to bottom in a fresh
kernel (quick mode: few iterations), and each is committed as a full run left it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
CELL_TIMEOUT = 300  # seconds for one cell; a quick run takes a few seconds a notebook

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need nbformat "
                               "(pip install -e '.[test]')")


PYPROJECT = (ROOT / "pyproject.toml").read_text()


def _source_url() -> str:
    return re.search(r'^Source = "([^"]+)"$', PYPROJECT, re.M).group(1)


def _extras() -> set[str]:
    section = PYPROJECT.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([a-z0-9-]+) = \[", section, re.M))


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cell) -> str:
    """What a code cell printed (streams and plain-text results)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "text/plain" in out.get("data", {}):
            parts.append(out.data["text/plain"])
    return "".join(parts)


def test_there_is_a_notebook_for_each_part_of_the_lecture():
    assert IDS == ["01_logistic_regression_cat", "02_planar_one_hidden_layer",
                   "03_deep_building_blocks", "04_deep_cat_classifier", "05_cpu_vs_gpu"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_opens_with_a_title_and_the_setup_cell(path):
    nb = _read(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert f"/blob/main/examples/notebooks/{path.name}" in nb.cells[0].source  # Colab link
    setup = _code_cells(nb)[0].source
    # installs on Colab only, from this project's repository (never a bare `nnarray`)
    assert 'if "google.colab" in sys.modules:' in setup
    url = _source_url()
    assert f'@ git+{url}"' in setup
    installs = re.findall(r"pip.*install", setup)
    assert len(installs) == 1, installs
    extras = set(re.findall(r'"([a-z0-9,]+)" if shutil.which\("nvidia-smi"\) else "([a-z0-9,]+)"',
                            setup)[0])
    assert {e for group in extras for e in group.split(",")} <= _extras()
    for needed in ('os.environ.get("NNARRAY_NOTEBOOK_QUICK") == "1"', 'nn.device("auto")',
                   "%matplotlib inline", "print("):
        assert needed in setup, needed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_with_the_outputs_of_a_full_run(path):
    assert path.stat().st_size < 1_000_000, f"{path.name} is {path.stat().st_size} bytes"
    cells = _code_cells(_read(path))
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: run it top to bottom (jupyter nbconvert --to notebook --execute "
        "--inplace) before committing")
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    first = _text(cells[0])
    assert first.startswith("nnarray ") and "quick run" not in first, first


def test_the_device_notebook_says_where_its_outputs_come_from():
    nb = _read(ROOT / "examples" / "notebooks" / "05_cpu_vs_gpu.ipynb")
    intro = nb.cells[0].source
    assert "outputs" in intro and "CPU-only machine" in intro
    printed = "".join(_text(c) for c in _code_cells(nb))
    assert "nn.available_devices() = ['cpu']" in printed  # as the text says
    assert printed.count("GPU cell skipped: no GPU") == 3


def test_every_notebook_is_in_the_docs_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in nav, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path, tmp_path):
    """A fresh kernel runs every cell in quick mode; a cell that raises fails the
    test. The notebook is run in memory: the committed file is left as it is."""
    nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbclient "
                                   "(pip install -e '.[test]')")
    pytest.importorskip("ipykernel", reason="the notebook tests need ipykernel "
                        "(pip install -e '.[test]')")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no 'python3' Jupyter kernel (pip install ipykernel)")
    before = path.read_bytes()
    nb = _read(path)
    env = dict(os.environ, NNARRAY_NOTEBOOK_QUICK="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(
                   p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)  # raises CellExecutionError, naming the cell, when one fails
    assert "quick run" in _text(_code_cells(nb)[0])
    assert path.read_bytes() == before
    assert not list(tmp_path.iterdir()), "a notebook wrote files"

