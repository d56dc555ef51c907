"""Seconds per training iteration: nnarray against the alternatives, in one process.

Full batch, plain gradient descent, the same data and initial parameters for
every contender. Each figure is the median over repeats of (time of k
iterations) / k, reported as a ratio to the lecture's formulas hand-written in
plain NumPy. The repeats are interleaved (every contender once per round, the
order rotated each round), so a machine that slows down mid-run slows all of
them alike. Two floors: the GEMM floor (the step's matrix-product FLOPs at the
rate of a large square product) and the step's own matrix products timed alone
at their real shapes. On a GPU every clock read follows a device synchronize.
The run ends with a table of where nnarray stands against each target of the
performance issue.

    python benchmarks/run.py                 # CPU, float32, writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick         # fewer repeats (under 3 minutes on 2 cores)
    python benchmarks/run.py --device gpu    # CuPy and PyTorch CUDA
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import nnarray as nn

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Workload:
    name: str
    dims: tuple[int, ...]
    hidden: str
    m: int
    learning_rate: float = 0.01
    gemm_bound: bool = True

    def flops(self) -> float:
        """Matrix-product FLOPs of one step: forward W A, backward dZ Aᵀ and Wᵀ dZ
        (no dA0 for the input layer)."""
        total = 0.0
        for l in range(1, len(self.dims)):
            mnk = self.dims[l] * self.dims[l - 1] * self.m
            total += 2 * mnk * (3 if l > 1 else 2)
        return total


WORKLOADS = [
    Workload("planar [2,4,1] tanh m=400", (2, 4, 1), "tanh", 400, 1.2, gemm_bound=False),
    Workload("cat [12288,20,7,5,1] relu m=209", (12288, 20, 7, 5, 1), "relu", 209, 0.0075),
    Workload("wide [1024,1024,1024,1] relu m=2048", (1024, 1024, 1024, 1), "relu", 2048),
    Workload("mnist-like [784,256,128,1] relu m=8192", (784, 256, 128, 1), "relu", 8192),
]
TINY = [Workload("tiny [3,4,1] tanh m=16", (3, 4, 1), "tanh", 16, 0.5, gemm_bound=False)]


def problem(w: Workload, dtype: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((w.dims[0], w.m)).astype(dtype)
    Y = (rng.random((w.dims[-1], w.m)) > 0.5).astype(dtype)
    params = nn.init.initialize_host(list(w.dims), "he", seed=1, dtype=dtype)
    return X, Y, params


# ---------------------------------------------------------------------- #
# Contenders: each returns run(k) that trains k iterations, and sync().
# ---------------------------------------------------------------------- #

def handwritten_numpy(w: Workload, X, Y, params) -> Callable[[int], None]:
    """The lecture's formulas in plain NumPy, as a student would write them."""
    L = len(w.dims) - 1
    m = X.shape[1]
    P = {k: v.copy() for k, v in params.items()}
    g = np.tanh if w.hidden == "tanh" else (lambda z: np.maximum(z, 0))

    def run(k: int) -> None:
        for _ in range(k):
            A, cache = X, []
            for l in range(1, L + 1):
                Z = P[f"W{l}"] @ A + P[f"b{l}"]
                cache.append((A, Z))
                A = g(Z) if l < L else 1 / (1 + np.exp(-Z))
            dZ = A - Y
            for l in range(L, 0, -1):
                A_prev, Z = cache[l - 1]
                dW = dZ @ A_prev.T / m
                db = dZ.sum(axis=1, keepdims=True) / m
                if l > 1:
                    dA = P[f"W{l}"].T @ dZ
                    _, Z_prev = cache[l - 2]
                    dZ = dA * (1 - A_prev**2) if w.hidden == "tanh" else dA * (Z_prev > 0)
                P[f"W{l}"] = P[f"W{l}"] - w.learning_rate * dW
                P[f"b{l}"] = P[f"b{l}"] - w.learning_rate * db

    return run


def array_module(device: str) -> Any:
    """NumPy on the CPU, CuPy on a GPU: the libraries the floors are timed with."""
    if device == "cpu":
        return np
    import cupy

    return cupy


