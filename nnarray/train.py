"""The training loop: full-batch gradient descent with a cost history.

One step is the lecture's iteration: forward propagation, the cost (only at
record points), backward propagation (without the unused dA0) and the update.
Costs stay on the device and become Python floats only at record points,
where divergence is checked too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import losses, propagation
from .backend import Array, materialize, namespace, to_float, to_numpy
from .optimizers import apply_gradients
from .progress import Progress


class DivergenceError(ArithmeticError):
    """The cost became NaN or inf; the network keeps its last finite parameters."""

    def __init__(self, iteration: int, learning_rate: float, cost: float) -> None:
        self.iteration = iteration
        self.learning_rate = learning_rate
        self.cost = cost
        super().__init__(
            f"training diverged: the cost is {cost} at iteration {iteration} with "
            f"learning_rate={learning_rate}; the parameters of the last finite step were "
            f"kept. Try a smaller learning rate (e.g. {learning_rate / 10:g})."
        )


@dataclass
class History:
    """Costs recorded before the update at iterations 0, k, 2k, ... and the last."""

    iterations: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)

    def record(self, iteration: int, cost: float) -> None:
        self.iterations.append(iteration)
        self.costs.append(cost)

    def __len__(self) -> int:
        return len(self.iterations)


@dataclass
class TrainState:
    """What a run has reached: read it after an error or Ctrl-C."""

    parameters: dict[str, Array]
    history: History = field(default_factory=History)


def cost(
    parameters: Mapping[str, Array], X: Array, Y: Array, hidden: str, output: str
) -> Array:
    """J(parameters) on (X, Y) as a 0-d device array, in the loss's stable form."""
    AL, caches = propagation.model_forward(X, parameters, hidden, output)
    return losses.output_cost(caches[-1][1], AL, Y, output)


def step(
    parameters: Mapping[str, Array], X: Array, Y: Array, hidden: str, output: str,
    learning_rate: float, want_cost: bool, xp: Any = None,
) -> tuple[dict[str, Array], Array | None]:
    """One gradient-descent iteration; returns (new parameters, cost before the
    update or ``None``). The cost is a 0-d device array.

    With ``xp`` (the loop's namespace) the inputs are trusted: they were
    checked at the boundary, so no per-step checks run.
    """
    if xp is None:
        xp = namespace(X, Y, *parameters.values())
    AL, caches = propagation.model_forward(X, parameters, hidden, output, xp=xp, keep_Z=False)
    cost = losses.output_cost(caches[-1][1], AL, Y, output) if want_cost else None
    grads = propagation.model_backward(AL, Y, caches, hidden, output, dA0=False, reuse=True,
                                       xp=xp)
    return materialize(apply_gradients(parameters, grads, learning_rate)), cost


def run(
    state: TrainState, X: Array, Y: Array, *, hidden: str, output: str, iterations: int,
    learning_rate: float, record_every: int, progress: bool = True,
) -> None:
    """Train ``state.parameters`` in place of the state (never of the arrays).

    After every completed step ``state.parameters`` holds the new parameters,
    so an interruption leaves the last completed step. On a NaN or inf cost,
    the steps since the last record point are replayed to find the first
    non-finite iteration; the state keeps the parameters before it and
    :class:`DivergenceError` is raised.
    """
    checkpoint: tuple[int, dict[str, Array]] | None = None
    xp = namespace(X, Y, *state.parameters.values())
    bar = Progress(iterations, progress)
    try:
        for i in range(iterations):
            want = i % record_every == 0 or i == iterations - 1
            new, cost = step(state.parameters, X, Y, hidden, output, learning_rate, want, xp)
            if want:
                c = to_float(cost)
                if not math.isfinite(c):
                    _diverged(state, checkpoint, i, c, X, Y, hidden, output, learning_rate)
                checkpoint = (i, state.parameters)
                state.history.record(i, c)
                bar.record(i, c)
            state.parameters = new
            bar.update()
    finally:
        bar.close()
    if iterations and not all_finite(state.parameters):
        last = checkpoint[1] if checkpoint else state.parameters
        state.parameters = last
        raise DivergenceError(iterations, learning_rate, math.nan)


def _diverged(
    state: TrainState, checkpoint: tuple[int, dict[str, Array]] | None, i: int, c: float,
    X: Array, Y: Array, hidden: str, output: str, learning_rate: float,
) -> None:
    """Replay from the last finite record point to the first non-finite cost."""
    if checkpoint is None:
        raise DivergenceError(i, learning_rate, c)
    j, params = checkpoint
    for t in range(j + 1, i + 1):
        new, _ = step(params, X, Y, hidden, output, learning_rate, False)
        c_new = to_float(cost(new, X, Y, hidden, output))
        if not math.isfinite(c_new):
            state.parameters = params
            raise DivergenceError(t, learning_rate, c_new)
        params = new
    state.parameters = params
    raise DivergenceError(i, learning_rate, c)


def all_finite(parameters: Mapping[str, Array]) -> bool:
    """True when no parameter holds NaN or inf (one host sync)."""
    values = list(parameters.values())
    xp = namespace(*values)
    return all(bool(to_numpy(xp.all(xp.isfinite(v)))) for v in values)


def check_iterations(iterations: Any, record_every: Any) -> tuple[int, int]:
    """``iterations >= 0`` and ``record_every >= 1`` as ints."""
    for name, value, low in (("iterations", iterations, 0), ("record_every", record_every, 1)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(iterations), int(record_every)
