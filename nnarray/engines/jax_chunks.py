"""Compiled chunks on JAX: k training steps as one ``jax.jit`` of
``lax.fori_loop`` over the loop's step."""

from __future__ import annotations

from typing import Any

from ..backend.precision import matmul_precision
from .chunks import Chunks


def _take(stacked: dict[Any, Any] | None, i: Any) -> dict[Any, Any] | None:
    """Entry ``i`` of every stacked array of a dict (``None`` stays ``None``)."""
    return None if stacked is None else {key: v[i] for key, v in stacked.items()}


class JaxChunks(Chunks):
    """One ``jax.jit`` of ``lax.fori_loop`` over the step: the step is traced,
    not rewritten; the trip count is an argument, so remainders don't
    recompile. float32 products run at ``precision="highest"`` (no TF32)
    unless ``precision="tf32"``.

    Every step of a full-batch chunk is the same program, cost included (from
    the step's own forward pass; the chunk keeps its first step's and, when
    asked, its last's), as in the CUDA-graph engines: a record point costs no
    second forward pass and the loop has no branch. One step on its own is a
    chunk of one, so the per-step path (``on_iteration``, divergence replay)
    and chunks give the same bits. Nothing is donated: the parameters at a
    chunk's start stay alive as the record point's checkpoint (divergence
    replay, early stopping), and the other inputs are the user's (X, Y) or
    used once."""

    steps_as_chunks = True
    host_operands = True  # jit's own dispatch copies NumPy operands
    costs_last = True

    def __init__(self, raw: Any, precision: str = "highest") -> None:
        import jax
        import jax.numpy as jnp
        from jax import lax

        self._jax, self._precision = jax, precision

        def full(params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any, hypers: Any,
                 k: Any, last: Any, weights: Any) -> Any:
            def body(i: Any, carry: Any) -> Any:
                p, o, first, final = carry
                p, J, o = raw(p, o, X, Y, _take(masks, i), rates[i], _take(hypers, i), True,
                              weights)
                return p, o, jnp.where(i == 0, J, first), jnp.where(i == last, J, final)

            J0 = jnp.zeros((), dtype=rates.dtype)
            return lax.fori_loop(0, k, body, (params, opt, J0, J0))

        def batches(params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                    hypers: Any, offset: Any, k: Any, weight: Any, total: Any) -> Any:
            def body(i: Any, carry: Any) -> Any:
                p, o, t = carry
                j = offset + i
                p, J, o = raw(p, o, Xb[j], Yb[j], _take(masks, i), rates[i], _take(hypers, i),
                              True)
                return p, o, t + J * weight

            if total is None:  # an epoch's first chunk
                total = jnp.zeros((), dtype=rates.dtype)
            return lax.fori_loop(0, k, body, (params, opt, total))

        self._full = jax.jit(full)
        self._batches = jax.jit(batches)

    def full_batch(self, params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any,
                   hypers: Any, k: int, want: bool, weights: Any = None,
                   last: bool = False) -> tuple[Any, Any, Any]:
        with matmul_precision(self._precision):
            params, opt, first, final = self._full(params, opt, X, Y, masks, rates, hypers, k,
                                                   k - 1 if last else -1, weights)
        return params, opt, (first, final) if last else first

    def mini_batch(self, params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                   hypers: Any, offset: int, k: int, weight: float,
                   total: Any) -> tuple[Any, Any, Any]:
        with matmul_precision(self._precision):
            return self._batches(params, opt, Xb, Yb, masks, rates, hypers, offset, k, weight,
                                 total)
