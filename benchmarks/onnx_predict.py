"""Prediction: nnarray on NumPy against the same network exported to ONNX
and run by onnxruntime, for the cat and mnist-like nets at batch 1, 64 and
the full set, in one run (the repeats interleaved, as in ``run.py``).

onnxruntime runs the graph ``Network.to_onnx`` writes, with its default
graph optimizations, in the lecture's layout (examples are columns) and with
examples as rows; and, to price the ``Size``/``Equal``/``If`` nodes ndonnx
puts around each ``MatMul`` (the result of an empty product), the same graph
with each ``If`` replaced by its ``MatMul`` by hand (a measurement only: the
library exports the graph as ndonnx records it). The graph's operators are
listed before and after onnxruntime's optimizer. Needs the onnx extra::

    python benchmarks/onnx_predict.py              # prints the section
    python benchmarks/onnx_predict.py --out benchmarks/RESULTS.md   # and records it
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nnarray as nn
from benchmarks import report
from benchmarks.timing import Entry
from benchmarks.workloads import WORKLOADS, Workload, problem

NETS = ("cat", "mnist-like")
BATCHES = (1, 64, None)  # None: the full set
TARGET_SECONDS = 0.02
"""About how long one timing takes (k calls)."""


def ops(graph: Any) -> collections.Counter[str]:
    """The operators of ``graph``'s top level (``If`` branches not looked into)."""
    return collections.Counter(node.op_type for node in graph.node)


def branch_ops(graph: Any) -> collections.Counter[str]:
    """The operators inside ``graph``'s ``If`` branches (then: the result of an
    empty product; else: the product), nested branches included."""
    count: collections.Counter[str] = collections.Counter()
    for node in graph.node:
        for attr in node.attribute:
            if attr.g.node:
                count += ops(attr.g) + branch_ops(attr.g)
    return count


def without_guards(model: Any) -> Any:
    """A copy of ``model`` with every ``If`` that guards a ``MatMul`` replaced by
    its else-branch (the product), and the nodes that only fed the condition
    dropped."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    nodes = []
    for node in model.graph.node:
        branch = next((a.g for a in node.attribute if a.name == "else_branch"), None)
        if node.op_type != "If" or branch is None or not any(
                n.op_type == "MatMul" for n in branch.node):
            nodes.append(node)
            continue
        rename = {o.name: out for o, out in zip(branch.output, node.output, strict=True)}
        for inner in branch.node:
            copy = onnx.NodeProto.FromString(inner.SerializeToString())
            copy.output[:] = [rename.get(o, o) for o in copy.output]
            nodes.append(copy)
    wanted = {o.name for o in model.graph.output}
    while True:  # drop what nothing reads any more
        used = wanted | {i for n in nodes for i in n.input}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def optimized_ops(path: Path) -> collections.Counter[str]:
    """The operators left after onnxruntime's graph optimizations (its
    default level, ``ORT_ENABLE_ALL``), read from the model it saves."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # not the warning that the saved model suits this CPU only
    options.optimized_model_filepath = str(path.with_suffix(".optimized.onnx"))
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return ops(onnx.load(options.optimized_model_filepath).graph)


def entries(net: nn.Network, X: np.ndarray, runtimes: dict[str, Any],
            seconds_per_call: float) -> dict[str, Entry]:
    """The contenders on the batch X (n_x, b)."""
    rows = np.ascontiguousarray(X.T)
    k = max(1, round(TARGET_SECONDS / seconds_per_call))

    def repeat(call: Callable[[], Any]) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in range(n):
                call()
        return run

    made = {"nnarray numpy": Entry(repeat(lambda: net.predict_proba(X)), lambda: None, k, k)}
    for name, (runtime, layout) in runtimes.items():
        feed = {"X": rows if layout == "rows" else X}
        made[name] = Entry(repeat(lambda s=runtime, f=feed: s.run(["probabilities"], f)),
                           lambda: None, k, k)
    return made


