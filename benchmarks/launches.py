"""Kernel launches a training step makes, counted on the CPU.

A CUDA graph replays its kernels back to back, so a small net's replayed
step takes about as long as its launches: this counts them without a GPU,
as the aten operations torch runs (views and the like left out: they launch
nothing), for the hand-written torch step the benchmark times as a CUDA
graph, and for nnarray's torch graph step, replayed (no cost) and as a
chunk's first step (with the record point's cost); and for a mini-batch
epoch, the operations launched outside nnarray's graphs and the replays.
For JAX, the operations of the compiled loop's body (XLA's program on the
CPU: fusions, products, copies), nnarray's chunk against the loop by hand::

    python benchmarks/launches.py

CuPy's graph runs the same step through the same Array API calls, one
kernel each where torch launches one.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.contenders import jax_lecture_loop, nnarray_minibatch, torch_lecture_step
from benchmarks.workloads import (
    WORKLOADS,
    MiniBatch,
    Workload,
    minibatch_problem,
    minibatch_workloads,
    problem,
)


def launches(run: Callable[[], Any], paused: Callable[[], bool] = lambda: False) -> int:
    """The aten operations ``run()`` makes that launch a kernel: all but
    views, new uninitialized tensors and ``_unsafe_view`` (and those made
    while ``paused()``)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    metadata = {aten._unsafe_view, aten.empty, aten.empty_like, aten.empty_strided}

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            if not func.is_view and func.overloadpacket not in metadata and not paused():
                Count.n += 1
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Count():
        run()
    return Count.n


def epoch_launches(w: MiniBatch, epochs: int = 3) -> dict[str, float]:
    """A mini-batch epoch of ``w`` (Adam, float32) on nnarray's torch graph
    engine, run on the CPU without the capture: ``outside``, the operations
    launched outside the graphs an epoch (each one launch on a GPU), and
    ``replays``, the graph replays an epoch (one launch each). From the
    difference between a warm fit of ``epochs`` epochs and one of one."""
    from nnarray.engines import runner, torch_graphs

    inside = [False]
    replays = [0]
    real_init = torch_graphs._Graph.__init__

    def init(graph: Any, *args: Any, **kwargs: Any) -> None:
        real_init(graph, *args, **kwargs)
        body = graph.replay

        def replay() -> None:
            replays[0] += 1
            inside[0] = True
            try:
                body()
            finally:
                inside[0] = False

        graph.replay = replay

    data = minibatch_problem(w, "float32")  # the benchmark's fits, of 1 and `epochs` epochs
    fits = {n: nnarray_minibatch("torch", "cpu")(dataclasses.replace(w, epochs=n), *data)
            for n in (1, epochs)}

    enabled = runner.chunks_enabled
    torch_graphs._Graph.__init__ = init  # type: ignore[method-assign]
    runner.chunks_enabled = lambda b, d: enabled(b, d) or b == "torch"  # CPU: no capture
    runner._chunks.cache_clear()
    try:
        fits[1]()  # the graphs made
        counts = []
        for n in (1, epochs):
            replays[0] = 0
            counts.append((launches(fits[n], lambda: inside[0]), replays[0]))
    finally:
        torch_graphs._Graph.__init__ = real_init  # type: ignore[method-assign]
        runner.chunks_enabled = enabled
        runner._chunks.cache_clear()
    (one, r1), (many, rn) = counts
    return {"outside": (many - one) / (epochs - 1), "replays": (rn - r1) / (epochs - 1)}


