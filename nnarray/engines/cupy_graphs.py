"""Compiled chunks on CuPy: the loop's step captured once in a CUDA graph
with static buffers, then replayed once per step.

As on PyTorch (:mod:`.torch_graphs`), everything that changes from step to
step is read on the device from a static buffer indexed by a step counter
that the graph itself advances: the rate, the optimizer's host values,
the dropout masks and, with mini-batches, the batch. The parameters and the
optimizer state live in static buffers too; the step returns new arrays
(the math never mutates) and the graph copies them into the buffers. A
full-batch chunk's first step, whose cost is the record point's, runs
outside the graph (the same kernels and the cost); the graph replays the
step without its cost.

The products run through cuBLAS's own API (:mod:`.gemm`), the handle bound
to the capture stream before the capture; CuPy's cuBLAS wrapper would
refuse the capturing stream. The graph's memory comes from a pool of its
own, kept alive with the graph: the addresses the capture recorded stay
the graph's.

What is specific to a graph — allocating a static buffer, copying into
it, reading a stacked array at the counter, capturing the step — is a
:class:`GraphDevice`: :class:`CupyDevice` on a GPU, :class:`NumpyDevice`
on the CPU, whose capture records the step as a closure and whose replay
runs it again on the same static buffers, so that the CPU tests see what a
stale buffer or a wrong row would do to a replay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from .chunks import GraphChunks, tree


class GraphDevice:
    """What a graph needs of a device: static buffers, copies into them, a
    device step counter, a row of a stacked array at it, and the capture.
    The copies, the counter and the rows are the namespace ``xp``'s own
    (NumPy's and CuPy's alike); buffers, pointers and the capture are each
    device's."""

    xp: Any

    def clone(self, a: Any) -> Any:
        """A new static buffer holding ``a``'s values."""
        raise NotImplementedError

    def copy_into(self, static: Any, value: Any) -> None:
        """``static[...] = value`` on the device."""
        self.xp.copyto(static, value)

    def counter(self, like: Any) -> Any:
        """A device integer buffer of shape ``(1,)``, zero."""
        return self.xp.zeros(1, dtype=self.xp.int64)

    def fill(self, buffer: Any, value: float) -> None:
        """Every element of ``buffer`` set to ``value`` (outside the graph)."""
        buffer.fill(value)

    def advance(self, counter: Any) -> None:
        """``counter += 1`` on the device (inside the graph)."""
        counter += 1

    def at(self, stacked: Any, index: Any) -> Any:
        """Row ``index[0]`` of ``stacked``, read on the device."""
        return self.xp.take(stacked, index, axis=0)[0]

    def pointer(self, a: Any) -> int:
        """Where ``a``'s data lives (part of a graph's key)."""
        raise NotImplementedError

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        """Run ``body`` once (warm-up), capture it, and return its replay."""
        raise NotImplementedError

    @contextlib.contextmanager
    def ordered(self) -> Iterator[None]:
        """Around one chunk: its work ordered after, and before, the caller's."""
        yield


class NumpyDevice(GraphDevice):
    """The CPU stand-in: NumPy buffers; the capture keeps ``body`` as a
    closure, and each replay runs it again against the same buffers."""

    def __init__(self) -> None:
        import numpy

        self.xp = numpy
        self.replaying = False

    def clone(self, a: Any) -> Any:
        return self.xp.array(a, copy=True)

    def pointer(self, a: Any) -> int:
        return int(a.__array_interface__["data"][0])

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        body()  # the warm-up a GPU capture needs: it leaves the buffers changed

        def replay() -> None:
            self.replaying = True
            try:
                body()
            finally:
                self.replaying = False

        return replay


class _Captured:
    """A CUDA graph with the stream it replays on and the memory pool its
    addresses come from (kept alive as long as the graph)."""

    def __init__(self, graph: Any, pool: Any, stream: Any) -> None:
        self.graph, self.pool, self.stream = graph, pool, stream

    def __call__(self) -> None:
        self.graph.launch(self.stream)


