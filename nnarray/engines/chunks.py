"""The interface of compiled chunks: several training steps run as one
unit on the device (JAX's compiled loop, torch's and CuPy's CUDA graphs)."""

from __future__ import annotations

from typing import Any

MASK_BYTES = 256 * 2**20
"""The most bytes of dropout masks one compiled chunk takes to the device;
a chunk whose masks would need more is split (see :class:`Chunks`)."""


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
