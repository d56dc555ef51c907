"""Compiled chunks on PyTorch CUDA: the loop's step captured once in a CUDA
graph with static buffers, then replayed once per step.

Everything that changes from step to step is read on the device from a
static buffer, indexed by a step counter that the graph itself advances: the
rate, the optimizer's host values (Adam's bias corrections), the dropout
masks and, with mini-batches, the batch. So one graph serves every step: a
mini-batch chunk of k steps is k replays with no host work in between, a
full-batch chunk its first step (the record point's: the same kernels and
the cost, outside the graph) and k − 1 replays of the step without its
cost. The step must
create no host tensor (a CPU→CUDA copy breaks the capture): the math passes
Python scalars, never ``xp.maximum(Z, 0.0)``-style host arrays.

With ``capture=False`` the same buffers and the same step run eagerly: the
path the CPU tests take.
"""

from __future__ import annotations

from typing import Any

from .chunks import GraphChunks, tree


def _clone(t: Any) -> Any:
    return t.clone()


def _copy_into(static: Any, values: Any) -> None:
    tree(lambda s, v: s.copy_(v), static, values)


class _Graph:
    """One captured step and its static buffers, for one set of shapes."""

    def __init__(self, torch: Any, raw: Any, params: Any, opt: Any, inputs: Any, masks: Any,
                 rates: Any, hypers: Any, batched: bool, weight: float, *,
                 capture: bool) -> None:
        self.torch = torch
        self.p, self.o = tree(_clone, params), tree(_clone, opt)
        self.inputs = tree(_clone, inputs) if batched else inputs  # X, Y stay the user's
        self.masks = None if masks is None else tree(_clone, masks)
        self.rates, self.hypers = rates.clone(), tree(_clone, hypers)
        self.index = torch.zeros(1, dtype=torch.int64, device=rates.device)
        self.offset = torch.zeros(1, dtype=torch.int64, device=rates.device)
        self.out = torch.zeros((), dtype=rates.dtype, device=rates.device)

        def at(a: Any, i: Any) -> Any:
            return torch.index_select(a, 0, i).reshape(a.shape[1:])

        def body(want: bool) -> None:
            i = self.index
            X, Y = self.inputs
            if batched:
                X, Y = at(X, i + self.offset), at(Y, i + self.offset)
            masks_i = None if self.masks is None else {l: at(M, i)
                                                       for l, M in self.masks.items()}
            hyper_i = {n: at(v, i) for n, v in self.hypers.items()}
            new, J, new_opt = raw(self.p, self.o, X, Y, masks_i, at(self.rates, i), hyper_i,
                                  want)
            _copy_into(self.p, new)
            _copy_into(self.o, new_opt)
            if batched:
                self.out.copy_(self.out + J * weight)
            elif want:
                self.out.copy_(J)
            self.index.add_(1)

        # Full batch: the chunk's first step (its record point) runs outside
        # the graph with its cost, the same kernels; the graph has no cost.
        self.batched, self.first = batched, lambda: body(True)
        self.replay = lambda: body(batched)
        if capture:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                body(batched)  # warm-up (allocator, cuBLAS handles) before capture
            torch.cuda.current_stream().wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                body(batched)
            self.replay = self.graph.replay

    def run(self, params: Any, opt: Any, masks: Any, rates: Any, hypers: Any, k: int,
            offset: int, total: Any) -> tuple[Any, Any, Any]:
        _copy_into(self.p, params)
        _copy_into(self.o, opt)
        if self.masks is not None:
            _copy_into(self.masks, masks)
        self.rates.copy_(rates)
        _copy_into(self.hypers, hypers)
        self.index.zero_()
        self.offset.fill_(offset)
        if total is None:
            self.out.zero_()
        else:
            self.out.copy_(total)
        for n in range(k):
            (self.replay if n or self.batched else self.first)()
        return tree(_clone, self.p), tree(_clone, self.o), self.out.clone()


class TorchGraphChunks(GraphChunks):
    """Chunks as CUDA-graph replays (see the module's docstring and
    :class:`.chunks.GraphChunks`); ``capture=False`` runs the same buffers
    and step eagerly (the CPU tests)."""

    def __init__(self, raw: Any, capture: bool = True) -> None:
        import torch

        super().__init__(raw)
        self._torch, self._capture = torch, capture

    def _new(self, *args: Any) -> _Graph:
        return _Graph(self._torch, self._raw, *args, capture=self._capture)

    def _pointer(self, a: Any) -> int:
        return int(a.data_ptr())

    def _load(self, graph: Any, batches: tuple[Any, Any]) -> None:
        _copy_into(graph.inputs, batches)
