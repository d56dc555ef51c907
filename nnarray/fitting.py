"""A fit's arguments checked and turned into what the training loop runs:
its :class:`~nnarray.step.Settings`, its :class:`~nnarray.train.Extras`
(validation, callbacks, checkpoints, a resumed state, device sets) and its
data at the network's boundary (:mod:`nnarray.inputs`). Everything here runs
before any parameter changes."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import checkpoint, optimizers, train
from .backend import Stream, StreamDataError, check_integer, check_number, to_float
from .backend.precision import check_matmul_precision
from .inputs import Inputs
from .step import Settings, cost

START_SAMPLE = 1024
"""The examples :meth:`Plan.start_cost` measures the starting cost on."""


@dataclass
class Plan:
    """One fit, checked: the data where the network computes, the loop's
    settings and extras, and how long it runs (``batch_size`` ``None``: full
    batch for ``iterations``; else ``epochs`` of mini-batches)."""

    X: Any
    Y: Any
    settings: Settings
    extras: train.Extras
    iterations: int
    record_every: int
    batch_size: int | None = None
    epochs: int = 0

    def start_cost(self, parameters: Mapping[str, Any]) -> float | None:
        """Mini-batches in memory, from their start: J of ``parameters`` on
        the first ``START_SAMPLE`` examples (one forward pass, one host
        sync), what :func:`nnarray.train.cost_rose` measures a rise from;
        ``None`` otherwise (full batch records J at iteration 0 itself)."""
        ex = self.extras
        if (self.batch_size is None or not self.epochs or isinstance(self.X, Stream)
                or ex.examples is not None or ex.resume is not None):
            return None
        k = min(self.X.shape[1], START_SAMPLE)
        s = self.settings
        return to_float(cost(parameters, self.X[:, :k], self.Y[:, :k], s.hidden, s.output))

    def run(self, state: train.TrainState, progress: bool) -> None:
        """Train ``state`` by this plan (see :func:`nnarray.train.run` and
        :func:`nnarray.train.run_epochs`); a cost that rose warns
        (:func:`nnarray.train.cost_rose`), pointing at the call of ``fit``."""
        start = self.start_cost(state.parameters)
        self._train(state, progress)
        rose = train.cost_rose(state.history, self.settings.learning_rate, start)
        if rose is not None:
            warnings.warn(rose, train.CostRoseWarning, stacklevel=3)

    def _train(self, state: train.TrainState, progress: bool) -> None:
        """Run the loop; a streamed batch that fails its checks (training's
        or validation's) puts the state back as it was."""
        s = self.settings
        before = (state.parameters, state.opt_state)
        try:
            if self.batch_size is None:
                train.run(state, self.X, self.Y, hidden=s.hidden, output=s.output,
                          iterations=self.iterations, learning_rate=s.learning_rate,
                          record_every=self.record_every, progress=progress, settings=s,
                          extras=self.extras)
            else:
                train.run_epochs(state, self.X, self.Y, settings=s, epochs=self.epochs,
                                 batch_size=self.batch_size, progress=progress,
                                 extras=self.extras)
        except StreamDataError:  # a streamed batch failed its checks, perhaps validation's
            train.put_back(state, before)
            raise


def plan(inputs: Inputs, hidden: str, seed: int | None, meta: Mapping[str, Any], X: Any, Y: Any,
         iterations: Any, learning_rate: Any, record_every: Any, *,
         optimizer: str | optimizers.Optimizer = "gd", batch_size: Any = None,
         epochs: Any = None, l2: Any = 0.0, dropout: Mapping[int, float] | None = None,
         decay_rate: Any = 0.0, validation: Any = None, patience: Any = None,
         on_iteration: Callable[[int], Any] | None = None,
         on_epoch: Callable[[int, train.History], Any] | None = None,
         matmul_precision: str = "highest",
         checkpoint_path: str | os.PathLike[str] | None = None,
         checkpoint_every: Any = None, resume: str | os.PathLike[str] | None = None,
         examples_as_rows: bool = False) -> Plan:
    """Check every argument of :meth:`nnarray.Network.fit` and prepare the
    run; ``inputs`` is the network's data boundary, ``meta`` its model
    metadata (what a checkpoint must match)."""
    lr = optimizers.check_learning_rate(learning_rate)
    iterations, record_every = train.check_iterations(iterations, record_every)
    settings = Settings(
        hidden, inputs.output, lr, optimizers.get(optimizer), l2=nonnegative("l2", l2),
        dropout=check_dropout(dropout, len(inputs.layer_dims) - 1),
        decay_rate=nonnegative("decay_rate", decay_rate), seed=seed,
        matmul_precision=check_matmul_precision(matmul_precision),
    )
    if batch_size is not None:
        batch_size = check_integer("batch_size", batch_size, 1)
        if epochs is None:
            raise ValueError("batch_size needs epochs= (the number of passes over the data)")
        epochs = check_integer("epochs", epochs, 0, train.MAX_STEPS)
    elif epochs is not None:
        raise ValueError("epochs needs batch_size= (without it, training is full batch "
                         "for `iterations` steps)")
    if patience is not None:
        patience = check_integer("patience", patience, 1)
        if validation is None:
            raise ValueError("patience needs validation=(X_val, Y_val) to watch")
    for name, f in (("on_iteration", on_iteration), ("on_epoch", on_epoch)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be a function or None, got {f!r}")
    if Y is None:
        raise TypeError("Y must be the labels, an array (n[L], m), got None")
    X, Y = inputs.data(X, Y, stream=batch_size is not None, examples_as_rows=examples_as_rows)
    val: tuple[Any, Any] | None = None  # (X or a Stream, Y or None)
    if validation is not None:
        if not isinstance(validation, tuple | list) or len(validation) != 2:
            raise TypeError("validation must be a pair (X_val, Y_val), got "
                            f"{type(validation).__name__}")
        if validation[1] is None:
            raise TypeError("validation must be a pair (X_val, Y_val) with labels, got Y_val None")
        try:
            val = inputs.data(*validation, stream=True, examples_as_rows=examples_as_rows)
        except (TypeError, ValueError) as e:
            error = TypeError if isinstance(e, TypeError) else ValueError
            raise error(f"validation (X_val, Y_val): {e}") from None
    X, Y, examples = inputs.split(X, Y)
    processes = 1 if examples is None else len(examples.counts)
    if batch_size is not None and batch_size % processes:
        raise ValueError(f"batch_size must be a multiple of the {processes} processes (each "
                         f"batch takes batch_size / {processes} examples from each), got "
                         f"{batch_size}")
    val_examples = None
    if val is not None:
        Xv, Yv, val_examples = inputs.split(*val)
        val = (Xv, Yv)
    extras = train.Extras(val, patience, on_iteration, on_epoch, examples=examples,
                          validation_examples=val_examples)
    if checkpoint_path is not None or resume is not None:
        checkpoint.attach(extras, settings, X, Y, checkpoint_path, checkpoint_every, resume,
                          record_every if batch_size is None else None, batch_size,
                          meta=meta, target=inputs.target,
                          total=iterations if batch_size is None else epochs)
    elif checkpoint_every is not None:
        raise ValueError("checkpoint_every needs checkpoint=PATH (where to write them)")
    return Plan(X, Y, settings, extras, iterations, record_every, batch_size, epochs or 0)


def check_dropout(dropout: Mapping[int, float] | None, L: int) -> dict[int, float]:
    """``{layer: keep_prob}`` for hidden layers 1..L−1, keep_prob in (0, 1]."""
    if not dropout:
        return {}
    if not isinstance(dropout, Mapping):
        raise TypeError(f"dropout must be a dict {{layer: keep_prob}}, got {dropout!r}")
    if L < 2:
        raise ValueError(f"dropout applies to hidden layers, and this network has none: got "
                         f"{dropout!r}")
    out = {}
    for l, keep in dropout.items():
        layer = check_integer("a dropout layer (a hidden layer)", l, 1, L - 1)
        out[layer] = check_number(f"dropout keep_prob for layer {l}", keep, 0.0, 1.0,
                                  open_low=True)
    return out


def nonnegative(name: str, value: Any) -> float:
    """``value`` as a finite Python float >= 0, or an error naming ``name``."""
    return check_number(name, value, 0.0)
