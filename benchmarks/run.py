"""Seconds per training iteration: nnarray against the alternatives, in one process.

Full batch, plain gradient descent, the same data and initial parameters for
every contender. Each figure is the median over repeats of (time of k
iterations) / k, reported as a ratio to the lecture's formulas hand-written in
plain NumPy. The repeats are interleaved (every contender once per round, in
an order drawn afresh each round, after a garbage collection), so a machine
that slows down mid-run slows all of them alike and no contender always
follows the same one. Two floors: the GEMM floor (the step's matrix-product FLOPs at the
rate of a large square product) and the step's own matrix products timed alone
at their real shapes. On a GPU every clock read follows a device synchronize.
Then a mini-batch run (Adam, batch 64, softmax head): time per epoch, and the
first fit with its compiles. The run ends with a table of where nnarray stands
against each of its targets.

    python benchmarks/run.py                 # CPU, float32, writes benchmarks/RESULTS.md
                                             # (about 2 minutes on 2 cores)
    python benchmarks/run.py --quick         # fewer repeats, 3 scaling points per axis
    python benchmarks/run.py --device gpu    # CuPy, PyTorch CUDA, JAX on the GPU
    python benchmarks/run.py --tiny --out /tmp/r.md   # seconds: checks that it runs

The package: ``workloads`` (the nets and their data), ``contenders`` (nnarray
on each backend and the peers), ``timing`` (interleaved rounds), ``report``
(the Markdown and the verdicts); this file is the command line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))  # the benchmarks package, and the nnarray of this tree
# JAX must not take 75% of the GPU up front: CuPy and torch share the device in this process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from benchmarks import contenders as C  # noqa: E402
from benchmarks import report, timing  # noqa: E402
from benchmarks.contenders import PRODUCTS, SQUARE  # noqa: E402
from benchmarks.report import Results, targets  # noqa: E402
from benchmarks.workloads import (  # noqa: E402
    TINY,
    WORKLOADS,
    Workload,
    iterations_per_timing,
    minibatch_problem,
    minibatch_workloads,
    problem,
    timed_iterations,
)

HERE = Path(__file__).resolve().parent
__all__ = ["PRODUCTS", "main", "targets"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--tiny", action="store_true", help="tiny workloads (for tests)")
    parser.add_argument("--only", default=None,
                        help="contenders whose name contains this (any case)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--no-scaling", action="store_true")
    return parser.parse_args(argv)


def command(args: argparse.Namespace) -> str:
    """The command line of this run, every flag named (``--out`` left out)."""
    only = f' --only "{args.only}"' if args.only else ""
    return (f"python benchmarks/run.py --device {args.device} --dtype {args.dtype}"
            f"{' --quick' if args.quick else ''}{' --tiny' if args.tiny else ''}"
            f"{' --no-scaling' if args.no_scaling else ''}{only}")


def chosen(name: str, only: str | None) -> bool:
    """``--only`` (any case) keeps the contenders it names and the references."""
    return not only or only.lower() in name.lower() or name in (C.HAND_NUMPY, PRODUCTS)


def main(argv: list[str] | None = None) -> Results:
    args = parse(argv)
    t_start = time.perf_counter()
    device = "cpu" if args.device == "cpu" else C.GPU
    if args.dtype == "float64" and C.installed("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)  # the benchmark's choice, as a user's
    res = Results(device, args.dtype, command(args))
    writer = report.Writer(Path(args.out))
    workloads = TINY if args.tiny else WORKLOADS
    res.n_square = 128 if args.tiny else C.square_n(device)
    floors_missing = C.cupy_gpu_missing() if device != "cpu" else None
    if floors_missing:
        res.skipped.append(("*", f"{SQUARE} (the GEMM floor)", floors_missing))
        square, square_flops = None, 0.0
    else:
        square, square_flops = C.square_product(args.dtype, device, res.n_square)
    line_up = []
    for c in C.contenders(device):
        if not chosen(c.name, args.only):
            continue
        why = c.missing()
        if why:
            res.skipped.append(("*", c.name, why))
            print(f"skipped {c.name}: {why}", flush=True)
        else:
            line_up.append(c)
            if (path := c.path()) is not None:
                res.paths[c.name] = path
    syncs = {"cpu": C.make_sync("cpu"), C.GPU: C.make_sync(C.GPU)}
    rates: list[float] = []
    for w in workloads:
        if device == "cpu" and not w.on_cpu:
            res.skipped.append((w.name, "every contender", "GPU only (tens of seconds a step "
                                "on a CPU)"))
            continue
        time_workload(w, args, device, line_up, syncs, square, square_flops, rates, res)
        res.rate = statistics.median(rates) if rates else float("nan")
        writer.write(res, complete=False)
        C.release(device)
    time_minibatches(args, device, res)
    writer.write(res, complete=False)
    if not (args.no_scaling or args.tiny):
        res.scaling = scaling_study(args.dtype, device, args.quick, res)
    res.seconds = time.perf_counter() - t_start
    writer.write(res)
    print(f"wrote {args.out} ({res.seconds:.0f} s)")
    return res


def time_workload(w: Workload, args: argparse.Namespace, device: str,
                  line_up: list[C.Contender], syncs: dict[str, Any], square: Any,
                  square_flops: float, rates: list[float], res: Results) -> None:
    X, Y, params = problem(w, args.dtype)
    entries: dict[str, timing.Entry] = {}
    if square is not None:
        entries[SQUARE] = timing.Entry(square, syncs[device], 2, 1)
    made: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for c in line_up:
        if c.where == "cpu" and not w.on_cpu:
            res.skipped.append((w.name, c.name, "its CPU step takes tens of seconds here"))
            continue
        k = timed_iterations(w, c.where, args.tiny, c.slow)
        try:
            made[c.name] = c.make(w, X, Y, params)
        except Exception as exc:
            failed[c.name] = timing.failure(exc)
            continue
        entries[c.name] = timing.Entry(made[c.name], syncs[c.where], k,
                                       k if c.compiled else max(1, k // 5))
    seconds = timing.interleaved(entries, repeats=3 if (args.quick or args.tiny) else 7,
                                 failed=failed)
    for name, why in failed.items():
        res.skipped.append((w.name, name, why))
        print(f"{w.name:42s} {name:36s} {why}", flush=True)
    if SQUARE in seconds:
        rates.append(square_flops / seconds.pop(SQUARE))
    floor = w.flops() / rates[-1] if square is not None and rates else float("nan")
    for name, s in seconds.items():
        mem = None
        if device == "cpu" and name in (C.HAND_NUMPY, C.NNARRAY_NUMPY):
            mem = timing.peak_memory(made[name])
        res.rows.append({"workload": w.name, "contender": name, "seconds": s, "memory": mem,
                         "floor": floor, "gemm_bound": w.gemm_bound})
        print(f"{w.name:42s} {name:36s} {report.ms(s):>10s} ms/it", flush=True)


def time_minibatches(args: argparse.Namespace, device: str, res: Results) -> None:
    for w in minibatch_workloads(args.quick, args.tiny):
        X, Y, classes = minibatch_problem(w, args.dtype)
        fits, where = {}, {}
        failed: dict[str, str] = {}
        for c in C.minibatch_contenders(device):
            if not chosen(c.name, args.only):
                continue
            why = c.missing()
            if why:
                res.skipped.append((w.name, c.name, why))
                continue
            try:
                fits[c.name] = (c.make(w, X, Y, classes), C.make_sync(c.where))
                where[c.name] = c.where
            except Exception as exc:
                failed[c.name] = timing.failure(exc)
        got = timing.minibatch_times(fits, 3 if (args.quick or args.tiny) else 5, w.epochs,
                                     failed)
        for name, why in failed.items():
            res.skipped.append((w.name, name, why))
        for name, (epoch, first) in got.items():
            res.mini.append({"workload": w.name, "contender": name, "where": where[name],
                             "epoch_seconds": epoch, "first_seconds": first,
                             "epochs": w.epochs})
            print(f"{w.name:42s} {name:36s} {epoch * 1e3:10.3f} ms/epoch, first fit "
                  f"{first:.2f} s", flush=True)


def scaling_study(dtype: str, device: str, quick: bool, res: Results) -> list[dict[str, Any]]:
    """nnarray's time against m and against width, beside both floors
    (nnarray numpy on the CPU, nnarray cupy on a GPU)."""
    backend = "numpy" if device == "cpu" else "cupy"
    why = C.nnarray_target_missing(backend, device)() or (
        C.cupy_gpu_missing() if device != "cpu" else None)
    if why:
        res.skipped.append(("*", "the scaling study", why))
        return []
    out = []
    ms = (256, 1024, 4096) if quick else (256, 512, 1024, 2048, 4096, 8192)
    widths = (128, 256, 512) if quick else (64, 128, 256, 512, 1024)
    cases = [("m", Workload(f"[784,256,128,1] m={m}", (784, 256, 128, 1), "relu", m), m)
             for m in ms]
    cases += [("width", Workload(f"[784,{n},{n},1] m=2048", (784, n, n, 1), "relu", 2048), n)
              for n in widths]
    sync = C.make_sync(device)
    square, square_flops = C.square_product(dtype, device, C.square_n(device))
    for axis, w, x in cases:
        X, Y, params = problem(w, dtype)
        k = max(3, min(100, iterations_per_timing(w, device, 0.1)))
        entries = {"nnarray": timing.Entry(C.nnarray_fit(backend, device)(w, X, Y, params),
                                           sync, k, k),
                   PRODUCTS: timing.Entry(C.matrix_products(device)(w, X, Y, params), sync, k,
                                          max(1, k // 5)),
                   SQUARE: timing.Entry(square, sync, 2, 1)}
        t = timing.interleaved(entries, 3)
        if len(t) < 3:
            continue
        floor = w.flops() * t[SQUARE] / square_flops
        out.append({"axis": axis, "x": x, "seconds": t["nnarray"], "floor": floor,
                    "products": t[PRODUCTS]})
        print(f"scaling {axis}={x}: {t['nnarray'] * 1e3:.3f} ms/it, products "
              f"{t[PRODUCTS] * 1e3:.3f}, floor {floor * 1e3:.3f}", flush=True)
    return out


if __name__ == "__main__":
    main()