def matrix_products(device: str) -> Callable[..., Callable[[int], None]]:
    """Only the step's matrix products, at their real shapes and layouts
    (W A forward; dZ A_prevᵀ and Wᵀ dZ backward, no dA0), in NumPy or CuPy:
    the floor for any code that calls the same BLAS."""
    def make(w: Workload, X, Y, params) -> Callable[[int], None]:
        xp = array_module(device)
        Ws = [xp.asarray(params[f"W{l}"]) for l in range(1, len(w.dims))]
        Xd = xp.asarray(X)

        def run(k: int) -> None:
            for _ in range(k):
                As = [Xd]
                for W in Ws:
                    As.append(W @ As[-1])
                dZ = As[-1]
                for l in range(len(Ws), 0, -1):
                    dZ @ As[l - 1].T
                    if l > 1:
                        dZ = Ws[l - 1].T @ dZ

        return run

    return make


def nnarray_contender(backend: str, device: str) -> Callable[..., Callable[[int], None]]:
    def make(w: Workload, X, Y, params) -> Callable[[int], None]:
        net = nn.Network(list(w.dims), hidden=w.hidden, init=params, device=device,
                         backend=backend, dtype=X.dtype.name)
        target = nn.backend.resolve(backend, device)
        Xd, Yd = target.asarray(X, X.dtype.name), target.asarray(Y, Y.dtype.name)

        def run(k: int) -> None:
            net.fit(Xd, Yd, iterations=k, learning_rate=w.learning_rate, record_every=k,
                    progress=False)

        return run

    return make


def torch_contender(device: str) -> Callable[..., Callable[[int], None]]:
    def make(w: Workload, X, Y, params) -> Callable[[int], None]:
        import torch

        dev = torch.device(device)
        Xt = torch.as_tensor(X, device=dev)
        Yt = torch.as_tensor(Y, device=dev)
        layers = []
        for l in range(1, len(w.dims)):
            lin = torch.nn.Linear(w.dims[l - 1], w.dims[l]).to(dev, Xt.dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(params[f"W{l}"]))
                lin.bias.copy_(torch.as_tensor(params[f"b{l}"][:, 0]))
            layers.append(lin)
            if l < len(w.dims) - 1:
                layers.append(torch.nn.Tanh() if w.hidden == "tanh" else torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=w.learning_rate)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        Xr, Yr = Xt.T.contiguous(), Yt.T.contiguous()  # torch's layout: examples are rows

        def run(k: int) -> None:
            for _ in range(k):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xr), Yr)
                loss.backward()
                opt.step()

        return run

    return make


def sklearn_contender(w: Workload, X, Y, params) -> Callable[[int], None]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=w.dims[1:-1], activation=w.hidden, solver="sgd",
                        batch_size=w.m, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                        learning_rate_init=w.learning_rate, shuffle=False, max_iter=1,
                        tol=0.0, n_iter_no_change=10**9, warm_start=True, random_state=0)
    Xr, y = X.T, Y[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xr, y)
    clf.coefs_ = [params[f"W{l}"].T.copy() for l in range(1, len(w.dims))]
    clf.intercepts_ = [params[f"b{l}"][:, 0].copy() for l in range(1, len(w.dims))]

    def run(k: int) -> None:
        clf.max_iter = k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xr, y)

    return run


# ---------------------------------------------------------------------- #
def make_sync(device: str) -> Callable[[], None]:
    if device == "cpu":
        return lambda: None
    import cupy

    def sync() -> None:
        cupy.cuda.Device().synchronize()
        if importlib.util.find_spec("torch"):
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()

    return sync


