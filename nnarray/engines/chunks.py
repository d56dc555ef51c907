"""The interface of compiled chunks: several training steps run as one
unit on the device (JAX's compiled loop, torch's and CuPy's CUDA graphs)."""

from __future__ import annotations

from typing import Any


class FallbackWarning(RuntimeWarning):
    """A fast path failed and the verified per-step path runs instead (a
    CUDA graph refused or failed, cuBLAS through nvmath-python not loading)."""


class CudaContextError(RuntimeError):
    """A sticky CUDA error (an illegal address, a failed launch): the
    device's context is broken for the rest of the process, so a fit stops
    (no fallback: nothing more can run on that device)."""


STICKY = ("IllegalAddress", "ILLEGAL_ADDRESS", "LaunchFailure", "LAUNCH_FAILED",
          "IllegalInstruction", "ILLEGAL_INSTRUCTION", "MisalignedAddress",
          "MISALIGNED_ADDRESS", "HardwareStackError", "HARDWARE_STACK_ERROR", "InvalidPc",
          "INVALID_PC", "InvalidAddressSpace", "INVALID_ADDRESS_SPACE", "ECCUncorrectable",
          "ECC_UNCORRECTABLE", "cudaErrorAssert", "CUDA_ERROR_ASSERT", "LaunchTimeout",
          "LAUNCH_TIMEOUT")
"""The CUDA errors that break the context (``cudaError…`` and
``CUDA_ERROR_…`` names, as CuPy's runtime and driver errors say them)."""


