"""The benchmark runs in a tiny mode, so it cannot rot. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_tiny_mode_writes_the_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| tiny [3,4,1] tanh m=16 | hand-written NumPy |" in text
    assert "| tiny [3,4,1] tanh m=16 | nnarray numpy |" in text
    assert "Command: `python benchmarks/run.py --device cpu --dtype float32 --tiny`" in text
