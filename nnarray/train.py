"""The training loop: full batch (the lecture) or mini-batches, any optimizer,
L2 and dropout, validation with early stopping, callbacks.

One step is the lecture's iteration: forward propagation, the cost (only at
record points), backward propagation (without the unused dA0) and the update.
Costs stay on the device and become Python floats only at record points (full
batch) or once per epoch (mini-batches), where divergence is checked too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .backend import (
    Array,
    HostRandom,
    Stream,
    StreamDataError,
    check_integer,
    namespace,
    sharding,
    target_of,
    to_float,
    to_numpy,
)
from .engines import Runner, compile_step
from .progress import Progress
from .step import Settings, cost


class DivergenceError(ArithmeticError):
    """The cost (or the parameters) became NaN or inf; the network keeps its
    last finite parameters. ``kept`` says which those are, ``what`` what
    went non-finite (default: the cost at ``iteration``)."""

    def __init__(self, iteration: int, learning_rate: float, cost: float,
                 unit: str = "iteration", *, kept: str | None = None,
                 what: str | None = None) -> None:
        self.iteration = iteration
        self.learning_rate = learning_rate
        self.cost = cost
        what = what or f"the cost is {cost} at {unit} {iteration}"
        kept = kept or "the parameters of the last finite step were kept"
        super().__init__(
            f"training diverged: {what} with learning_rate={learning_rate}; {kept}. "
            f"Try a smaller learning rate (e.g. {learning_rate / 10:g})."
        )


class CostRoseWarning(RuntimeWarning):
    """The last recorded cost exceeds the first: the run blew up and stayed
    finite (a learning rate too large, most often)."""


ROSE_TOLERANCE = 0.01
"""A last recorded cost within this share above the first does not warn
(:func:`cost_rose`): a flat run's noise is no blow-up."""

ROSE_FACTOR = 10.0
"""Mini-batches: a last epoch's cost above this many times the starting
parameters' cost warns (:func:`cost_rose`)."""


def cost_rose(history: History, learning_rate: float,
              start: float | None = None) -> str | None:
    """What :class:`CostRoseWarning` says when ``history``'s last cost
    exceeds its first, J[last] > J[0] (by more than ``ROSE_TOLERANCE`` of
    it), or (mini-batches) ``ROSE_FACTOR``
    times ``start``, the starting parameters' cost (an epoch's mean already
    holds a blow-up within it); ``None`` when neither."""
    costs = history.costs
    if not costs:
        return None
    unit = "epoch" if history.epochs else "iteration"
    points = history.epochs or history.iterations
    if start is not None and costs[-1] > ROSE_FACTOR * start:
        since = f"{start:.6g} (the starting parameters')"
    elif len(costs) >= 2 and costs[-1] > costs[0] + ROSE_TOLERANCE * abs(costs[0]):
        since = f"{costs[0]:.6g} at {unit} {points[0]}"
    else:
        return None
    return (f"the cost rose over the run, from {since} to {costs[-1]:.6g} at {unit} "
            f"{points[-1]}: learning_rate={learning_rate:g} is likely too large; try a "
            f"smaller one (e.g. {learning_rate / 10:g})")


@dataclass
class History:
    """Costs recorded before the update at iterations 0, k, 2k, ... and the last
    (full batch), or once per epoch (mini-batches: ``epochs`` is filled and each
    cost is the epoch's mean mini-batch cost). ``val_costs`` holds the
    validation cost at the same points when a validation set is given."""

    iterations: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    val_costs: list[float] = field(default_factory=list)
    stopped_early: bool = False

    def record(self, iteration: int, cost: float) -> None:
        """Append one recorded cost."""
        self.iterations.append(iteration)
        self.costs.append(cost)

    def __len__(self) -> int:
        return len(self.iterations)


@dataclass
class TrainState:
    """What a run has reached: read it after an error or Ctrl-C."""

    parameters: dict[str, Array]
    history: History = field(default_factory=History)
    opt_state: Any = None


