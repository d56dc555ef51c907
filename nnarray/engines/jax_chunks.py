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

    A full-batch chunk's record points (its first step when ``want``, its last
    when ``last``) run the step with its cost, from the step's own forward
    pass; the loop between them runs the step without it, with no branch. One
    step on its own is a chunk of one, with its cost only when wanted, so a
    step runs the same program on the per-step path (``on_iteration``,
    divergence replay) and in a chunk, and gives the same bits. Nothing is
    donated: the parameters at a chunk's start stay alive as the record
    point's checkpoint (divergence replay, early stopping), and the other
    inputs are the user's (X, Y) or used once."""

    steps_as_chunks = True
    host_operands = True  # jit's own dispatch copies NumPy operands
    costs_last = True

    def __init__(self, raw: Any, precision: str = "highest") -> None:
        import jax
        import jax.numpy as jnp
        from jax import lax

        self._jax, self._precision = jax, precision

        def full(params: Any, opt: Any, X: Any, Y: Any, masks: Any, rates: Any, hypers: Any,
                 k: Any, want: Any, last: Any, weights: Any) -> Any:
            def step(i: Any, p: Any, o: Any, cost: bool) -> Any:
                return raw(p, o, X, Y, _take(masks, i), rates[i], _take(hypers, i), cost,
                           weights)

            def costed(i: Any, p: Any, o: Any) -> Any:
                return step(i, p, o, True)

            def body(i: Any, carry: Any) -> Any:
                p, _, o = step(i, carry[0], carry[1], False)
                return p, o

            J0 = jnp.zeros((), dtype=rates.dtype)
            start = want.astype(k.dtype)  # the first step runs with its cost when wanted
            tail = last & (k - 1 >= start)  # and the last, when asked and not the first
            p, first, o = lax.cond(want, costed, lambda i, p, o: (p, J0, o), 0, params, opt)
            p, o = lax.fori_loop(start, k - tail.astype(k.dtype), body, (p, o))
            p, final, o = lax.cond(tail, costed, lambda i, p, o: (p, first, o), k - 1, p, o)
            return p, o, first, final

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
                                                   want, last, weights)
        if not want:
            first = None
        return params, opt, (first, final) if last else first

    def mini_batch(self, params: Any, opt: Any, Xb: Any, Yb: Any, masks: Any, rates: Any,
                   hypers: Any, offset: int, k: int, weight: float,
                   total: Any) -> tuple[Any, Any, Any]:
        with matmul_precision(self._precision):
            return self._batches(params, opt, Xb, Yb, masks, rates, hypers, offset, k, weight,
                                 total)
