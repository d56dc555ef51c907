"""MkDocs hooks: tutorial pages generated from ``examples/`` and the benchmark
plots copied in, so the site never drifts from the code."""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]  # scripts/ is beside docs/
PLOTS = ROOT / "docs" / "assets" / "plots"


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


def on_files(files, config):
    for example in sorted((ROOT / "examples").glob("*.py")):
        if example.name.startswith("_") or example.stem == "quickstart":
            continue
        files.append(File.generated(config, f"tutorials/{example.stem}.md",
                                    content=tutorial(example)))
    for png in sorted((ROOT / "benchmarks").glob("*.png")):
        files.append(File.generated(config, f"benchmarks/{png.name}",
                                    abs_src_path=str(png)))
    return files