@dataclass
class Extras:
    """Optional parts of a run: validation data, early stopping, callbacks."""

    validation: tuple[Any, Any] | None = None
    """``(X_val, Y_val)`` where the network computes, or ``(a Stream, None)``."""
    patience: int | None = None
    on_iteration: Callable[[int], Any] | None = None
    on_epoch: Callable[[int, History], Any] | None = None
    checkpoint: Callable[[Snapshot], Any] | None = None
    checkpoint_every: int = 0
    resume: Snapshot | None = None
    examples: Any = None
    """X's and Y's columns split over a device set (``backend.sharding.Examples``:
    the padding's weights, the real columns), or ``None``."""
    validation_examples: Any = None


@dataclass
class Snapshot:
    """Where a run stands, for a checkpoint and an exact resume: at a record
    point before its step (full batch: ``position`` is the iteration to run
    next) or at an epoch's end (mini-batches: ``position`` is the epochs
    done, ``step_count`` the steps)."""

    position: int
    parameters: dict[str, Array]
    opt_state: dict[str, Any]
    random_state: dict[str, Any]
    history: History
    best: tuple[float, dict[str, Array]] | None = None
    waited: int = 0
    step_count: int = 0


class _Loop:
    """What the full-batch and mini-batch loops share: the state, the data,
    the engine's :class:`~nnarray.engines.Runner`, early stopping's record."""

    def __init__(self, state: TrainState, X: Array, Y: Array, settings: Settings,
                 extras: Extras) -> None:
        self.state, self.X, self.Y, self.s, self.extras = state, X, Y, settings, extras
        self.random = HostRandom(settings.seed)
        self.best: tuple[float, dict[str, Array]] | None = None
        self.waited = 0
        if state.opt_state is None:
            state.opt_state = settings.optimizer.init(state.parameters)
        dims = {int(k[1:]): W.shape[0] for k, W in state.parameters.items()
                if k.startswith("W")}
        self.runner = Runner(settings, namespace(X, Y, *state.parameters.values()),
                             state.parameters["W1"], dims, self.random,
                             per_step=extras.on_iteration is not None)
        self.xp = self.runner.xp
        self.weights = None if extras.examples is None else extras.examples.weights

    def step(self, X: Array, Y: Array, rate: float, want: bool) -> Any:
        """One step from the state's parameters (the state unchanged)."""
        return self.runner.step(self.state.parameters, self.state.opt_state, X, Y, rate, want,
                                self.weights if X is self.X else None)

    def snapshot(self, position: int, step_count: int = 0) -> Snapshot:
        """What an exact resume from here needs (the history copied)."""
        h = self.state.history
        history = History(list(h.iterations), list(h.costs), list(h.epochs),
                          list(h.val_costs), h.stopped_early)
        return Snapshot(position, self.state.parameters, self.state.opt_state,
                        self.random.state(), history, self.best, self.waited, step_count)

    def resume(self) -> tuple[int, int]:
        """Continue from ``extras.resume``; returns ``(position, step_count)``."""
        r = self.extras.resume
        if r is None:
            return 0, 0
        self.state.parameters, self.state.opt_state = r.parameters, r.opt_state
        h = self.state.history
        h.iterations[:], h.costs[:], h.epochs[:] = r.history.iterations, r.history.costs, \
            r.history.epochs
        h.val_costs[:] = r.history.val_costs
        self.random.restore(r.random_state)
        self.best, self.waited = r.best, r.waited
        return r.position, r.step_count

    def checkpoint_due(self, done: int, start: int, total: int) -> bool:
        """Whether to write a checkpoint with ``done`` iterations or epochs
        behind (not at the start, not at the end)."""
        every = self.extras.checkpoint_every
        return (self.extras.checkpoint is not None and every > 0 and done % every == 0
                and start < done < total)

    def validate(self) -> bool:
        """Record the validation cost; True when early stopping says stop."""
        if self.extras.validation is None:
            return False
        Xv, Yv = self.extras.validation
        if isinstance(Xv, Stream):
            try:
                v = stream_cost(self.state.parameters, Xv, self.s.hidden, self.s.output)
            except StreamDataError as exc:  # named as fit() names validation's errors
                raise StreamDataError(f"validation (X_val, Y_val): {exc}") from None
        else:
            placed = self.extras.validation_examples
            v = to_float(cost(self.state.parameters, Xv, Yv, self.s.hidden, self.s.output,
                              None if placed is None else placed.weights))
        self.state.history.val_costs.append(v)
        if self.best is None or v < self.best[0]:
            self.best, self.waited = (v, self.state.parameters), 0
            return False
        self.waited += 1
        if self.extras.patience is not None and self.waited >= self.extras.patience:
            self.state.parameters = self.best[1]
            self.state.history.stopped_early = True
            return True
        return False


