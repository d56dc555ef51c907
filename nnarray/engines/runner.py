"""What the training loop asks the engines for: a :class:`Runner` of one
fit, which runs one step or a chunk of steps and supplies their per-step
host values (the rate, the optimizer's values, dropout masks)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from ..backend import Array, HostRandom, stacked, target_of
from ..optimizers import opt_arrays
from ..step import Rates, Settings, raw_step
from . import fused, gemm
from .chunks import MASK_BYTES, MAX_STEPS, Chunks, CudaContextError, FallbackWarning, sticky_error
from .eager import compile_step, jit_enabled


def chunks_enabled(backend: str, device: str) -> bool:
    """Whether :func:`chunk_runner` has a compiled path here: JAX anywhere,
    PyTorch on CUDA, CuPy on CUDA with nvmath-python (:func:`.gemm.available`);
    off with ``NNARRAY_NO_JIT``."""
    if not jit_enabled():
        return False
    if backend == "cupy":
        return device.startswith("cuda") and gemm.available()[0]
    return backend == "jax" or (backend == "torch" and device.startswith("cuda"))


def chunk_runner(raw: Any, backend: str, device: str,
                 precision: str = "highest") -> Chunks | None:
    """The compiled-chunk executor for ``raw`` on this backend and device, or
    ``None`` where steps run one by one (see :func:`chunks_enabled`).
    ``precision`` is JAX's ``matmul_precision``."""
    if not chunks_enabled(backend, device):
        return None
    if backend == "jax":
        from .jax_chunks import JaxChunks

        return JaxChunks(raw, precision)
    if backend == "cupy":
        from .cupy_graphs import CupyDevice, CupyGraphChunks

        return CupyGraphChunks(raw, CupyDevice(int(device.partition(":")[2] or 0)))
    from .torch_graphs import TorchGraphChunks

    return TorchGraphChunks(raw, capture=device.startswith("cuda"))


_fell_back: dict[tuple[str, str], str] = {}
"""Why the last fit on a backend and device fell back from its graph to
the per-step path (see :class:`Runner`); cleared by a chunk that runs."""


def describe(backend: str, device: str, record_every: int | None = None,
             per_step: bool = False) -> str:
    """Which path a fit runs here, in words: e.g. ``"cuda:0 (jax, compiled
    chunks of 100)"``, ``"cuda:0 (torch, CUDA graph, chunks of 100)"``,
    ``"cpu (numpy, step by step)"``, ``"cuda:0,cuda:1 (jax, compiled chunks
    of 100, data parallel over 2 devices)"``; on CuPy without nvmath-python,
    why the steps run one by one; after a fit whose graph failed, why it
    fell back. ``per_step`` (an ``on_iteration`` callback) runs the steps
    one by one."""
    devices = device.count(",") + 1
    spread = f", data parallel over {devices} devices" if devices > 1 else ""
    fell = _fell_back.get((backend, device))
    note = "" if fell is None else f"; its last fit fell back to step by step: {fell}"
    if chunks_enabled(backend, device) and not per_step:
        kind = "compiled chunks" if backend == "jax" else "CUDA graph, chunks"
        size = f" of {min(record_every, MAX_STEPS)}" if record_every else ""
        return f"{device} ({backend}, {kind}{size}{spread}{note})"
    how = "step by step"
    if backend == "jax" and jit_enabled():
        how = "jitted steps"
    elif backend == "cupy" and fused.enabled():
        how = "fused kernels, step by step"
    if backend == "cupy":
        graphs, why = gemm.available()
        how += "" if graphs else f": {why}"
    return f"{device} ({backend}, {how}{note})"


@lru_cache(maxsize=64)
def _step_function(raw: Callable[..., Any], backend_name: str, jit: bool,
                   precision: str = "highest") -> Callable[..., Any]:
    """The loop's one-step function, compiled once per process where the
    backend has a fast path (``jax.jit`` on JAX: see :func:`compile_step`)."""
    return compile_step(raw, backend_name, static_argnames=("want",), precision=precision)


