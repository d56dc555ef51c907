"""MkDocs hooks: tutorial pages generated from ``examples/``, the notebooks of
``examples/notebooks/`` and the benchmark plots copied in, so the site never
drifts from the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]  # scripts/ is beside docs/
PLOTS = ROOT / "docs" / "assets" / "plots"
NOTEBOOKS = ROOT / "examples" / "notebooks"

# What nbconvert puts into each notebook page besides the notebook: its own MathJax
# (the site loads one for every page, javascripts/mathjax.js) and a loader of
# Mermaid from a CDN (the notebooks draw no diagrams).
_NOTEBOOK_EXTRAS = [
    re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S),
    re.compile(r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", '
               r'async \(\) => \{\s*const diagrams = document\.querySelectorAll\('
               r'"\.jp-Mermaid.*?</script>', re.S),
]


def tutorial(example: Path) -> str:
    """A page: the example's docstring, how to run it, its plots and its source."""
    doc = ast.get_docstring(ast.parse(example.read_text())) or example.stem
    first, _, body = doc.partition("\n\n")
    title = " ".join(first.split())  # the first paragraph, however it was wrapped
    plots = sorted(PLOTS.glob(f"{example.stem}_*.png"))
    lines = [f"# {title}", "", body.strip(), "",
             "Run it (every example takes `--device cpu|gpu|auto`, `--backend`, `--dtype`, "
             "`--iterations` and `--plots DIR`):", "",
             f"```bash\npython examples/{example.name} --device auto\n```", ""]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}](../assets/plots/{p.name})" for p in plots]
        lines.append("")
    lines += ["## The code", "", "```python", f'--8<-- "examples/{example.name}"', "```", ""]
    return "\n".join(lines)


@event_priority(100)  # first: mkdocs-jupyter's on_files then makes pages of the notebooks
def on_files(files, config):
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):  # pages notebooks/NAME/
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(NOTEBOOKS.parent),
                          dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    for example in sorted((ROOT / "examples").glob("*.py")):
        if example.name.startswith("_") or example.stem == "quickstart":
            continue
        files.append(File.generated(config, f"tutorials/{example.stem}.md",
                                    content=tutorial(example)))
    for png in sorted((ROOT / "benchmarks").glob("*.png")):
        files.append(File.generated(config, f"benchmarks/{png.name}",
                                    abs_src_path=str(png)))
    return files


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    for pattern in _NOTEBOOK_EXTRAS:
        html, found = pattern.subn("", html)
        if found != 1:
            raise ValueError(f"{page.file.src_uri}: expected one {pattern.pattern[:40]!r}..., "
                             f"found {found} (has mkdocs-jupyter's page changed?)")
    return html