def run(
    state: TrainState, X: Array, Y: Array, *, hidden: str, output: str, iterations: int,
    learning_rate: float, record_every: int, progress: bool = True,
    settings: Settings | None = None, extras: Extras | None = None,
) -> None:
    """Full-batch training of ``state.parameters`` (the state changes, never an array).

    After every completed step ``state.parameters`` holds the new parameters,
    so an interruption leaves the last completed step. On a NaN or inf cost,
    the steps since the last record point are replayed to find the first
    non-finite iteration; the state keeps the parameters before it and
    :class:`DivergenceError` is raised. With a validation set and ``patience``,
    training stops after ``patience`` record points without a better
    validation cost and keeps the best parameters.

    Where the backend compiles chunks (JAX; PyTorch on CUDA: see
    :mod:`nnarray.engines`), the steps between two record points run as one
    unit, with the same results: then "after every completed step" reads
    "after every completed chunk". ``extras.on_iteration`` runs the steps one
    by one.
    """
    s = settings or Settings(hidden, output, learning_rate)
    ex = extras or Extras()
    loop = _Loop(state, X, Y, s, ex)
    start, _ = loop.resume()
    checkpoint = None
    bar = Progress(iterations - start, progress)
    points = RecordPoints(start, iterations, record_every)
    runner = loop.runner
    capacity = runner.step_capacity = runner.capacity(record_every, X.shape[1])
    # The run's last record point (iterations − 1) read from the chunk of the
    # point before it, as that chunk's last cost, where the engine gives one
    # and nothing is validated or checkpointed there: one chunk less a run.
    tail = (not runner.per_step and runner.chunks is not None and runner.chunks.costs_last
            and ex.validation is None and len(points) > 1
            and iterations - points[-2] <= capacity
            and not loop.checkpoint_due(points[-1], start, iterations))
    try:
        for n, i in enumerate(points):
            last = tail and n == len(points) - 2
            end = iterations if last else points[n + 1] if n + 1 < len(points) else iterations
            # full batch, only dropout draws: without it the random state never moves
            before = (i, state.parameters, state.opt_state,
                      loop.random.state() if s.dropout else None)
            # the state at i, written once the cost at i is known finite: a
            # diverging run leaves the last good checkpoint as it was
            snap = loop.snapshot(i) if loop.checkpoint_due(i, start, iterations) else None
            if runner.per_step:
                new, J, opt_state = loop.step(X, Y, s.rate(i), True)
            else:
                new, J, opt_state = runner.chunk(state.parameters, state.opt_state, X, Y,
                                                 s.rates(i, end), capacity, loop.weights,
                                                 last)
            J, J_last = J if last else (J, None)  # the pair of a chunk up to the end
            c = to_float(J)
            if not math.isfinite(c):
                _replay(loop, checkpoint, i, c)
            if snap is not None:
                ex.checkpoint(snap)  # type: ignore[misc]
            checkpoint = before
            state.history.record(i, c)
            bar.record(i, c)
            if loop.validate():
                return
            state.parameters, state.opt_state = new, opt_state
            if runner.per_step:
                _after_step(ex, bar, i)
                steps = runner.steps(new, opt_state, X, Y, s.rates(i + 1, end), loop.weights)
                if ex.on_iteration is None and not bar.counts_steps:
                    for state.parameters, state.opt_state in steps:
                        pass
                else:
                    for t, (state.parameters, state.opt_state) in enumerate(steps, i + 1):
                        _after_step(ex, bar, t)
            else:
                bar.update(end - i)
            if J_last is not None:
                c = to_float(J_last)
                if not math.isfinite(c):
                    _replay(loop, checkpoint, points[-1], c)
                state.history.record(points[-1], c)
                bar.record(points[-1], c)
                break
    finally:
        bar.close()
    if iterations and not all_finite(state.parameters):
        kept = None
        if checkpoint is not None:  # the parameters at the last record point
            state.parameters = checkpoint[1]
            at = checkpoint[0]
            if tail:  # the checkpoint is the point before it: the steps between replayed
                state.parameters = _steps_to(loop, checkpoint, points[-1])
                at = points[-1]
            kept = f"the parameters of iteration {at} (its cost finite) were kept"
        raise DivergenceError(iterations, s.learning_rate, math.nan, kept=kept,
                              what=f"the parameters hold NaN or inf after iteration "
                                   f"{iterations - 1}")