@lru_cache(maxsize=64)
def _chunks(raw: Callable[..., Any], backend_name: str, device: str,
            jit: bool, precision: str = "highest") -> Chunks | None:
    return chunk_runner(raw, backend_name, device, precision)


class Runner:
    """Steps of one fit on the engine its arrays pick.

    ``like`` is an array of the parameters (their namespace, device and
    dtype); ``random`` the fit's host random stream (dropout masks);
    ``per_step`` forces one step at a time (an ``on_iteration`` callback).
    ``chunks`` is the compiled-chunk engine, or ``None`` where steps run one
    by one.

    An engine not yet verified on its hardware (``chunks.falls_back``: CuPy's
    CUDA graphs) is a guest: when a chunk fails in it (a capture refused or
    invalidated, memory run out), that chunk runs again step by step from
    the same start, the same random draws, and so does the rest of the fit,
    with one warning (:attr:`fallback` says why). A sticky CUDA error ends
    the fit with :class:`~nnarray.engines.CudaContextError`.
    """

    def __init__(self, settings: Settings, xp: Any, like: Array, dims: Mapping[int, int],
                 random: HostRandom, per_step: bool = False) -> None:
        self.s, self.like, self.dims, self.random = settings, like, dict(dims), random
        target = target_of(like)
        self.xp = gemm.training_namespace(fused.training_namespace(xp),
                                          cupy=target.backend == "cupy")
        raw = raw_step(settings.hidden, settings.output, settings.optimizer, settings.l2,
                       self.xp)
        precision = settings.matmul_precision
        self._step = _step_function(raw, target.backend, jit_enabled(), precision)
        self.chunks = _chunks(raw, target.backend, target.device, jit_enabled(), precision)
        if target.backend == "cupy" and not gemm.available()[0]:
            self.chunks = None  # cuBLAS's API failed since the engine was made
        self.per_step = self.chunks is None or per_step
        self.fallback: str | None = None
        """Why this fit's chunks run step by step after a failure (``None``: they don't)."""
        self._where = (target.backend, target.device)
        self.step_capacity = 1
        self._held: dict[str, tuple[Any, Array]] = {}

    def masks(self, m: int) -> dict[int, Array] | None:
        """One step's dropout masks for ``m`` columns (``None`` without dropout)."""
        if not self.s.dropout:
            return None
        return {l: self.random.dropout_mask((self.dims[l], m), keep, self.like)
                for l, keep in sorted(self.s.dropout.items())}

    def step(self, params: dict[str, Array], opt: dict[str, Any], X: Array, Y: Array,
             rate: float, want: bool, weights: Array | None = None) -> Any:
        """One step at the optimizer's step ``opt["t"] + 1``; returns
        ``(parameters, J or None, optimizer state)``."""
        if self.chunks is not None and self.chunks.steps_as_chunks and self.fallback is None:
            return self.chunk(params, opt, X, Y, [rate], self.step_capacity, weights, want=want)
        t = opt["t"]
        hyper: dict[str, Any] = self.s.optimizer.hyper(t + 1)
        step_rate: Any = rate
        if self.chunks is not None:
            # The chunks' operands, 0-d device arrays: CUDA divides by a Python
            # scalar as a product with its reciprocal, by a tensor exactly.
            step_rate = self.scalar(rate)
            hyper = {n: self.scalar(v) for n, v in hyper.items()}
        masks = self.masks(X.shape[1]) if self.s.dropout else None
        new, J, arrays = self._step(params, opt_arrays(opt), X, Y, masks, step_rate, hyper,
                                    want=want, weights=weights)
        return new, J, {**arrays, "t": t + 1}

    def steps(self, params: dict[str, Array], opt: dict[str, Any], X: Array, Y: Array,
              rates: Rates, weights: Array | None = None) -> Iterator[Any]:
        """One step per rate, without their costs: yields ``(parameters,
        optimizer state)`` after each, the same as :meth:`step` one by one."""
        if self.chunks is not None:  # 0-d device operands, or chunks of one
            for rate in rates:
                params, _, opt = self.step(params, opt, X, Y, rate, False, weights)
                yield params, opt
            return
        run, hyper, t, arrays = self._step, self.s.optimizer.hyper, opt["t"], opt_arrays(opt)
        dropout, m = self.s.dropout, X.shape[1]
        # A constant rate and m as 0-d arrays of the parameters' dtype: the same
        # products and quotients as by Python numbers, at half NumPy's cost for
        # small arrays.
        operands: Iterable[Any] = rates
        if len(rates) and rates.constant:
            operands = itertools.repeat(self.scalar(rates[0]), len(rates))
        m_array = self.scalar(m) if weights is None else None
        for rate in operands:
            t += 1
            masks = self.masks(m) if dropout else None
            params, _, arrays = run(params, arrays, X, Y, masks, rate, hyper(t), False, weights,
                                    m_array)
            yield params, {**arrays, "t": t}

    def scalar(self, value: float) -> Array:
        """``value`` as a 0-d array of the parameters' dtype, where they live."""
        return self.xp.reshape(stacked([value], 1, self.like), ())

    def capacity(self, wanted: int, m: int) -> int:
        """How many steps one chunk takes: ``wanted``, at most ``MAX_STEPS``,
        fewer when their dropout masks would exceed ``MASK_BYTES``."""
        wanted = min(wanted, MAX_STEPS)
        rows = sum(self.dims[l] for l in self.s.dropout)
        if not rows:
            return wanted
        itemsize = 8 if "64" in str(self.like.dtype) else 4
        return max(1, min(wanted, MASK_BYTES // (rows * m * itemsize)))

    def host_values(self, rates: Sequence[float], t: int, capacity: int,
                    m: int) -> tuple[Any, ...]:
        """The per-step host values of a chunk whose first step is the
        optimizer's step ``t + 1``, stacked to ``capacity`` on the device:
        rates, the optimizer's hyper values, dropout masks (drawn in the
        per-step path's order, from the same stream)."""
        values = list(rates)  # a chunk's: at most its capacity
        hyper = [self.s.optimizer.hyper(t + 1 + j) for j in range(len(rates))]
        hypers = {n: self.stacked(n, [h[n] for h in hyper], capacity) for n in hyper[0]}
        masks = None
        if self.s.dropout:
            shapes = {l: (self.dims[l], m) for l in self.s.dropout}
            masks = self.random.dropout_masks(shapes, self.s.dropout, len(rates), capacity,
                                              self.like)
        return self.stacked("rate", values, capacity), hypers, masks

    def stacked(self, name: str, values: list[float], capacity: int) -> Array:
        """``backend.stacked`` of a chunk's host values, the last vector of
        each name kept on the device: a constant rate is copied once a fit."""
        key = (tuple(values), capacity)
        held = self._held.get(name)
        if held is None or held[0] != key:
            on_host = self.chunks is not None and self.chunks.host_operands
            held = self._held[name] = (key, stacked(values, capacity, self.like, on_host))
        return held[1]

    def chunk(self, params: dict[str, Array], opt: dict[str, Any], X: Array, Y: Array,
              rates: Sequence[float], capacity: int, weights: Array | None = None,
              last: bool = False, want: bool = True) -> tuple[Any, Any, Any]:
        """``len(rates)`` full-batch steps as compiled chunks of at most
        ``capacity`` steps; returns the parameters, the cost before the first
        step (``None`` unless ``want``; with ``last``, where the engine's
        ``costs_last``: the pair of the costs before the first and the last
        step) and the optimizer state."""
        if self.fallback is None:
            if self.chunks is None or not self.chunks.falls_back:
                return self._chunk(params, opt, X, Y, rates, capacity, weights, last, want)
            random = self.random.state()
            try:
                done = self._chunk(params, opt, X, Y, rates, capacity, weights, last, want)
                _fell_back.pop(self._where, None)
                return done
            except Exception as exc:
                self._fall_back(exc)  # raises unless the engine is a guest
                self.random.restore(random)  # the steps draw the chunk's masks again
        J: Any = None
        J_last = None
        for j, rate in enumerate(rates):
            final = last and j == len(rates) - 1
            params, J_j, opt = self.step(params, opt, X, Y, rate, (want and j == 0) or final,
                                         weights)
            J = J_j if j == 0 and want else J
            J_last = J_j if final else J_last
        return params, (J, J_last) if last else J, opt

    def _fall_back(self, exc: Exception) -> None:
        """After a chunk failed with ``exc``: re-raise it unless the engine
        falls back; :class:`CudaContextError` for a sticky CUDA error; else
        warn once and run the rest of the fit step by step."""
        if self.chunks is None or not self.chunks.falls_back:
            raise exc
        name = sticky_error(exc)
        if name is not None:
            raise CudaContextError(
                f"{name}: the CUDA context is broken ({type(exc).__name__}: {exc}); the fit "
                f"stops (the parameters of its last finished chunk kept), and this process "
                f"cannot use the device again") from exc
        self.fallback = _fell_back[self._where] = f"{type(exc).__name__}: {exc}"
        self.chunks.drop()
        if isinstance(exc, gemm.GemmUnavailableError):
            return  # gemm warned already: one warning a fit
        warnings.warn(f"the {self.chunks.label} failed ({self.fallback}); this fit runs step "
                      f"by step from the start of this chunk, with the same results",
                      FallbackWarning, stacklevel=4)

    def _chunk(self, params: dict[str, Array], opt: dict[str, Any], X: Array, Y: Array,
               rates: Sequence[float], capacity: int, weights: Array | None, last: bool,
               want: bool) -> tuple[Any, Any, Any]:
        chunks = self._compiled()
        t, arrays = opt["t"], opt_arrays(opt)
        J, done = None, 0
        while done < len(rates):
            n = min(capacity, len(rates) - done)
            rate, hypers, masks = self.host_values(rates[done:done + n], t + done, capacity,
                                                   X.shape[1])
            final = last and done + n == len(rates)
            params, arrays, J_n = chunks.full_batch(params, arrays, X, Y, masks, rate, hypers,
                                                    n, want and done == 0, weights, last=final)
            if final:
                first, J_last = J_n
                J = (first if J is None else J, J_last)
            elif J is None:
                J = J_n
            done += n
        return params, J, {**arrays, "t": t + len(rates)}

    def mini_batches(self, params: dict[str, Array], opt: dict[str, Any], Xb: Array,
                     Yb: Array, rate: float, offset: int, k: int, capacity: int,
                     weight: float, total: Any) -> tuple[Any, Any, Any]:
        """Steps over the stacked batches ``Xb[offset .. offset + k − 1]`` as
        one compiled chunk; returns the parameters, the optimizer state and
        ``total`` plus the batches' costs times ``weight``."""
        t = opt["t"]
        if self.fallback is None:
            random = self.random.state() if self._compiled().falls_back else None
            try:
                rates, hypers, masks = self.host_values([rate] * k, t, capacity, Xb.shape[2])
                new, arrays, new_total = self._compiled().mini_batch(
                    params, opt_arrays(opt), Xb, Yb, masks, rates, hypers, offset, k, weight,
                    total)
                _fell_back.pop(self._where, None)
                return new, {**arrays, "t": t + k}, new_total
            except Exception as exc:
                self._fall_back(exc)  # raises unless the engine is a guest
                self.random.restore(random)  # type: ignore[arg-type]  # a guest's: set
        for j in range(offset, offset + k):  # as the per-step loop: costs added in step order
            params, J, opt = self.step(params, opt, Xb[j], Yb[j], rate, True)
            total = J * weight if total is None else total + J * weight
        return params, opt, total

    def _compiled(self) -> Chunks:
        if self.chunks is None:
            raise RuntimeError("no compiled-chunk engine here: steps run one by one")
        return self.chunks