def sticky_error(exc: BaseException) -> str | None:
    """The name of the sticky CUDA error ``exc`` (or what caused it) reports, or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{type(current).__name__}: {current}"
        for word in text.replace(":", " ").replace(",", " ").split():
            if any(name in word for name in STICKY):
                return word
        current = current.__cause__ or current.__context__
    return None


MASK_BYTES = 256 * 2**20
"""The most bytes of dropout masks one compiled chunk takes to the device;
a chunk whose masks would need more is split (see :class:`Chunks`)."""

MAX_STEPS = 4096
"""The most steps one compiled chunk takes: its per-step host values (rates,
the optimizer's values) are vectors of this length at most, whatever the
stretch between two record points; a longer stretch runs as several chunks."""


class Chunks:
    """Run several training steps as one unit on the device.

    ``raw(parameters, opt_arrays, X, Y, masks, rate, hyper, want)`` is the
    loop's step (a pure function of arrays, returning ``(parameters, J,
    opt_arrays)``); a chunk runs it ``k`` times. Per-step host values — the
    rate, the optimizer's ``hyper`` values, dropout masks — come in stacked
    along a first axis of length ``capacity`` (``k`` of them used), so that
    one program serves every chunk, the remainder included.

    - :meth:`full_batch`: steps on the same ``(X, Y)``; the first step
      returns its cost when ``want`` (and, with ``last``, where
      :attr:`costs_last`, the last step too: the cost is then the pair);
      ``weights``: per-example 0/1 weights of columns padded over a device
      set (``losses.real_m``).
    - :meth:`mini_batch`: steps ``offset .. offset + k − 1`` over batches
      stacked as ``Xb[j]``, ``Yb[j]``; returns the sum of the costs times
      ``weight`` (the batch's share of m), added in step order to ``total``
      (``None`` for an epoch's first chunk).
    """

    label = "compiled chunks"
    steps_as_chunks = False
    """True where one step on its own must run as a chunk of one to give the
    same bits as a chunk (a compiler that fuses differently otherwise)."""
    costs_last = False
    """True where :meth:`full_batch` takes ``last=True``: the cost before the
    chunk's last step too, so that a run's last record point needs no chunk
    of its own."""
    host_operands = False
    """True where the stacked per-step values may come as host NumPy arrays:
    the engine's dispatch copies them to the device itself, for less than a
    separate copy costs."""
    falls_back = False
    """True for an engine not yet verified on the hardware it targets: an
    error in it (but a sticky CUDA error) sends the fit back to the per-step
    path (:class:`~nnarray.engines.Runner`), with one warning."""

    def drop(self) -> None:
        """Forget what was compiled or captured (after a failure)."""

    def full_batch(self, params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any,
                   hypers: Any, k: int, want: bool, weights: Any = None,
                   last: bool = False) -> tuple[Any, Any, Any]:
        raise NotImplementedError

    def mini_batch(self, params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                   hypers: Any, offset: int, k: int, weight: float,
                   total: Any) -> tuple[Any, Any, Any]:
        raise NotImplementedError


def tree(fn: Any, *trees: Any) -> Any:
    """``fn`` over the arrays of nested dicts and tuples (``None`` stays)."""
    first = trees[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: tree(fn, *(t[k] for t in trees)) for k in first}
    if isinstance(first, tuple):
        return tuple(tree(fn, *parts) for parts in zip(*trees, strict=True))
    return fn(*trees)


def shapes(*trees: Any) -> tuple[Any, ...]:
    """The shapes and dtypes of every array of ``trees``: a graph's key."""
    found: list[Any] = []
    tree(lambda a: found.append((tuple(a.shape), str(a.dtype))), trees)
    return tuple(found)


class GraphChunks(Chunks):
    """Chunks as replays of one captured step (CUDA graphs). A graph is
    captured for the first chunk of each kind (full batch; mini-batches of
    one width: an epoch's full batches and its partial one) and kept while
    the shapes stay the same (and, full batch, X and Y), :attr:`KEPT` at
    most. An engine says how a graph is made (:meth:`_new`: an object with
    ``run(params, opt, masks, rates, hypers, k, offset, total)`` and the
    static ``inputs``), where an array's data lives (:meth:`_pointer`) and
    how an epoch's batches are copied into a graph (:meth:`_load`)."""

    label = "CUDA graph"
    KEPT = 3
    """The most graphs kept: a full batch's, and an epoch's full and partial batches'."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._graphs: dict[str, tuple[Any, Any]] = {}

    def _new(self, params: Any, opt: Any, inputs: Any, masks: Any, rates: Any, hypers: Any,
             batched: bool, weight: float) -> Any:
        raise NotImplementedError

    def _pointer(self, a: Any) -> int:
        raise NotImplementedError

    def _load(self, graph: Any, batches: tuple[Any, Any]) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        self._graphs.clear()

    def _graph(self, kind: str, key: Any, *args: Any) -> Any:
        held = self._graphs.get(kind)
        if held is None or held[0] != key:
            self._graphs.pop(kind, None)  # the old graph and its memory go first
            while len(self._graphs) >= self.KEPT:  # then the oldest of another kind
                self._graphs.pop(next(iter(self._graphs)))
            held = self._graphs[kind] = (key, self._new(*args))
        return held[1]

    def full_batch(self, params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any,
                   hypers: Any, k: int, want: bool, weights: Any = None,
                   last: bool = False) -> tuple[Any, Any, Any]:
        if last:
            raise ValueError("a CUDA graph returns the cost of its first step only")
        if weights is not None:
            raise ValueError("example weights (device sets) run on JAX only")
        key = (shapes(params, opt, masks, hypers, rates, X, Y), self._pointer(X),
               self._pointer(Y))
        graph = self._graph("full", key, params, opt, (X, Y), masks, rates, hypers, False, 0.0)
        return graph.run(params, opt, masks, rates, hypers, k, 0, None)

    def mini_batch(self, params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                   hypers: Any, offset: int, k: int, weight: float,
                   total: Any) -> tuple[Any, Any, Any]:
        key = (shapes(params, opt, masks, hypers, rates, Xb, Yb), weight)
        # an epoch's full batches and its partial batch: a graph each, kept side by side
        graph = self._graph(f"batches of {Xb.shape[2]}", key, params, opt, (Xb, Yb), masks,
                            rates, hypers, True, weight)
        if offset == 0:
            self._load(graph, (Xb, Yb))  # the epoch's shuffled batches
        return graph.run(params, opt, masks, rates, hypers, k, offset, total)