class RecordPoints:
    """The record points from ``start`` on, computed as read: the multiples
    of ``record_every`` below ``iterations``, then ``iterations − 1``. A run
    of a billion iterations takes no memory before its first step."""

    def __init__(self, start: int, iterations: int, record_every: int) -> None:
        first = -(-start // record_every) * record_every  # the first multiple >= start
        self._every = range(first, iterations, record_every)
        self._last = iterations - 1
        self._extra = self._last >= start and (not self._every or self._every[-1] != self._last)

    def __len__(self) -> int:
        return len(self._every) + self._extra

    def __iter__(self) -> Iterator[int]:
        yield from self._every
        if self._extra:
            yield self._last

    def __getitem__(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"record point {index} of {n}")
        index %= n
        return self._every[index] if index < len(self._every) else self._last


def _steps_to(loop: _Loop, checkpoint: Any, end: int) -> dict[str, Array]:
    """The parameters at iteration ``end``, replayed from a record point's checkpoint."""
    j, params, opt_state, random_state = checkpoint
    if random_state is not None:
        loop.random.restore(random_state)
    steps = loop.runner.steps(params, opt_state, loop.X, loop.Y, loop.s.rates(j, end),
                              loop.weights)
    for state in steps:
        params = state[0]
    return params


def _after_step(ex: Extras, bar: Progress, i: int) -> None:
    if ex.on_iteration is not None:
        ex.on_iteration(i)
    bar.update()


def _replay(loop: _Loop, checkpoint: Any, i: int, c: float) -> None:
    """Replay from the last finite record point to the first non-finite cost;
    keep the parameters before it and raise :class:`DivergenceError`."""
    state, s = loop.state, loop.s
    if checkpoint is None:  # the run's first record point: no step was taken
        raise DivergenceError(i, s.learning_rate, c,
                              kept="the parameters the run started from were kept")
    j, params, opt_state, random_state = checkpoint
    if random_state is not None:
        loop.random.restore(random_state)
    state.parameters, state.opt_state = params, opt_state
    last_finite = (params, opt_state)  # the cost at j was finite
    for t in range(j, i + 1):
        new, J, new_opt = loop.step(loop.X, loop.Y, s.rate(t), True)
        c_t = to_float(J)
        if not math.isfinite(c_t):
            state.parameters, state.opt_state = last_finite
            raise DivergenceError(t, s.learning_rate, c_t)
        last_finite = (state.parameters, state.opt_state)
        state.parameters, state.opt_state = new, new_opt
    state.parameters, state.opt_state = last_finite
    raise DivergenceError(i, s.learning_rate, c)


def run_epochs(
    state: TrainState, X: Array, Y: Array, *, settings: Settings, epochs: int,
    batch_size: int, progress: bool = True, extras: Extras | None = None,
) -> None:
    """Mini-batch training: each epoch shuffles the m columns with a host-side
    seeded permutation (the same on every backend), then steps through batches
    of ``batch_size`` (the last one partial). One host sync per epoch.

    Where the backend compiles chunks, an epoch's full batches run as one
    unit (gathered on the device from the epoch's permutation, split only
    when their dropout masks would exceed ``MASK_BYTES``) and the partial
    batch as a chunk of one of its own shape, so that shapes stay static;
    the results are the same as step by step. Streamed data (a :class:`~nnarray.backend.Stream`
    as X, Y ``None``) trains with :func:`run_stream`."""
    if isinstance(X, Stream):
        return run_stream(state, X, settings=settings, epochs=epochs, batch_size=batch_size,
                          progress=progress, extras=extras)
    ex = extras or Extras()
    loop = _Loop(state, X, Y, settings, ex)
    xp, m = loop.xp, X.shape[1] if ex.examples is None else ex.examples.m
    full = m // batch_size
    runner = loop.runner
    chunked = runner.chunks is not None and (
        not runner.per_step or runner.chunks.steps_as_chunks)
    capacity = runner.capacity(max(full, 1), batch_size) if chunked else 0
    shuffled = _shuffled(target_of(X).backend) if chunked else None
    first, step_count = loop.resume()
    bar = Progress((epochs - first) * len(range(0, m, batch_size)), progress)
    try:
        for epoch in range(first, epochs):
            start_params, start_opt = state.parameters, state.opt_state
            order = _epoch_order(loop, X, m, batch_size, epoch)
            rate, total = settings.rate(epoch), None
            if shuffled is not None:
                Xb, Yb, Xp, Yp = shuffled(X, Y, order, full=full, batch_size=batch_size)
                total = _epoch_chunks(loop, Xb, Yb, full, m, capacity, rate, bar, step_count)
                step_count += full
                if Xp.shape[2]:  # the partial batch: a chunk of one, of its own shape
                    total = _epoch_chunks(loop, Xp, Yp, 1, m, 1, rate, bar, step_count, total)
                    step_count += 1
            else:
                Xs, Ys = xp.take(X, order, axis=1), xp.take(Y, order, axis=1)
                # min(): the standard leaves out-of-bounds stops undefined
                for a in range(0, m, batch_size):
                    total = _batch(loop, Xs[:, a:min(a + batch_size, m)],
                                   Ys[:, a:min(a + batch_size, m)], rate, m, total, bar,
                                   step_count)
                    step_count += 1
            if _end_epoch(loop, bar, total, (start_params, start_opt), epoch, step_count,
                          first, epochs):
                return
    finally:
        bar.close()


def _batch(loop: _Loop, Xb: Array, Yb: Array, rate: float, m: int, total: Any,
           bar: Progress, step_count: int) -> Any:
    """One mini-batch step (the new parameters left in ``loop.state``);
    returns the epoch's cost so far, each batch's J weighted by its share of m."""
    state = loop.state
    state.parameters, J, state.opt_state = loop.step(Xb, Yb, rate, True)
    _after_step(loop.extras, bar, step_count)
    weighted = J * (Xb.shape[1] / m)
    return weighted if total is None else total + weighted


def _epoch_order(loop: _Loop, X: Array, m: int, batch_size: int, epoch: int) -> Array:
    """The shuffle of an epoch, as indices of X's columns where X lives: a
    permutation of the m columns from the host seed stream; on a device set,
    of its real columns; over several processes, each process's own shuffle
    (``backend.sharding.process_shuffle``)."""
    examples = loop.extras.examples
    if examples is None or len(examples.counts) <= 1:
        return loop.random.permutation(m, like=X,
                                       among=None if examples is None else examples.real)
    return target_of(X).put(sharding.process_shuffle(examples, batch_size, loop.s.seed, epoch))


def _end_epoch(loop: _Loop, bar: Progress, total: Any, start: tuple[Any, Any], epoch: int,
               step_count: int, first: int, epochs: int) -> bool:
    """An epoch's record: its cost ``total`` (divergence puts back ``start``,
    the parameters and optimizer state before the epoch, and raises),
    validation, checkpoint and ``on_epoch``. True when early stopping says stop."""
    state, ex = loop.state, loop.extras
    c = to_float(total)  # m >= 1: a batch or more, so total is set
    if not math.isfinite(c):
        state.parameters, state.opt_state = start
        if epoch == first or all_finite(state.parameters):
            kept = f"the parameters from before epoch {epoch} were kept"
        else:  # a step at the end of the last epoch, after its last cost
            kept = (f"the last step of epoch {epoch - 1} (its mean cost finite) had already "
                    "left NaN or inf in the parameters: no finite parameters were kept")
        raise DivergenceError(epoch, loop.s.learning_rate, c, unit="epoch", kept=kept)
    state.history.record(step_count, c)
    state.history.epochs.append(epoch)
    bar.record(epoch, c)
    if loop.validate():
        return True
    if loop.checkpoint_due(epoch + 1, first, epochs):  # so ex.checkpoint is set
        ex.checkpoint(loop.snapshot(epoch + 1, step_count))  # type: ignore[misc]
    if ex.on_epoch is not None:
        ex.on_epoch(epoch, state.history)
    return False


@lru_cache(maxsize=8)
def _shuffled(backend_name: str) -> Callable[..., Any]:
    """``shuffled(X, Y, order, full=, batch_size=)``: an epoch's columns of X
    and Y in ``order``, as its ``full`` full batches stacked ``(full, n,
    batch_size)`` and the columns left over (the partial batch) stacked as one
    batch ``(1, n, m − full · batch_size)``; one compiled program on JAX."""
    def shuffled(X: Array, Y: Array, order: Array, full: int,
                 batch_size: int) -> tuple[Array, Array, Array, Array]:
        xp = namespace(X, Y)
        Xs, Ys = xp.take(X, order, axis=1), xp.take(Y, order, axis=1)
        cut = full * batch_size

        def stack(A: Array) -> Array:
            return xp.permute_dims(xp.reshape(A[:, :cut], (A.shape[0], full, batch_size)),
                                   (1, 0, 2))

        return (stack(Xs), stack(Ys), xp.expand_dims(Xs[:, cut:], axis=0),
                xp.expand_dims(Ys[:, cut:], axis=0))

    return compile_step(shuffled, backend_name, static_argnames=("full", "batch_size"))


def _epoch_chunks(loop: _Loop, Xb: Array, Yb: Array, full: int, m: int, capacity: int,
                  rate: float, bar: Progress, step_count: int, total: Any = None) -> Any:
    """``full`` batches of an epoch, stacked ``(full, n, batch_size)``, as
    compiled chunks (of one step each in per-step mode); returns ``total``
    plus the sum of their costs weighted by their share of m (``None`` for
    no batch), and leaves the new parameters in ``loop.state``."""
    state, batch_size = loop.state, Xb.shape[2]
    runner = loop.runner
    size = 1 if runner.per_step else capacity
    for offset in range(0, full, size):
        k = min(size, full - offset)
        state.parameters, state.opt_state, total = runner.mini_batches(
            state.parameters, state.opt_state, Xb, Yb, rate, offset, k, capacity,
            batch_size / m, total)
        if runner.per_step:
            _after_step(loop.extras, bar, step_count + offset)
        else:
            bar.update(k)
    return total


def run_stream(
    state: TrainState, data: Stream, *, settings: Settings, epochs: int, batch_size: int,
    progress: bool = True, extras: Extras | None = None,
) -> None:
    """Mini-batch training on streamed data (:mod:`nnarray.backend.streams`):
    each epoch draws a chunk-aware shuffle from the host seed stream, then
    steps through batches of ``batch_size`` read onto the device one at a
    time, the next one read on a background thread meanwhile. Steps run one
    by one (the batches are never on the device together); costs, validation,
    early stopping, checkpoints and divergence as in :func:`run_epochs`. With
    a single chunk the batches are those of :func:`run_epochs`, bit for bit.

    A batch that fails its checks raises
    :class:`~nnarray.backend.StreamDataError` and puts the parameters and the
    history back as they were before the run."""
    ex = extras or Extras()
    like = state.parameters["W1"]  # the loop's namespace and target: the parameters'
    before = (state.parameters, state.opt_state)
    loop = _Loop(state, like, like, settings, ex)
    m = data.m
    first, step_count = loop.resume()
    bar = Progress((epochs - first) * data.n_batches(batch_size), progress)
    try:
        for epoch in range(first, epochs):
            start_params, start_opt = state.parameters, state.opt_state
            total = None
            with data.batches(batch_size, data.order(loop.random)) as batches:
                for Xb, Yb in batches:  # Yb is not None: training data has Y
                    total = _batch(loop, Xb, Yb, settings.rate(epoch), m, total,  # type: ignore[arg-type]
                                   bar, step_count)
                    step_count += 1
            if _end_epoch(loop, bar, total, (start_params, start_opt), epoch, step_count,
                          first, epochs):
                return
    except StreamDataError:
        put_back(state, before)
        raise
    finally:
        bar.close()


def put_back(state: TrainState, before: tuple[dict[str, Array], Any]) -> None:
    """The state as before a run that failed on its data: ``before``'s
    parameters and optimizer state, an empty history."""
    state.parameters, state.opt_state = before
    h = state.history
    for records in (h.iterations, h.costs, h.epochs, h.val_costs):
        records.clear()
    h.stopped_early = False


def stream_cost(parameters: Mapping[str, Array], data: Stream, hidden: str, output: str,
                batch_size: int | None = None) -> float:
    """J on streamed data as a Python float: each batch's J (``batch_size``
    examples; ``None``: a chunk) weighted by its share of m, summed on the
    device, one host sync. The same J as on the whole data, up to rounding."""
    total = None
    with data.batches(batch_size) as batches:
        for Xb, Yb in batches:
            # Yb is not None (a cost needs Y); total is set (m >= 1: a batch or more)
            J = cost(parameters, Xb, Yb, hidden, output) * (Xb.shape[1] / data.m)  # type: ignore[arg-type]
            total = J if total is None else total + J
    return to_float(total)  # type: ignore[arg-type]


def all_finite(parameters: Mapping[str, Array]) -> bool:
    """True when no parameter holds NaN or inf (one host sync; one compiled
    program on JAX)."""
    values = list(parameters.values())
    check = _finite_check(target_of(values[0]).backend)
    return bool(to_numpy(check(*values)))


@lru_cache(maxsize=8)
def _finite_check(backend_name: str) -> Callable[..., Any]:
    def finite(*values: Array) -> Array:
        xp = namespace(*values)
        return xp.all(xp.stack([xp.all(xp.isfinite(v)) for v in values]))

    return compile_step(finite, backend_name)


MAX_STEPS = 2**53
"""The most iterations (or epochs) a fit takes: float64 counts every step
up to it, and a ``range`` of steps has a length."""


def check_iterations(iterations: Any, record_every: Any) -> tuple[int, int]:
    """``0 <= iterations <= MAX_STEPS`` and ``record_every >= 1`` as ints."""
    return (check_integer("iterations", iterations, 0, MAX_STEPS),
            check_integer("record_every", record_every, 1))