class CupyDevice(GraphDevice):
    """CuPy on the CUDA device ``device_id``: the graph is captured on a
    stream of its own, its products through :func:`.gemm.gemm_for`."""

    def __init__(self, device_id: int) -> None:
        import cupy

        self.xp, self.device_id = cupy, device_id
        with cupy.cuda.Device(device_id):
            self.stream = cupy.cuda.Stream(non_blocking=True)

    def clone(self, a: Any) -> Any:
        return a.copy()

    def pointer(self, a: Any) -> int:
        return int(a.data.ptr)

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        from .gemm import start

        cp = self.xp
        pool = cp.cuda.MemoryPool()
        with cp.cuda.Device(self.device_id), cp.cuda.using_allocator(pool.malloc), \
                self.stream:
            start(self.device_id).bind(self.stream.ptr)  # before the capture
            body()  # warm-up: kernels compiled, cuBLAS's workspace, the pool's sizes
            self.stream.synchronize()
            self.stream.begin_capture()
            try:
                body()
            finally:
                graph = self.stream.end_capture()
        return _Captured(graph, pool, self.stream)

    @contextlib.contextmanager
    def ordered(self) -> Iterator[None]:
        cp = self.xp
        with cp.cuda.Device(self.device_id):
            outer = cp.cuda.get_current_stream()
            self.stream.wait_event(outer.record())
            with self.stream:
                yield
            outer.wait_event(self.stream.record())


class _Graph:
    """One captured step and its static buffers, for one set of shapes."""

    def __init__(self, device: GraphDevice, raw: Any, params: Any, opt: Any, inputs: Any,
                 masks: Any, rates: Any, hypers: Any, batched: bool, weight: float) -> None:
        d, xp = device, device.xp
        self.device = d
        with d.ordered():
            self.p, self.o = tree(d.clone, params), tree(d.clone, opt)
            self.inputs = tree(d.clone, inputs) if batched else inputs  # X, Y stay the user's
            self.masks = None if masks is None else tree(d.clone, masks)
            self.rates, self.hypers = d.clone(rates), tree(d.clone, hypers)
            self.index, self.offset = d.counter(rates), d.counter(rates)
            self.out = xp.zeros((), dtype=rates.dtype)

        def body(want: bool) -> None:
            i = self.index
            X, Y = self.inputs
            if batched:
                j = i + self.offset
                X, Y = d.at(X, j), d.at(Y, j)
            masks_i = None if self.masks is None else {l: d.at(M, i)
                                                       for l, M in self.masks.items()}
            hyper_i = {n: d.at(v, i) for n, v in self.hypers.items()}
            new, J, new_opt = raw(self.p, self.o, X, Y, masks_i, d.at(self.rates, i), hyper_i,
                                  want)
            tree(d.copy_into, self.p, new)
            tree(d.copy_into, self.o, new_opt)
            if batched:
                d.copy_into(self.out, self.out + J * weight)
            elif want:
                d.copy_into(self.out, J)
            d.advance(i)

        # Full batch: the chunk's first step (its record point) runs outside
        # the graph with its cost, the same kernels; the graph has no cost.
        self.batched, self.first = batched, lambda: body(True)
        with d.ordered():
            self.replay = d.capture(lambda: body(batched))

    def run(self, params: Any, opt: Any, masks: Any, rates: Any, hypers: Any, k: int,
            offset: int, total: Any) -> tuple[Any, Any, Any]:
        d = self.device
        with d.ordered():
            tree(d.copy_into, self.p, params)
            tree(d.copy_into, self.o, opt)
            if self.masks is not None:
                tree(d.copy_into, self.masks, masks)
            d.copy_into(self.rates, rates)
            tree(d.copy_into, self.hypers, hypers)
            d.fill(self.index, 0)
            d.fill(self.offset, offset)
            if total is None:
                d.fill(self.out, 0)
            else:
                d.copy_into(self.out, total)
            for n in range(k):
                (self.replay if n or self.batched else self.first)()
            return tree(d.clone, self.p), tree(d.clone, self.o), d.clone(self.out)


class CupyGraphChunks(GraphChunks):
    """Chunks as CUDA-graph replays on CuPy (see the module's docstring and
    :class:`.chunks.GraphChunks`). ``device``: a :class:`GraphDevice`
    (:class:`CupyDevice` of ``cuda:0`` by default). Not yet verified on a
    GPU: a capture or a replay that fails sends the fit back to the per-step
    path (:attr:`falls_back`)."""

    falls_back = True

    def __init__(self, raw: Any, device: GraphDevice | None = None) -> None:
        super().__init__(raw)
        self._device = CupyDevice(0) if device is None else device

    def _new(self, *args: Any) -> _Graph:
        return _Graph(self._device, self._raw, *args)

    def _pointer(self, a: Any) -> int:
        return self._device.pointer(a)

    def _load(self, graph: Any, batches: tuple[Any, Any]) -> None:
        d = self._device
        with d.ordered():
            tree(d.copy_into, graph.inputs, batches)