def rounds(entries: dict[str, Entry], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each entry, ``repeats`` timings each, in rounds:
    every contender once per round, in an order drawn afresh each round
    (seeded), each timing from a collected heap (as ``timing.interleaved``,
    which keeps only the median: here the fastest is reported too, the
    better estimate on a loaded machine)."""
    for e in entries.values():
        e.run(e.warm)
    times: dict[str, list[float]] = {n: [] for n in entries}
    order = random.Random(0)
    for _ in range(repeats):
        for name in order.sample(list(entries), len(entries)):
            e = entries[name]
            gc.collect()
            t0 = time.perf_counter()
            e.run(e.k)
            times[name].append((time.perf_counter() - t0) / e.k)
    return times


def measure(w: Workload, folder: Path, repeats: int,
            threads: int) -> tuple[list[list[str]], dict[str, Any]]:
    import onnx
    import onnxruntime as ort

    if w.short == "cat":  # the course's images, the training set
        (X, _), _ = nn.datasets.load_cat_vs_noncat()
        X = X.astype(np.float32)
    else:
        X = problem(w, "float32")[0]
    net = nn.Network(list(w.dims), hidden=w.hidden, output="sigmoid", init="he", seed=1)
    columns = net.to_onnx(folder / f"{w.short}.onnx")
    rows = net.to_onnx(folder / f"{w.short}-rows.onnx", examples_as_rows=True)
    bare = folder / f"{w.short}-bare.onnx"
    onnx.save(without_guards(onnx.load(str(columns))), str(bare))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: onnxruntime's default, one per core
    # onnxruntime's threads spin between runs by default, taking the cores from
    # whichever contender runs next: off, so that the interleaving is fair
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")

    def runtime(path: Path) -> Any:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    runtimes = {"onnxruntime": (runtime(columns), "columns"),
                "onnxruntime, rows": (runtime(rows), "rows"),
                "onnxruntime, If guards removed": (runtime(bare), "columns")}
    table = []
    worst = 0.0
    for b in BATCHES:
        Xb = X if b is None else np.ascontiguousarray(X[:, :b])
        want = np.asarray(net.predict_proba(Xb))
        for runtime, layout in runtimes.values():
            got = runtime.run(["probabilities"], {"X": Xb.T.copy() if layout == "rows" else Xb})[0]
            worst = max(worst, float(np.abs((got.T if layout == "rows" else got) - want).max()))
        t0 = time.perf_counter()
        net.predict_proba(Xb)
        times = rounds(entries(net, Xb, runtimes, time.perf_counter() - t0), repeats)
        base = statistics.median(times["nnarray numpy"])
        for name, t in times.items():
            median = statistics.median(t)
            table.append([w.name, str(Xb.shape[1]), name, report.ms(median), report.ms(min(t)),
                          f"{base / median:.2f}×"])
    exported = onnx.load(str(columns)).graph
    info = {"graph": ops(exported), "branches": branch_ops(exported),
            "optimized": optimized_ops(columns),
            "bare": ops(onnx.load(str(bare)).graph), "worst": worst}
    return table, info


def section(results: dict[str, tuple[list[list[str]], dict[str, Any]]], repeats: int,
            threads: int, started: float, load: float) -> str:
    import ndonnx
    import onnx
    import onnxruntime as ort

    settings = report._thread_settings()
    command = " ".join([*(f"{v}={os.environ[v]}" for v in report.THREAD_VARIABLES
                          if os.environ.get(v)), "python benchmarks/onnx_predict.py",
                        *([f"--threads {threads}"] if threads else []),
                        *([f"--repeats {repeats}"] if repeats != 41 else []),
                        "--out benchmarks/RESULTS.md"])
    lines = [f"## ONNX prediction: nnarray numpy against onnxruntime, cpu float32 — "
             f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}", "",
             f"Command: `{command}`", "",
             f"Commit {report.commit()}; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores; load {load:.2f} at the start, "
             f"{os.getloadavg()[0]:.2f} at the end; {settings or 'no thread variables set'}; "
             f"python {platform.python_version()}, numpy {np.__version__}, "
             f"onnxruntime {ort.__version__} ({threads or 'default'} intra-op threads, not "
             "spinning between runs; graph optimizations ORT_ENABLE_ALL), "
             f"ndonnx {ndonnx.__version__}, onnx {onnx.__version__}. "
             f"Median and fastest of {repeats} interleaved timings; the He-initialized float32 "
             "nets of "
             "`benchmarks/workloads.py` (cat: the course's 209 training images; mnist-like: "
             "8192 standard-normal columns); `predict_proba` against onnxruntime's `run` of the "
             "`probabilities` output.", "",
             "| workload | batch | contender | ms per prediction (median) | fastest | "
             "speed-up over nnarray (medians) |", "| --- | ---: | --- | ---: | ---: | ---: |"]
    for table, _ in results.values():
        lines += ["| " + " | ".join(row) + " |" for row in table]
    lines += ["", "Operators of each graph (columns layout, sigmoid head; top level, and "
              "inside the `If` branches of the exported one):", "",
              "| net | graph | operators |", "| --- | --- | --- |"]
    for name, (_, info) in results.items():
        for key, label in (("graph", "exported"),
                           ("branches", "exported, inside the `If` branches"),
                           ("optimized", "after onnxruntime's optimizer"),
                           ("bare", "`If` guards removed by hand")):
            listed = ", ".join(f"{op} {n}" for op, n in sorted(info[key].items()))
            lines.append(f"| {name} | {label} | {listed} |")
    worst = max(info["worst"] for _, info in results.values())
    left = {name: {op: info["optimized"].get(op, 0) for op in ("Size", "Equal", "If")}
            for name, (_, info) in results.items()}
    lines += ["", f"Largest difference from `predict_proba` over every batch: {worst:.1e}. "
              "Size/Equal/If left after onnxruntime's optimizer: "
              + "; ".join(f"{n}: " + ", ".join(f"{op} {c}" for op, c in v.items())
                          for n, v in left.items()) + ".", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="RESULTS.md to record the section in")
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--threads", type=int, default=0,
                        help="onnxruntime's intra-op threads (default 0: one per core); "
                        "NumPy's BLAS threads are set by OPENBLAS_NUM_THREADS and the like")
    args = parser.parse_args(argv)
    started, load = time.time(), os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for w in WORKLOADS:
            if w.short in NETS:
                results[w.short] = measure(w, Path(folder), args.repeats, args.threads)
    text = section(results, args.repeats, args.threads, started, load)
    print(text)
    if args.out is not None:
        old = args.out.read_text() if args.out.exists() else report.HEADER
        body = old[len(report.HEADER):] if old.startswith(report.HEADER) else old
        args.out.write_text(report.HEADER + text + "\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
