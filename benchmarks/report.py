"""The Markdown a run writes: the tables, the skipped contenders, where nnarray
stands against its targets, the scaling study and its plot.

The verdicts (:func:`targets`) are pure functions of the rows, so the tests
check them on made-up rows, missed targets included.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import nnarray as nn

from .contenders import (
    CUPY_HAND,
    HAND_NUMPY,
    JAX_FORI,
    NNARRAY_CUPY,
    NNARRAY_CUPY_FUSED,
    NNARRAY_GPU_PATHS,
    NNARRAY_JAX,
    NNARRAY_NUMPY,
    PRODUCTS,
    SKLEARN,
    TORCH_CPU,
    TORCH_EAGER_HAND,
    TORCH_GRAPH,
)
from .workloads import short

HEADER = "# Benchmark results\n\nWritten by `benchmarks/run.py`; newest run first.\n\n"

NUMPY_BASELINE = ("2026-11-26 19:19, commit c490747",
                  {"planar": 1.02, "cat": 0.96, "wide": 1.04, "mnist-like": 1.05})
"""nnarray numpy against hand-written NumPy in the CPU run the NumPy path is held to."""
NUMPY_SLACK = 0.10
"""How far above its baseline ratio the NumPy path may land: the 2-core VM's
run-to-run noise on the small nets."""


@dataclass
class Results:
    """What a run measured: ``rows`` (full batch: workload, contender, seconds,
    memory, floor, gemm_bound), ``mini`` (mini-batch: workload, contender,
    where, epoch_seconds, first_seconds, epochs), ``skipped`` (workload or
    ``*``, contender, reason) and the scaling study."""

    device: str
    dtype: str
    command: str
    rate: float = float("nan")
    n_square: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    mini: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    scaling: list[dict[str, Any]] = field(default_factory=list)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M"))
    seconds: float | None = None
    load: tuple[float, ...] = field(default_factory=lambda: _load())


# ---------------------------------------------------------------------- #
# Targets
# ---------------------------------------------------------------------- #

Goal = tuple[str, str, str, bool]


def ms(seconds: float) -> str:
    """Milliseconds with at least three significant digits (a planar step is
    a few µs)."""
    value = seconds * 1e3
    return f"{value:.3f}" if value >= 0.1 else f"{value:#.3g}"


def targets(rows: list[dict[str, Any]], device: str,
            mini: Iterable[dict[str, Any]] = ()) -> list[Goal]:
    """(target, bound, measured, met) for each target this run's rows can answer."""
    out: list[Goal] = []
    by = {(short(r["workload"]), r["contender"]): r for r in rows}
    order = list(dict.fromkeys(short(r["workload"]) for r in rows))
    if device == "cpu":
        _cpu_targets(rows, by, out)
    else:
        _gpu_targets(by, order, list(mini), out)
    return out


def _goal(out: list[Goal], name: str, bound: str, pairs: list[str], ok: bool) -> None:
    if pairs:
        out.append((name, bound, ", ".join(pairs), ok))


def _ratio(by: dict[tuple[str, str], dict[str, Any]], wl: str, a: str, b: str) -> float | None:
    ra, rb = by.get((wl, a)), by.get((wl, b))
    return ra["seconds"] / rb["seconds"] if ra and rb else None