def step_launches(w: Workload) -> dict[str, int]:
    """Launches of one step of ``w``: ``hand`` (the hand-written torch step),
    ``replayed`` and ``first`` (nnarray's torch graph step without and with
    its cost), in float32 on the CPU."""
    import torch
    from array_api_compat import array_namespace

    from nnarray.engines.torch_graphs import _Graph
    from nnarray.optimizers import GradientDescent
    from nnarray.step import raw_step

    X, Y, params = problem(w, "float32")
    hand = {k: torch.as_tensor(v).clone() for k, v in params.items()}
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    raw = raw_step(w.hidden, "sigmoid", GradientDescent(), 0.0, array_namespace(Xt))
    graph = _Graph(torch, raw, {k: torch.as_tensor(v) for k, v in params.items()}, {},
                   (Xt, Yt), None, torch.as_tensor(np.full(2, w.learning_rate, np.float32)),
                   {}, False, 0.0, capture=False)
    return {"hand": launches(lambda: torch_lecture_step(torch, hand, Xt, Yt, w)),
            "first": launches(graph.first), "replayed": launches(graph.replay)}


def loop_body_ops(hlo: str) -> dict[str, int]:
    """The operations of the body of the one ``while`` loop in the text of a
    compiled XLA program, by kind (``fusion``, ``dot``, ``copy``, ...)."""
    body = re.search(r"\bwhile\(.*?body=%?([\w.\-]+)", hlo)
    if body is None:
        raise ValueError("the program has no while loop")
    lines = hlo.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if re.match(rf"%?{re.escape(body.group(1))} ", line))
    ops: dict[str, int] = {}
    for line in lines[start + 1:]:
        if line.startswith("}"):
            break
        op = re.search(r"= \S+ ([\w\-]+)\(", line)
        if op and op.group(1) not in ("parameter", "get-tuple-element", "tuple", "constant"):
            ops[op.group(1)] = ops.get(op.group(1), 0) + 1
    return ops


def jax_loop_ops(w: Workload) -> dict[str, dict[str, int]]:
    """The operations of the compiled loop's body on JAX's CPU device, float32:
    ``hand`` (the benchmark's ``fori_loop`` by hand) and ``nnarray`` (a
    full-batch chunk whose first and last steps record the cost)."""
    import jax

    from nnarray.engines.jax_chunks import JaxChunks
    from nnarray.optimizers import GradientDescent
    from nnarray.step import raw_step

    cpu = jax.devices("cpu")[0]
    X, Y, params = jax.device_put(problem(w, "float32"), cpu)
    L = len(w.dims) - 1
    hand = jax_lecture_loop(w, X, Y)
    P = tuple(params[f"{p}{l}"] for p in "Wb" for l in range(1, L + 1))
    chunks = JaxChunks(raw_step(w.hidden, "sigmoid", GradientDescent(), 0.0, jax.numpy))
    rates = jax.device_put(np.full(200, w.learning_rate, np.float32), cpu)
    ours = chunks._full.lower(params, {}, X, Y, None, rates, {}, 200, True, True, None)
    return {"hand": loop_body_ops(hand.lower(P, 200).compile().as_text()),
            "nnarray": loop_body_ops(ours.compile().as_text())}


def _ops(ops: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(ops.items()))


def main() -> None:
    print("| workload | hand-written torch step | nnarray graph step, replayed | "
          "nnarray, a chunk's first step (with the cost) |")
    print("| --- | ---: | ---: | ---: |")
    for w in WORKLOADS:
        if not w.on_cpu:
            continue
        n = step_launches(w)
        print(f"| {w.name} | {n['hand']} | {n['replayed']} | {n['first']} |", flush=True)
    print()
    print("| mini-batch workload | operations outside the graphs an epoch | graph replays an "
          "epoch |")
    print("| --- | ---: | ---: |")
    for mb in minibatch_workloads(quick=False, tiny=False):
        e = epoch_launches(mb)
        print(f"| {mb.name} | {e['outside']:.0f} | {e['replays']:.0f} |", flush=True)
    print()
    print("| workload | JAX fori_loop by hand, the loop's body | nnarray jax chunk, the loop's "
          "body |")
    print("| --- | --- | --- |")
    for w in WORKLOADS:
        if w.on_cpu:
            ops = jax_loop_ops(w)
            print(f"| {w.name} | {_ops(ops['hand'])} | {_ops(ops['nnarray'])} |", flush=True)


if __name__ == "__main__":
    main()
