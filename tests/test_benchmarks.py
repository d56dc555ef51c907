"""The benchmark runs in a tiny mode, so it cannot rot. No timing is asserted."""

from __future__ import annotations

import importlib.util
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
    assert "| tiny [3,4,1] tanh m=16 | matrix products alone |" in text
    assert "| nnarray against hand-written NumPy, the planar net | ≤ 1.3× | tiny " in text


def _bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _row(workload, contender, ms, floor_ms=1.0, gemm_bound=True):
    return {"workload": workload, "contender": contender, "seconds": ms / 1e3,
            "floor": floor_ms / 1e3, "gemm_bound": gemm_bound, "memory": None}


def test_targets_table_reads_the_rows():
    bench = _bench()
    rows = [
        _row("planar [2,4,1]", "hand-written NumPy", 0.10, 1e-4, False),
        _row("planar [2,4,1]", "nnarray numpy", 0.12, 1e-4, False),
        _row("planar [2,4,1]", "PyTorch eager (autograd + SGD)", 0.6, 1e-4, False),
        _row("planar [2,4,1]", "scikit-learn MLPClassifier", 0.4, 1e-4, False),
        _row("wide [1024]", "hand-written NumPy", 100.0, 80.0),
        _row("wide [1024]", bench.PRODUCTS, 95.0, 80.0),
        _row("wide [1024]", "nnarray numpy", 110.0, 80.0),
        _row("wide [1024]", "PyTorch eager (autograd + SGD)", 105.0, 80.0),
        _row("wide [1024]", "scikit-learn MLPClassifier", 120.0, 80.0),
    ]
    got = {t: (m, ok) for t, _, m, ok in bench.targets(rows, "cpu")}
    assert got["nnarray against hand-written NumPy, GEMM-bound nets"] == ("wide 1.10×", False)
    assert got["nnarray against hand-written NumPy, the planar net"] == ("planar 1.20×", True)
    # ahead of the faster peer: 0.12/0.4 on planar, 110/105 on wide
    assert got["PyTorch and scikit-learn CPU, every workload"] == (
        "planar 0.30×, wide 1.05×", False)
    assert got["GEMM-bound nets against the GEMM floor"] == (
        "wide 1.38× (× products alone 1.16)", False)

    gpu = [
        _row("planar [2,4,1]", "nnarray cupy", 0.025, 1e-6, False),
        _row("planar [2,4,1]", "PyTorch CUDA eager (autograd + SGD)", 0.1, 1e-6, False),
        _row("wide [1024]", "nnarray cupy", 2.0, 1.5),
        _row("wide [1024]", "PyTorch CUDA eager (autograd + SGD)", 1.8, 1.5),
    ]
    got = {t: (m, ok) for t, _, m, ok in bench.targets(gpu, "cuda:0")}
    assert got["PyTorch CUDA eager, every workload"] == ("planar 0.25×, wide 1.11×", False)
    assert got["the wide net's share of the card's matrix-product rate"] == ("wide 75%", True)
    assert got["the planar step"] == ("planar 25.0 µs", True)