def _cpu_targets(rows: list[dict[str, Any]], by: dict[tuple[str, str], dict[str, Any]],
                 out: list[Goal]) -> None:
    mine = [r for r in rows if r["contender"] == NNARRAY_NUMPY]
    big = [r for r in mine if r["gemm_bound"]]
    small = [r for r in mine if not r["gemm_bound"]]
    for rs, label, bound in ((big, "GEMM-bound nets", 1.05), (small, "the planar net", 1.15)):
        v = [(short(r["workload"]), _ratio(by, short(r["workload"]), NNARRAY_NUMPY, HAND_NUMPY))
             for r in rs]
        v = [(w, x) for w, x in v if x is not None]
        _goal(out, f"nnarray against hand-written NumPy, {label}", f"≤ {bound}×",
              [f"{w} {x:.2f}×" for w, x in v], all(x <= bound for _, x in v))
    when, base = NUMPY_BASELINE
    v = []
    for r in mine:
        wl = short(r["workload"])
        x = _ratio(by, wl, NNARRAY_NUMPY, HAND_NUMPY)
        if wl in base and x is not None:
            v.append((wl, x, base[wl]))
    _goal(out, f"nnarray numpy keeps its ratios to hand-written NumPy (run of {when})",
          f"≤ that run's ratio + {NUMPY_SLACK:.2f}",
          [f"{w} {x:.2f}× (was {b:.2f}×)" for w, x, b in v],
          all(x <= b + NUMPY_SLACK for w, x, b in v))
    peers = [c for c in (TORCH_CPU, SKLEARN) if any(r["contender"] == c for r in rows)]
    v = []
    for r in mine:
        wl = short(r["workload"])
        xs = [x for c in peers if (x := _ratio(by, wl, NNARRAY_NUMPY, c)) is not None]
        if xs:
            v.append((wl, max(xs)))
    _goal(out, f"{' and '.join(c.split(' ')[0] for c in peers)} CPU, every workload",
          "nnarray ahead (< 1× the faster peer)", [f"{w} {x:.2f}×" for w, x in v],
          all(x < 1 for _, x in v))
    v = [(short(r["workload"]), r["seconds"] / r["floor"],
          _ratio(by, short(r["workload"]), NNARRAY_NUMPY, PRODUCTS)) for r in big]
    _goal(out, "GEMM-bound nets against the GEMM floor", "≤ 1.3×",
          [f"{w} {x:.2f}× (× products alone {p:.2f})" if p else f"{w} {x:.2f}×"
           for w, x, p in v], all(x <= 1.3 for _, x, _ in v))
    v = []
    for r in rows:
        if r["contender"] != NNARRAY_JAX:
            continue
        wl = short(r["workload"])
        bound = 0.5 if not r["gemm_bound"] else 1.0 if wl == "cat" else None
        x = _ratio(by, wl, NNARRAY_JAX, HAND_NUMPY)
        if bound is not None and x is not None:
            v.append((wl, x, bound))
    _goal(out, "nnarray jax (compiled) against hand-written NumPy",
          "planar ≤ 0.5×, cat ≤ 1.0×", [f"{w} {x:.2f}×" for w, x, _ in v],
          all(x <= b for _, x, b in v))


def _fastest(by: dict[tuple[str, str], dict[str, Any]], wl: str) -> dict[str, Any] | None:
    """nnarray's fastest GPU path on a workload (None when none was measured)."""
    rs = [by[(wl, c)] for c in NNARRAY_GPU_PATHS if (wl, c) in by]
    return min(rs, key=lambda r: r["seconds"]) if rs else None


def _path(r: dict[str, Any]) -> str:
    """``cupy``, ``torch`` or ``jax`` from an nnarray contender's name."""
    return r["contender"].split(" ")[1]


HAND_PEERS = (TORCH_GRAPH, JAX_FORI, CUPY_HAND, TORCH_EAGER_HAND)
"""The hand-written GPU peers: "the best hand-written peer" is the fastest of these."""


