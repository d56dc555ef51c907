"""One training step, a pure function: forward propagation, the cost,
backward propagation (without the unused dA0) and the optimizer's update.

This is what the engines (:mod:`nnarray.engines`) run: eagerly, jitted,
as a compiled chunk or replayed as a CUDA graph. The step never mutates an
array and never knows which engine runs it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, overload

from . import losses, propagation
from .backend import Array, namespace
from .optimizers import GradientDescent, Optimizer


@dataclass(frozen=True)
class Settings:
    """What one training run does, besides the data."""

    hidden: str
    output: str
    learning_rate: float
    optimizer: Optimizer = field(default_factory=GradientDescent)
    l2: float = 0.0
    dropout: Mapping[int, float] = field(default_factory=dict)
    decay_rate: float = 0.0
    seed: int | None = 1
    matmul_precision: str = "highest"

    def rate(self, epoch: int) -> float:
        """α / (1 + decay_rate · epoch), the course's learning-rate decay."""
        return self.learning_rate / (1.0 + self.decay_rate * epoch)

    def rates(self, start: int, end: int) -> Rates:
        """:meth:`rate` of each of ``start .. end − 1``, computed as read."""
        return Rates(self, range(start, end))


class Rates(Sequence[float]):
    """The learning rates of the iterations ``steps`` (a ``range``), each
    computed when read: a stretch of a billion steps takes no memory."""

    def __init__(self, settings: Settings, steps: range) -> None:
        self._settings, self._steps = settings, steps

    @property
    def constant(self) -> bool:
        """True when every rate is the same (no decay: α / (1 + 0) is α)."""
        return not self._settings.decay_rate or len(self._steps) <= 1

    def __len__(self) -> int:
        return len(self._steps)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Rates: ...
    def __getitem__(self, index: int | slice) -> float | Rates:
        if isinstance(index, slice):
            return Rates(self._settings, self._steps[index])
        return self._settings.rate(self._steps[index])

    def __iter__(self) -> Iterator[float]:
        if not self._settings.decay_rate:
            return itertools.repeat(self._settings.learning_rate, len(self._steps))
        return map(self._settings.rate, self._steps)

    def __repr__(self) -> str:
        return f"Rates({self._steps.start}..{self._steps.stop - 1})"


def cost(
    parameters: Mapping[str, Array], X: Array, Y: Array, hidden: str, output: str,
    weights: Array | None = None,
) -> Array:
    """J(parameters) on (X, Y) as a 0-d device array, in the loss's stable form
    (``weights``: see ``losses.real_m``)."""
    AL, caches = propagation.model_forward(X, parameters, hidden, output)
    return losses.output_cost(caches[-1][1], AL, Y, output, weights)


def l2_cost(parameters: Mapping[str, Array], l2: float, m: int, xp: Any) -> Array:
    """(λ / 2m) Σ_l ‖W[l]‖², the L2 penalty added to J."""
    total = sum(xp.sum(W * W) for k, W in parameters.items() if k.startswith("W"))
    return (l2 / (2 * m)) * total


def gradients(
    parameters: Mapping[str, Array], X: Array, Y: Array, hidden: str, output: str, *,
    xp: Any, l2: float = 0.0, masks: Mapping[int, Array] | None = None,
    want_cost: bool = True, weights: Array | None = None, m: Any = None,
) -> tuple[dict[str, Array], Array | None]:
    """The gradients of J (with the L2 term dW += (λ/m) W and the dropout
    masks) and, when wanted, J itself: the training loop's forward and
    backward pass, without dA0. ``weights``: see ``losses.real_m``; ``m``:
    see ``propagation.model_backward``."""
    AL, caches = propagation._model_forward(X, parameters, hidden, output, xp=xp,
                                            keep_Z=False, masks=masks)
    J = losses.output_cost(caches[-1][1], AL, Y, output, weights) if want_cost else None
    grads = propagation._model_backward(AL, Y, caches, hidden, output, dA0=False, reuse=True,
                                        xp=xp, masks=masks, weights=weights, m=m)
    if l2:  # the count of examples here, not the m argument of model_backward
        count = X.shape[1] if weights is None else losses.real_m(weights, xp)
        grads = {k: (g + (l2 / count) * parameters[k[1:]] if k.startswith("dW") else g)
                 for k, g in grads.items()}
        if J is not None:
            J = J + l2_cost(parameters, l2, count, xp)
    return grads, J


def step(
    parameters: Mapping[str, Array], X: Array, Y: Array, hidden: str, output: str,
    learning_rate: float, want_cost: bool, xp: Any = None, *,
    settings: Settings | None = None, opt_state: Any = None,
    masks: Mapping[int, Array] | None = None, hyper: Mapping[str, Any] | None = None,
    weights: Array | None = None,
) -> tuple[dict[str, Array], Array | None, Any]:
    """One iteration; returns (new parameters, cost before the update or
    ``None``, the optimizer's new state).

    Without ``settings`` it is the lecture's gradient-descent step. With
    ``xp`` (the loop's namespace) the inputs are trusted: they were checked at
    the boundary, so no per-step checks run. ``masks`` are dropout masks
    (already divided by keep_prob) for the hidden layers they name. ``hyper``
    are the optimizer's host values for this step (``optimizer.hyper(t)``;
    computed from the state's ``t`` when omitted); with it, ``learning_rate``
    and ``hyper`` may be 0-d device arrays (a CUDA graph's scalars). On Dask
    the results are lazy; the training loop persists them after each step
    (``engines.compile_step``).
    """
    if xp is None:
        xp = namespace(X, Y, *parameters.values())
    s = settings or Settings(hidden, output, learning_rate)
    grads, J = gradients(parameters, X, Y, hidden, output, xp=xp, l2=s.l2, masks=masks,
                         want_cost=want_cost, weights=weights)
    state = s.optimizer.init(parameters) if opt_state is None else opt_state
    new, state = s.optimizer.update(parameters, grads, state, learning_rate, hyper, xp=xp)
    return new, J, state


@lru_cache(maxsize=64)
def raw_step(hidden: str, output: str, optimizer: Optimizer, l2: float,
             xp: Any) -> Callable[..., Any]:
    """The loop's step as a pure function of arrays:
    ``raw(parameters, opt_arrays, X, Y, masks, rate, hyper, want, weights=None,
    m=None) -> (parameters, J, opt_arrays)``, with the optimizer's step count
    left out (its host values come in as ``hyper``): what the engines run. The
    same operations as :func:`step`, whose inputs it trusts. ``m``: see
    ``propagation.model_backward``."""
    apply = optimizer.apply

    def raw(parameters: dict[str, Array], arrays: dict[str, Any], X: Array, Y: Array,
            masks: dict[int, Array] | None, rate: Any, hyper: dict[str, Any],
            want: bool, weights: Array | None = None, m: Any = None) -> Any:
        grads, J = gradients(parameters, X, Y, hidden, output, xp=xp, l2=l2, masks=masks,
                             want_cost=want, weights=weights, m=m)
        new, arrays = apply(parameters, grads, arrays, rate, hyper, xp)
        return new, J, arrays

    return raw