def interleaved(entries: dict[str, tuple[Callable[[int], None], Callable[[], None], int]],
                repeats: int) -> dict[str, float]:
    """Median seconds per iteration of each ``name: (run, sync, k)``, timed in
    rounds: every contender once per round, the order rotated each round."""
    for run, sync, k in entries.values():
        run(max(1, k // 5))  # warm-up: allocations, JIT, kernels, caches
        sync()
    names = list(entries)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            run, sync, k = entries[name]
            sync()
            t0 = time.perf_counter()
            run(k)
            sync()
            times[name].append((time.perf_counter() - t0) / k)
    return {n: statistics.median(t) for n, t in times.items()}


def peak_memory(make: Callable[..., Callable[[int], None]], w: Workload, X, Y, params) -> int:
    """Peak bytes NumPy allocated during 2 iterations (tracemalloc sees NumPy's
    allocations, not torch's or a GPU's)."""
    run = make(w, X, Y, params)
    run(1)
    tracemalloc.start()
    run(2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


SQUARE = "square product"


def square_n(device: str) -> int:
    """n of the square product: a GPU needs a larger one to reach its peak."""
    return 1024 if device == "cpu" else 4096


def iterations_per_timing(w: Workload, device: str, seconds: float) -> int:
    """About ``seconds`` of work at a nominal rate (150 GFLOP/s CPU, 20 TFLOP/s GPU)."""
    nominal = 1.5e11 if device == "cpu" else 2e13
    return int(seconds / max(w.flops() / nominal, 1e-5))


def square_product(dtype: str, device: str, n: int) -> tuple[Callable[[int], None], float]:
    """run(k) doing k n×n by n×2n products on this device, and the FLOPs of one.
    Timed among the contenders, it gives the matrix-product rate under the
    same machine conditions as the workload it is timed with."""
    xp = array_module(device)
    a = xp.ones((n, n), dtype=dtype)
    b = xp.ones((n, 2 * n), dtype=dtype)

    def run(k: int) -> None:
        for _ in range(k):
            a @ b

    return run, 2.0 * n * n * 2 * n


PRODUCTS = "matrix products alone"


def contenders(device: str) -> dict[str, Callable[..., Callable[[int], None]]]:
    have = {n: importlib.util.find_spec(n) is not None for n in
            ("torch", "jax", "dask", "array_api_strict", "sklearn", "cupy")}
    out: dict[str, Callable[..., Callable[[int], None]]] = {}
    if device == "cpu":
        out["hand-written NumPy"] = handwritten_numpy
        out[PRODUCTS] = matrix_products("cpu")
        out["nnarray numpy"] = nnarray_contender("numpy", "cpu")
        for b in ("torch", "jax", "array_api_strict", "dask"):
            if have[b]:
                out[f"nnarray {b}"] = nnarray_contender(b, "cpu")
        if have["torch"]:
            out["PyTorch eager (autograd + SGD)"] = torch_contender("cpu")
        if have["sklearn"]:
            out["scikit-learn MLPClassifier"] = sklearn_contender
    else:
        out["hand-written NumPy"] = handwritten_numpy  # CPU reference for the ratios
        out[PRODUCTS] = matrix_products("cuda:0")
        out["nnarray cupy"] = nnarray_contender("cupy", "cuda:0")
        if have["torch"]:
            out["nnarray torch cuda"] = nnarray_contender("torch", "cuda:0")
            out["PyTorch CUDA eager (autograd + SGD)"] = torch_contender("cuda:0")
    return out


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--tiny", action="store_true", help="one tiny workload (for tests)")
    parser.add_argument("--only", default=None, help="contenders whose name contains this")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--no-scaling", action="store_true")
    args = parser.parse_args(argv)
    device = "cpu" if args.device == "cpu" else "cuda:0"
    sync = make_sync(device)
    workloads = TINY if args.tiny else WORKLOADS
    repeats = 3 if (args.quick or args.tiny) else 7
    n_square = 128 if args.tiny else square_n(device)
    square, square_flops = square_product(args.dtype, device, n_square)
    makers = contenders(device)
    rates: list[float] = []
    rows: list[dict[str, Any]] = []
    for w in workloads:
        X, Y, params = problem(w, args.dtype)
        k_base = 2 if args.tiny else max(3, min(200, iterations_per_timing(w, device, 0.15)))
        entries = {SQUARE: (square, sync, 2)}
        for name, make in makers.items():
            if args.only and not any(s in name for s in (args.only, "hand-written", PRODUCTS)):
                continue
            slow = any(s in name for s in ("dask", "array_api_strict", "scikit"))
            k = max(2, k_base // 10) if slow and not args.tiny else k_base
            on_device = name == PRODUCTS or "cupy" in name or "cuda" in name
            entries[name] = (make(w, X, Y, params), sync if on_device else (lambda: None), k)
        seconds = interleaved(entries, repeats)
        rates.append(square_flops / seconds.pop(SQUARE))
        floor = w.flops() / rates[-1]
        for name, s in seconds.items():
            mem = (peak_memory(makers[name], w, X, Y, params)
                   if name in ("hand-written NumPy", "nnarray numpy") else None)
            rows.append({"workload": w.name, "contender": name, "seconds": s, "memory": mem,
                         "floor": floor, "gemm_bound": w.gemm_bound})
            print(f"{w.name:42s} {name:36s} {s * 1e3:10.3f} ms/it", flush=True)
    scaling = [] if (args.no_scaling or args.tiny) else scaling_study(args.dtype, device,
                                                                     args.quick)
    write_results(Path(args.out), rows, scaling, args, statistics.median(rates), device,
                  n_square)
    return rows


def scaling_study(dtype: str, device: str, quick: bool) -> list[dict[str, Any]]:
    """nnarray's time against m and against width, beside both floors."""
    backend = "numpy" if device == "cpu" else "cupy"
    out = []
    ms = (256, 1024, 4096) if quick else (256, 512, 1024, 2048, 4096, 8192)
    widths = (128, 256, 512) if quick else (64, 128, 256, 512, 1024)
    cases = [("m", Workload(f"[784,256,128,1] m={m}", (784, 256, 128, 1), "relu", m), m)
             for m in ms]
    cases += [("width", Workload(f"[784,{n},{n},1] m=2048", (784, n, n, 1), "relu", 2048), n)
              for n in widths]
    sync = make_sync(device)
    square, square_flops = square_product(dtype, device, square_n(device))
    for axis, w, x in cases:
        X, Y, params = problem(w, dtype)
        k = max(3, min(100, iterations_per_timing(w, device, 0.1)))
        t = interleaved({"nnarray": (nnarray_contender(backend, device)(w, X, Y, params), sync,
                                     k),
                         PRODUCTS: (matrix_products(device)(w, X, Y, params), sync, k),
                         SQUARE: (square, sync, 2)}, 3)
        floor = w.flops() * t[SQUARE] / square_flops
        out.append({"axis": axis, "x": x, "seconds": t["nnarray"], "floor": floor,
                    "products": t[PRODUCTS]})
        print(f"scaling {axis}={x}: {t['nnarray'] * 1e3:.3f} ms/it, products "
              f"{t[PRODUCTS] * 1e3:.3f}, floor {floor * 1e3:.3f}", flush=True)
    return out


def write_results(path: Path, rows: list[dict[str, Any]], scaling: list[dict[str, Any]],
                  args: argparse.Namespace, rate: float, device: str, n_square: int) -> None:
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "nnarray": nn.__version__}
    for mod in ("torch", "jax", "dask", "sklearn", "cupy", "array_api_compat"):
        if importlib.util.find_spec(mod):
            versions[mod] = getattr(__import__(mod), "__version__", "?")
    lines = [f"## {device} {args.dtype} — {time.strftime('%Y-%m-%d %H:%M')}", "",
             f"Command: `python benchmarks/run.py --device {args.device} --dtype {args.dtype}"
             f"{' --quick' if args.quick else ''}{' --tiny' if args.tiny else ''}"
             f"{' --no-scaling' if args.no_scaling else ''}"
             f"{f' --only {chr(34)}{args.only}{chr(34)}' if args.only else ''}`", "",
             f"Machine: {platform.machine()}, {platform.processor() or platform.system()}, "
             f"{_cores()} cores; matrix-product rate (n×n by n×2n, n={n_square}, timed among "
             f"the contenders, median over workloads) {rate / 1e9:.1f} GFLOP/s ({args.dtype})"
             + (f"; GPU {_gpu_name()}" if device != "cpu" else ""), "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), "",
             "| workload | contender | ms / iteration | × hand-written NumPy | × GEMM floor "
             "| × products alone | peak memory × NumPy |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    base = {r["workload"]: r for r in rows if r["contender"] == "hand-written NumPy"}
    products = {r["workload"]: r["seconds"] for r in rows if r["contender"] == PRODUCTS}
    for r in rows:
        b = base[r["workload"]]
        mem = (f"{r['memory'] / b['memory']:.2f}" if r["memory"] and b["memory"] else "")
        prod = (f"{r['seconds'] / products[r['workload']]:.2f}" if r["workload"] in products
                else "")
        lines.append(f"| {r['workload']} | {r['contender']} | {r['seconds'] * 1e3:.3f} | "
                     f"{r['seconds'] / b['seconds']:.2f} | {r['seconds'] / r['floor']:.2f} | "
                     f"{prod} | {mem} |")
    goals = targets(rows, device)
    if goals:
        lines += ["", "Where nnarray stands against the targets of the performance issue "
                  f"(nnarray {'numpy' if device == 'cpu' else 'cupy'}, this run):", "",
                  "| target | bound | measured | met |", "| --- | --- | --- | --- |"]
        lines += [f"| {t} | {b} | {m} | {'yes' if ok else 'no'} |" for t, b, m, ok in goals]
    if scaling:
        lines += ["", "Scaling (nnarray, same device): time per iteration against the GEMM "
                  "floor and the step's matrix products timed alone.", "",
                  "| axis | value | ms / iteration | floor ms | × floor | products ms "
                  "| × products |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for s in scaling:
            lines.append(f"| {s['axis']} | {s['x']} | {s['seconds'] * 1e3:.3f} | "
                         f"{s['floor'] * 1e3:.3f} | {s['seconds'] / s['floor']:.2f} | "
                         f"{s['products'] * 1e3:.3f} | {s['seconds'] / s['products']:.2f} |")
        plot_scaling(path.with_name(f"scaling-{args.device}.png"), scaling)
        lines += ["", f"![scaling](scaling-{args.device}.png)"]
    block = "\n".join(lines) + "\n"
    header = "# Benchmark results\n\nWritten by `benchmarks/run.py`; newest run first.\n\n"
    old = path.read_text() if path.exists() else ""
    old = old[len(header):] if old.startswith(header) else old
    path.write_text(header + block + "\n" + old)
    print(f"wrote {path}")


def targets(rows: list[dict[str, Any]], device: str) -> list[tuple[str, str, str, bool]]:
    """(target, bound, measured, met) for each target of the performance issue
    that this run's rows can answer."""
    ours = "nnarray numpy" if device == "cpu" else "nnarray cupy"
    by = {(r["workload"], r["contender"]): r for r in rows}
    mine = [r for r in rows if r["contender"] == ours]

    def ratio(r: dict[str, Any], other: str) -> float | None:
        o = by.get((r["workload"], other))
        return r["seconds"] / o["seconds"] if o else None

    def short(r: dict[str, Any]) -> str:
        return r["workload"].split(" [")[0]

    def goal(name: str, bound: str, pairs: list[tuple[str, float]], ok: bool) -> None:
        if pairs:
            out.append((name, bound, ", ".join(f"{w} {v}" for w, v in pairs), ok))

    out: list[tuple[str, str, str, bool]] = []
    big = [r for r in mine if r["gemm_bound"]]
    small = [r for r in mine if not r["gemm_bound"]]
    if device == "cpu":
        for rs, label, bound in ((big, "GEMM-bound nets", 1.05), (small, "the planar net", 1.3)):
            v = [(short(r), ratio(r, "hand-written NumPy")) for r in rs]
            goal(f"nnarray against hand-written NumPy, {label}", f"≤ {bound}×",
                 [(w, f"{x:.2f}×") for w, x in v], all(x <= bound for _, x in v))
        peers = [c for c in ("PyTorch eager (autograd + SGD)", "scikit-learn MLPClassifier")
                 if any(r["contender"] == c for r in rows)]
        v = [(short(r), max(ratio(r, c) for c in peers)) for r in mine if peers]
        goal(f"{' and '.join(c.split(' ')[0] for c in peers)} CPU, every workload",
             "nnarray ahead (< 1× the faster peer)", [(w, f"{x:.2f}×") for w, x in v],
             all(x < 1 for _, x in v))
        v = [(short(r), r["seconds"] / r["floor"], ratio(r, PRODUCTS)) for r in big]
        goal("GEMM-bound nets against the GEMM floor", "≤ 1.3×",
             [(w, f"{x:.2f}× (× products alone {p:.2f})" if p else f"{x:.2f}×")
              for w, x, p in v], all(x <= 1.3 for _, x, _ in v))
    else:
        v = [(short(r), ratio(r, "PyTorch CUDA eager (autograd + SGD)")) for r in mine]
        v = [(w, x) for w, x in v if x is not None]
        goal("PyTorch CUDA eager, every workload", "nnarray ahead (< 1×)",
             [(w, f"{x:.2f}×") for w, x in v], all(x < 1 for _, x in v))
        v = [(short(r), r["floor"] / r["seconds"]) for r in mine if short(r) == "wide"]
        goal("the wide net's share of the card's matrix-product rate", "≥ 70%",
             [(w, f"{x:.0%}") for w, x in v], all(x >= 0.7 for _, x in v))
        v = [(short(r), r["seconds"] * 1e6) for r in small]
        goal("the planar step", "≤ 30 µs", [(w, f"{x:.1f} µs") for w, x in v],
             all(x <= 30 for _, x in v))
    return out


def plot_scaling(path: Path, scaling: list[dict[str, Any]]) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        return
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


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _gpu_name() -> str:
    import cupy

    return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()


if __name__ == "__main__":
    main()