def _gpu_targets(by: dict[tuple[str, str], dict[str, Any]], order: list[str],
                 mini: list[dict[str, Any]], out: list[Goal]) -> None:
    """The GPU targets: CuPy's CUDA graph (``nnarray cupy``, the default for
    ``device="gpu"``), nnarray's fastest GPU path against the best
    hand-written peer and the step's matrix products, and mini-batches."""
    def per_workload(wls: Iterable[str], measure: Any) -> tuple[list[str], list[bool]]:
        """For each workload of this run among ``wls``: ``measure(wl)`` as
        (text, met), or "not measured" (not met) when it returns None."""
        texts, oks = [], []
        for wl in wls:
            if wl not in order:
                continue
            got = measure(wl)
            texts.append(f"{wl} {got[0]}" if got else f"{wl} not measured")
            oks.append(bool(got and got[1]))
        return texts, oks

    bounds_ms = {"planar": 0.05, "cat": 0.12}

    def cupy_ms(wl: str) -> tuple[str, bool] | None:
        r = by.get((wl, NNARRAY_CUPY))
        return (f"{ms(r['seconds'])} ms", r["seconds"] <= bounds_ms[wl] / 1e3) if r \
            else None

    t, ok = per_workload(bounds_ms, cupy_ms)
    _goal(out, "nnarray cupy (CUDA graph), ms per step", "planar ≤ 0.05 ms, cat ≤ 0.12 ms",
          t, all(ok))

    bounds_x = {"wide": 1.1, "mnist-like": 1.2}

    def cupy_vs_products(wl: str) -> tuple[str, bool] | None:
        x = _ratio(by, wl, NNARRAY_CUPY, PRODUCTS)
        return (f"{x:.2f}×", x <= bounds_x[wl]) if x is not None else None

    t, ok = per_workload(bounds_x, cupy_vs_products)
    _goal(out, "nnarray cupy (CUDA graph) against the step's matrix products alone",
          "wide ≤ 1.1×, mnist-like ≤ 1.2×", t, all(ok))

    def vs_best_peer(wl: str) -> tuple[str, bool] | None:
        f = _fastest(by, wl)
        peers = [by[(wl, c)] for c in HAND_PEERS if (wl, c) in by]
        if not (f and peers):
            return None
        best = min(peers, key=lambda r: r["seconds"])
        x = f["seconds"] / best["seconds"]
        return f"{x:.2f}× ({_path(f)} against {best['contender']})", x <= 1.1

    t, ok = per_workload(("planar", "cat", "wide", "mnist-like"), vs_best_peer)
    _goal(out, "nnarray's fastest GPU path against the best hand-written peer",
          "≤ 1.1× on planar, cat, wide, mnist-like", t, all(ok))

    def planar_us(wl: str) -> tuple[str, bool] | None:
        f = _fastest(by, wl)
        if not f:
            return None
        stretch = " (the 20 µs stretch met)" if f["seconds"] <= 20e-6 else ""
        return f"{f['seconds'] * 1e6:.1f} µs ({_path(f)}){stretch}", f["seconds"] <= 30e-6

    t, ok = per_workload(("planar",), planar_us)
    _goal(out, "the planar step, nnarray's fastest GPU path", "≤ 30 µs (stretch: 20 µs)", t,
          all(ok))

    fused = by.get(("planar", NNARRAY_CUPY_FUSED))
    if fused is not None:  # the opt-in kernels: the default if they meet this, else deleted
        graph = by.get(("planar", NNARRAY_CUPY))
        without = f" (without them {ms(graph['seconds'])} ms)" if graph else ""
        _goal(out, "the planar step in CuPy's graph with the fused kernels (NNARRAY_FUSE=1)",
              "≤ 0.03 ms: they become the default; else they go",
              [f"planar {ms(fused['seconds'])} ms{without}"], fused["seconds"] <= 30e-6)

    if "big" in order:
        texts, oks = [], []
        for c in NNARRAY_GPU_PATHS:
            x = _ratio(by, "big", c, PRODUCTS)
            texts.append(f"{c.split(' ')[1]} {x:.2f}×" if x is not None
                         else f"{c.split(' ')[1]} not measured")
            oks.append(x is not None and x <= 1.05)
        _goal(out, "big, each of nnarray's GPU paths against the step's matrix products "
              "alone", "≤ 1.05×", texts, all(oks))

    texts, oks = [], []
    for wl in dict.fromkeys(short(r["workload"]) for r in mini):
        cpu = next((r for r in mini if short(r["workload"]) == wl
                    and r["contender"] == NNARRAY_NUMPY and r["where"] == "cpu"), None)
        gpu = [r for r in mini if short(r["workload"]) == wl and r["where"] != "cpu"
               and r["contender"] in NNARRAY_GPU_PATHS]
        if cpu and gpu:
            f = min(gpu, key=lambda r: r["epoch_seconds"])
            x = f["epoch_seconds"] / cpu["epoch_seconds"]
            texts.append(f"{wl} {x:.2f}× ({_path(f)} {f['epoch_seconds'] * 1e3:.1f} ms, "
                         f"CPU {cpu['epoch_seconds'] * 1e3:.1f} ms)")
            oks.append(x <= 0.5)
        else:
            texts.append(f"{wl} not measured")
            oks.append(False)
    _goal(out, "mini-batch epoch, nnarray's fastest GPU path against nnarray numpy on the CPU",
          "≤ 0.5×", texts, all(oks))


