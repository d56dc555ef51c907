"""How a training step runs: eager, jitted (JAX), persisted (Dask), or
several steps at once as a compiled chunk (JAX) or a CUDA graph (PyTorch)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar


def jit_enabled() -> bool:
    """False when the environment sets ``NNARRAY_NO_JIT`` (e.g. to debug or compare)."""
    return not os.environ.get("NNARRAY_NO_JIT")


def compile_step(fn: Any, backend: str, static_argnames: tuple[str, ...] = (),
                 precision: str = "highest") -> Any:
    """The training step as the loop runs it. JAX: ``jax.jit`` (the whole step
    becomes one XLA program; the optional fast path, off when the environment
    sets ``NNARRAY_NO_JIT=1``, tested to give the same parameters; float32
    products at ``precision="highest"``, TF32 only when ``precision="tf32"``).
    Dask: every
    array the step returns is computed once (``persist``), so that the graphs
    do not grow step after step. Every other backend: ``fn`` itself."""
    if backend == "dask":
        import dask

        return lambda *args, **kwargs: dask.persist(fn(*args, **kwargs))[0]
    if backend != "jax" or not jit_enabled():
        return fn
    import jax

    jitted = jax.jit(fn, static_argnames=static_argnames)

    def run(*args: Any, **kwargs: Any) -> Any:
        with matmul_precision(precision):
            return jitted(*args, **kwargs)

    return run


MASK_BYTES = 256 * 2**20
"""The most bytes of dropout masks one compiled chunk takes to the device;
a chunk whose masks would need more is split (see :class:`Chunks`)."""


def chunks_enabled(backend: str, device: str) -> bool:
    """Whether :func:`chunk_runner` has a compiled path here: JAX anywhere,
    PyTorch on CUDA; off with ``NNARRAY_NO_JIT``."""
    if not jit_enabled():
        return False
    return backend == "jax" or (backend == "torch" and device.startswith("cuda"))


class Chunks:
    """Run several training steps as one unit on the device.

    ``raw(parameters, opt_arrays, X, Y, masks, rate, hyper, want)`` is the
    loop's step (a pure function of arrays, returning ``(parameters, J,
    opt_arrays)``); a chunk runs it ``k`` times. Per-step host values — the
    rate, the optimizer's ``hyper`` values, dropout masks — come in stacked
    along a first axis of length ``capacity`` (``k`` of them used), so that
    one program serves every chunk, the remainder included.

    - :meth:`full_batch`: steps on the same ``(X, Y)``; the first step
      returns its cost when ``want``; ``weights``: per-example 0/1 weights
      of columns padded over a device set (``losses.real_m``).
    - :meth:`mini_batch`: steps ``offset .. offset + k − 1`` over batches
      stacked as ``Xb[j]``, ``Yb[j]``; returns the sum of the costs times
      ``weight`` (the batch's share of m), added in step order to ``total``
      (``None`` for an epoch's first chunk).
    """

    label = "compiled chunks"
    steps_as_chunks = False
    """True where one step on its own must run as a chunk of one to give the
    same bits as a chunk (a compiler that fuses differently otherwise)."""

    def full_batch(self, params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any,
                   hypers: Any, k: int, want: bool,
                   weights: Any = None) -> tuple[Any, Any, Any]:
        raise NotImplementedError

    def mini_batch(self, params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                   hypers: Any, offset: int, k: int, weight: float,
                   total: Any) -> tuple[Any, Any, Any]:
        raise NotImplementedError


def _take(stacked: dict[Any, Any] | None, i: Any) -> dict[Any, Any] | None:
    """Entry ``i`` of every stacked array of a dict (``None`` stays ``None``)."""
    return None if stacked is None else {key: v[i] for key, v in stacked.items()}


class JaxChunks(Chunks):
    """One ``jax.jit`` of ``lax.fori_loop`` over the step: the step is traced,
    not rewritten; the trip count is an argument, so remainders don't
    recompile. float32 products run at ``precision="highest"`` (no TF32)
    unless ``precision="tf32"``.

    Every step of a full-batch chunk is the same program: the update, and
    the cost (the record point's) only where the step is the chunk's first
    (``lax.cond``), so the other steps skip it. One step on its own is a
    chunk of one, so the per-step path (``on_iteration``, divergence replay)
    and chunks give the same bits. Nothing is donated: the parameters at a chunk's start stay
    alive as the record point's checkpoint (divergence replay, early
    stopping), and the other inputs are the user's (X, Y) or used once."""

    steps_as_chunks = True

    def __init__(self, raw: Any, precision: str = "highest") -> None:
        import jax
        from jax import lax

        self._jax, self._precision = jax, precision

        def full(params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any, hypers: Any,
                 k: Any, weights: Any) -> Any:
            def body(i: Any, carry: Any) -> Any:
                p, o, first = carry
                step = (X, Y, _take(masks, i), rates[i], _take(hypers, i))
                J = lax.cond(i == 0, lambda: raw(p, o, *step, True, weights)[1],
                             lambda: first)
                p, _, o = raw(p, o, *step, False, weights)
                return p, o, J

            J0 = jax.numpy.zeros((), dtype=rates.dtype)
            return lax.fori_loop(0, k, body, (params, opt, J0))

        def batches(params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                    hypers: Any, offset: Any, k: Any, weight: Any, total: Any) -> Any:
            def body(i: Any, carry: Any) -> Any:
                p, o, t = carry
                j = offset + i
                p, J, o = raw(p, o, Xb[j], Yb[j], _take(masks, i), rates[i], _take(hypers, i),
                              True)
                return p, o, t + J * weight

            if total is None:  # an epoch's first chunk
                total = jax.numpy.zeros((), dtype=rates.dtype)
            return lax.fori_loop(0, k, body, (params, opt, total))

        self._full = jax.jit(full)
        self._batches = jax.jit(batches)

    def full_batch(self, params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any,
                   hypers: Any, k: int, want: bool,
                   weights: Any = None) -> tuple[Any, Any, Any]:
        with matmul_precision(self._precision):
            return self._full(params, opt, X, Y, masks, rates, hypers, k, weights)

    def mini_batch(self, params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                   hypers: Any, offset: int, k: int, weight: float,
                   total: Any) -> tuple[Any, Any, Any]:
        with matmul_precision(self._precision):
            return self._batches(params, opt, Xb, Yb, masks, rates, hypers, offset, k, weight,
                                 total)


def chunk_runner(raw: Any, backend: str, device: str,
                 precision: str = "highest") -> Chunks | None:
    """The compiled-chunk executor for ``raw`` on this backend and device, or
    ``None`` where steps run one by one (see :func:`chunks_enabled`).
    ``precision`` is JAX's ``matmul_precision``."""
    if not chunks_enabled(backend, device):
        return None
    if backend == "jax":
        return JaxChunks(raw, precision)
    from .graphs import TorchGraphChunks

    return TorchGraphChunks(raw, capture=device.startswith("cuda"))


def describe(backend: str, device: str, record_every: int | None = None,
             per_step: bool = False) -> str:
    """Which path a fit runs here, in words: e.g. ``"cuda:0 (jax, compiled
    chunks of 100)"``, ``"cuda:0 (torch, CUDA graph, chunks of 100)"``,
    ``"cpu (numpy, step by step)"``, ``"cuda:0,cuda:1 (jax, compiled chunks
    of 100, data parallel over 2 devices)"``. ``per_step`` (an
    ``on_iteration`` callback) runs the steps one by one."""
    devices = device.count(",") + 1
    spread = f", data parallel over {devices} devices" if devices > 1 else ""
    if chunks_enabled(backend, device) and not per_step:
        kind = "compiled chunks" if backend == "jax" else "CUDA graph, chunks"
        size = f" of {record_every}" if record_every else ""
        return f"{device} ({backend}, {kind}{size}{spread})"
    how = "step by step"
    if backend == "jax" and jit_enabled():
        how = "jitted steps"
    elif backend == "cupy":
        from . import fused

        if fused.enabled():
            how = "fused kernels, step by step"
    return f"{device} ({backend}, {how})"


MATMUL_PRECISIONS = ("highest", "tf32")
"""``matmul_precision`` values: ``"highest"`` (the default: true float32
products, relative error ~4e-7, as NumPy, CuPy and PyTorch give) or
``"tf32"`` (JAX only: TensorFloat-32 products on a GPU that has them, faster,
relative error ~3e-4 on the cat net's first layer; no change on a CPU)."""


def check_matmul_precision(value: Any) -> str:
    """``value`` if it names a ``matmul_precision``, else ``ValueError``."""
    if value not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul_precision must be one of {list(MATMUL_PRECISIONS)}, "
                         f"got {value!r}")
    return value


def matmul_precision(value: str = "highest") -> Any:
    """A context in which JAX runs float32 products at ``value`` (see
    :data:`MATMUL_PRECISIONS`); nothing to do when JAX was never imported."""
    jax = sys.modules.get("jax")
    if jax is None:
        return contextlib.nullcontext()
    return jax.default_matmul_precision("tensorfloat32" if value == "tf32" else "highest")


_P = ParamSpec("_P")
_R = TypeVar("_R")


class Wrapped(Protocol[_P, _R]):
    """What :func:`highest_precision` makes of a function: called as the
    function is, and the function itself as ``__wrapped__``."""

    __wrapped__: Callable[_P, _R]

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R: ...


def highest_precision(fn: Callable[_P, _R]) -> Wrapped[_P, _R]:
    """Run ``fn`` (a function of the functional API) with JAX's float32
    products at ``precision="highest"``: the math uses ``@``, which takes
    the precision from this context, not from an argument. The training loop
    (which passes ``xp=``) sets the precision itself, once per chunk."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs.get("xp") is not None or "jax" not in sys.modules:
            return fn(*args, **kwargs)
        with matmul_precision("highest"):
            return fn(*args, **kwargs)

    return wrapper
