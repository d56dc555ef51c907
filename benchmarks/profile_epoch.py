"""Where a mini-batch epoch's time goes, path by path: the digits-like fit of
the benchmark (Adam, float32), warm, timed and then profiled::

    python benchmarks/profile_epoch.py --device gpu        # cupy, torch, jax on cuda:0
    python benchmarks/profile_epoch.py --backend jax       # one backend, on the CPU

For each backend: milliseconds an epoch (the median of warm fits), then the
host's Python functions that take the most of an epoch (``cProfile``, own
time), and on PyTorch the operations and CUDA calls that take the most
(``torch.profiler``: graph launches, kernel launches, copies and syncs are
rows of their own on a GPU). The GPU check runs it before the benchmark.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nnarray as nn
from benchmarks.contenders import make_sync, nnarray_minibatch
from benchmarks.workloads import MiniBatch, minibatch_problem, minibatch_workloads


def epoch_fit(w: MiniBatch, backend: str, device: str) -> Callable[[], None]:
    """The benchmark's warm ``fit`` of ``w`` on ``backend`` and ``device``
    (``contenders.nnarray_minibatch``), waiting for the device at its end."""
    fit_only = nnarray_minibatch(backend, device)(w, *minibatch_problem(w, "float32"))
    sync = make_sync(device)

    def fit() -> None:
        fit_only()
        sync()

    fit()
    fit()
    return fit


def host_profile(fit: Callable[[], None], epochs: int, rows: int) -> str:
    """The functions with the most own time, in µs an epoch."""
    profile = cProfile.Profile()
    profile.enable()
    fit()
    profile.disable()
    stats = pstats.Stats(profile)
    lines = ["| µs an epoch (own) | calls an epoch | function |", "| ---: | ---: | --- |"]
    entries = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    for (path, line, name), (_, calls, own, _, _) in entries[:rows]:
        where = f"{Path(path).name}:{line}({name})" if line else name
        lines.append(f"| {own / epochs * 1e6:.0f} | {calls / epochs:.1f} | `{where}` |")
    return "\n".join(lines)


def torch_profile(fit: Callable[[], None], cuda: bool, rows: int) -> str:
    """``torch.profiler``'s table of a fit, by self time (CUDA time on a GPU)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        fit()
    out = io.StringIO()
    for key in (["self_cuda_time_total"] if cuda else []) + ["self_cpu_time_total"]:
        out.write(f"by {key}:\n")
        out.write(prof.key_averages().table(sort_by=key, row_limit=rows))
        out.write("\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--backend", action="append",
                        help="a backend (repeatable); default: numpy, torch and jax on the "
                             "CPU, cupy, torch and jax on the GPU")
    parser.add_argument("--tiny", action="store_true", help="the tiny workload (tests)")
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args(argv)
    w = minibatch_workloads(quick=False, tiny=args.tiny)[0]
    device = "cuda:0" if args.device == "gpu" else "cpu"
    backends = args.backend or (["cupy", "torch", "jax"] if args.device == "gpu"
                                else ["numpy", "torch", "jax"])
    print(f"# {w.name}, {w.epochs} epochs a fit, float32, {device}")
    for backend in backends:
        try:
            fit = epoch_fit(w, backend, device)
        except (nn.backend.BackendUnavailableError, ImportError, RuntimeError) as exc:
            print(f"\n## {backend}: not run ({type(exc).__name__}: {exc})")
            continue
        path = nn.engines.describe(backend, nn.backend.resolve(backend, device).device)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            fit()
            times.append((time.perf_counter() - start) / w.epochs)
        print(f"\n## {backend}: {np.median(times) * 1e3:.3f} ms an epoch ({path})\n")
        print(host_profile(fit, w.epochs, args.rows))
        if backend == "torch":
            print()
            print(torch_profile(fit, device != "cpu", args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