# ---------------------------------------------------------------------- #
# Markdown
# ---------------------------------------------------------------------- #

def commit(root: Path | None = None) -> str:
    """The commit of the tree the benchmark measures (``root``: this project's
    folder). ``NNARRAY_COMMIT`` wins when set (``scripts/gpu-check.sh`` passes it
    on; a copy of the tree names its commit so); else git's, only when ``root``
    is the top of its repository — marked when nnarray/ has uncommitted
    changes — since a copy inside another repository's work tree is not that
    repository's commit; else ``unknown``."""
    given = os.environ.get("NNARRAY_COMMIT", "").strip()
    if given:
        return given
    root = Path(__file__).resolve().parents[1] if root is None else root

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, text=True, capture_output=True,
                              check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return "unknown"
        sha = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "nnarray")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" with uncommitted changes in nnarray/" if dirty else "")


def _versions() -> str:
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "nnarray": nn.__version__}
    for mod in ("torch", "jax", "dask", "sklearn", "cupy", "array_api_compat"):
        if importlib.util.find_spec(mod):
            versions[mod] = getattr(__import__(mod), "__version__", "?")
    return ", ".join(f"{k} {v}" for k, v in versions.items())


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")


def _thread_settings() -> str:
    """The environment variables that set the libraries' CPU threads, where set."""
    return ", ".join(f"{v}={os.environ[v]}" for v in THREAD_VARIABLES if os.environ.get(v))


def _load() -> tuple[float, ...]:
    """The 1-minute load average now (empty where the system has none)."""
    return (os.getloadavg()[0],) if hasattr(os, "getloadavg") else ()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _gpu_name() -> str:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception:
        try:
            import torch

            return torch.cuda.get_device_name(0)
        except Exception:
            return "unknown"


def _loads(res: Results) -> str:
    """The load average at the start and at the end of the run: other work on
    the machine shows there."""
    now = _load()
    if not res.load or not now:
        return ""
    return f" (load average {res.load[0]:.1f} at the start, {now[0]:.1f} at the end)"


def _table(res: Results) -> list[str]:
    lines = ["| workload | contender | ms / iteration | × hand-written NumPy | × GEMM floor "
             "| × products alone | peak memory × NumPy |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    base = {r["workload"]: r for r in res.rows if r["contender"] == HAND_NUMPY}
    products = {r["workload"]: r["seconds"] for r in res.rows if r["contender"] == PRODUCTS}
    for r in res.rows:
        b = base.get(r["workload"])
        mem = (f"{r['memory'] / b['memory']:.2f}" if b and r["memory"] and b["memory"] else "")
        prod = (f"{r['seconds'] / products[r['workload']]:.2f}" if r["workload"] in products
                else "")
        hand = f"{r['seconds'] / b['seconds']:.2f}" if b else ""
        lines.append(f"| {r['workload']} | {r['contender']} | {ms(r['seconds'])} | "
                     f"{hand} | {r['seconds'] / r['floor']:.2f} | {prod} | {mem} |")
    return lines


def _mini_table(res: Results) -> list[str]:
    if not res.mini:
        return []
    epochs = res.mini[0]["epochs"]
    lines = ["", f"Mini-batch training: ms per epoch (a warm fit of {epochs} epochs / {epochs}) "
             f"and the first fit of {epochs} epochs in this process, compiles and captures "
             "included.", "",
             "| workload | contender | device | ms / epoch | first fit, s | "
             "× nnarray numpy on the CPU |", "| --- | --- | --- | ---: | ---: | ---: |"]
    cpu = {r["workload"]: r for r in res.mini
           if r["contender"] == NNARRAY_NUMPY and r["where"] == "cpu"}
    for r in res.mini:
        b = cpu.get(r["workload"])
        x = f"{r['epoch_seconds'] / b['epoch_seconds']:.2f}" if b else ""
        lines.append(f"| {r['workload']} | {r['contender']} | {r['where']} | "
                     f"{r['epoch_seconds'] * 1e3:.2f} | {r['first_seconds']:.2f} | {x} |")
    return lines


def _paths(res: Results) -> list[str]:
    if not res.paths:
        return []
    return ["", "How nnarray ran (`nnarray.engines.describe`): "
            + "; ".join(f"{name}: {path}" for name, path in res.paths.items()) + "."]


def _skipped(res: Results) -> list[str]:
    if not res.skipped:
        return []
    grouped: dict[tuple[str, str], list[str]] = {}
    for wl, name, reason in res.skipped:
        grouped.setdefault((name, reason), []).append(short(wl) if wl != "*" else "*")
    lines = ["", "Not timed in this run:", ""]
    for (name, reason), wls in grouped.items():
        where = "" if "*" in wls else f" ({', '.join(dict.fromkeys(wls))})"
        lines.append(f"- {name}{where}: {reason}")
    return lines


def markdown(res: Results, complete: bool = True, plot: str | None = None) -> str:
    """The run's block of RESULTS.md."""
    rate = (f"{res.rate / 1e9:.1f} GFLOP/s" if res.rate == res.rate else "not measured")
    lines = [f"## {res.device} {res.dtype} — {res.started}", "",
             f"Command: `{res.command}`", "",
             f"Commit: {commit()}" + (f"; the run took {res.seconds:.0f} s"
                                      if res.seconds is not None else ""), ""]
    if not complete:
        lines += ["(partial: the run stopped or is still going; the rows so far)", ""]
    lines += [f"Machine: {platform.machine()}, {platform.processor() or platform.system()}, "
              f"{_cores()} cores{_loads(res)}; matrix-product rate (n×n by n×2n, "
              f"n={res.n_square}, timed among the contenders, median over workloads) {rate} "
              f"({res.dtype})"
              + (f"; GPU {_gpu_name()}" if res.device != "cpu" else ""), "",
              f"Versions: {_versions()}", ""]
    if threads := _thread_settings():
        lines += [f"Thread settings: {threads}", ""]
    lines += _table(res) + _mini_table(res) + _paths(res) + _skipped(res)
    goals = targets(res.rows, res.device, res.mini)
    if goals:
        lines += ["", "Where nnarray stands against its targets (this run):", "",
                  "| target | bound | measured | met |", "| --- | --- | --- | --- |"]
        lines += [f"| {t} | {b} | {m} | {'yes' if ok else 'no'} |" for t, b, m, ok in goals]
    if res.scaling:
        lines += ["", "Scaling (nnarray, same device): time per iteration against the GEMM "
                  "floor and the step's matrix products timed alone.", "",
                  "| axis | value | ms / iteration | floor ms | × floor | products ms "
                  "| × products |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for s in res.scaling:
            lines.append(f"| {s['axis']} | {s['x']} | {s['seconds'] * 1e3:.3f} | "
                         f"{s['floor'] * 1e3:.3f} | {s['seconds'] / s['floor']:.2f} | "
                         f"{s['products'] * 1e3:.3f} | {s['seconds'] / s['products']:.2f} |")
        if plot:
            lines += ["", f"![scaling]({plot})"]
    return "\n".join(lines) + "\n"


class Writer:
    """Writes the run's block above the file's older runs, again after each
    workload, so a run stopped midway leaves its rows so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        old = path.read_text() if path.exists() else ""
        self.old = old[len(HEADER):] if old.startswith(HEADER) else old

    def write(self, res: Results, complete: bool = True) -> None:
        plot = None
        if complete and res.scaling:
            name = f"scaling-{'cpu' if res.device == 'cpu' else 'gpu'}.png"
            if plot_scaling(self.path.with_name(name), res.scaling):
                plot = name
        block = markdown(res, complete, plot)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(HEADER + block + ("\n" + self.old if self.old else ""))
        tmp.replace(self.path)


def plot_scaling(path: Path, scaling: list[dict[str, Any]]) -> bool:
    """The scaling study as a PNG beside the results (False without matplotlib)."""
    if importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, axis in zip(axes, ("m", "width"), strict=True):
        pts = [s for s in scaling if s["axis"] == axis]
        xs = [s["x"] for s in pts]
        ax.loglog(xs, [s["seconds"] * 1e3 for s in pts], "o-", label="nnarray")
        ax.loglog(xs, [s["products"] * 1e3 for s in pts], "s:", label="matrix products alone")
        ax.loglog(xs, [s["floor"] * 1e3 for s in pts], "k--", label="GEMM floor")
        ax.set_xlabel(axis)
        ax.set_ylabel("ms / iteration")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
