"""Checkpoints: a model file plus what an exact resume of its training needs.

A checkpoint is written at a record point (full batch) or an epoch's end
(mini-batches), never inside a compiled chunk or an epoch, with the same
atomic, no-pickle writer as a model file (:mod:`nnarray.io`). It holds

- the parameters (so ``nn.load`` opens it as a model) and the optimizer's
  moments (entries ``v.W1``, ``s.W1``, ...), early stopping's best
  parameters (``best.W1``, ...);
- in its JSON metadata: the iteration or epoch reached, the optimizer's step
  count, the host random state (mini-batch order, dropout masks), the
  History so far, early stopping's count and best cost, and the fit's
  settings with the shapes and SHA-256 of X and Y.

Resuming checks the settings first and refuses, naming every difference, a
checkpoint of another run. Callbacks are not saved: pass them again.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import io
from .backend import Array, Stream, Target, check_integer, sharding, to_numpy
from .backend.random import check_state
from .step import Settings
from .train import Extras, History, Snapshot

KINDS = ("iterations", "epochs")


def fingerprint(a: Array | Stream | None) -> dict[str, Any] | None:
    """The shape and SHA-256 of an array's bytes (on the host, C order); a
    stream's by :meth:`~nnarray.backend.Stream.fingerprint` (a read of all
    of it: Y is in it, and the stream's Y ``None``)."""
    if a is None:
        return None
    if isinstance(a, Stream):
        return a.fingerprint()
    host = np.ascontiguousarray(to_numpy(a))
    # an ndarray is a buffer; NumPy's stubs say so from Python 3.12 on
    return {"shape": list(host.shape), "dtype": host.dtype.name,
            "sha256": hashlib.sha256(host.view(np.uint8)).hexdigest()}  # type: ignore[arg-type]


def writer(path: str | os.PathLike[str], model_meta: Mapping[str, Any],
           settings: Mapping[str, Any], kind: str) -> Callable[[Snapshot], None]:
    """The function the training loop calls with each :class:`Snapshot`.

    A snapshot holding NaN or inf (a parameter, the optimizer's moments,
    early stopping's best parameters or cost, a validation cost) is not
    written: a ``RuntimeWarning`` says so, and the file keeps the last
    finite checkpoint."""

    def write(snap: Snapshot) -> None:
        arrays = {k: to_numpy(v) for k, v in snap.parameters.items()}
        opt = snap.opt_state
        prefixes: list[str] = [p for p in ("v", "s") if p in opt]
        for p in prefixes:
            arrays |= {f"{p}.{k}": to_numpy(v) for k, v in opt[p].items()}
        best_cost = None
        if snap.best is not None:
            best_cost = snap.best[0]
            arrays |= {f"best.{k}": to_numpy(v) for k, v in snap.best[1].items()}
            prefixes.append("best")
        bad = [k for k, a in arrays.items() if not np.isfinite(a).all()]
        if best_cost is not None and not math.isfinite(best_cost):
            bad.append("best_cost")
        if not all(math.isfinite(v) for v in snap.history.val_costs):
            bad.append("the validation costs")
        if bad:  # the last good checkpoint stays
            unit = "iteration" if kind == "iterations" else "epoch"
            warnings.warn(
                f"checkpoint at {unit} {snap.position} not written: {_names(bad)} "
                f"{'holds' if len(bad) == 1 else 'hold'} NaN or inf (training is diverging; "
                f"try a smaller learning rate); {str(path)!r} is left as it was",
                RuntimeWarning, stacklevel=2)
            return
        h = snap.history
        training = {
            "kind": kind, "position": snap.position, "step_count": snap.step_count,
            "t": int(opt["t"]), "random_state": snap.random_state,
            "history": {"iterations": h.iterations, "costs": h.costs, "epochs": h.epochs,
                        "val_costs": h.val_costs},
            "best_cost": best_cost, "waited": snap.waited, "settings": dict(settings),
        }
        if sharding.is_main_process():  # several processes: the first writes
            io.save_arrays(path, arrays, dict(model_meta, state_prefixes=prefixes,
                                              training=training))

    return write


def _names(keys: list[str], limit: int = 4) -> str:
    """``W1, v.W1 and 3 more``: the first names of a list."""
    shown = ", ".join(keys[:limit])
    return shown if len(keys) <= limit else f"{shown} and {len(keys) - limit} more"


def read(path: str | os.PathLike[str], model_meta: Mapping[str, Any],
         settings: Mapping[str, Any], kind: str, target: Target,
         max_bytes: int = io.DEFAULT_MAX_BYTES) -> Snapshot:
    """The :class:`Snapshot` of a checkpoint, on ``target``; ``ValueError``
    when the file is no checkpoint, belongs to another run (every
    difference of the network or the settings named) or holds state no run
    writes (NaN or inf, a negative ``s``: the entry named)."""
    arrays, meta = io.load_arrays(path, max_bytes=max_bytes)
    name = repr(str(path))
    training = meta.get("training")
    if not isinstance(training, dict):
        raise ValueError(f"{name} is a model file, not a checkpoint: it holds no training "
                         "state (write one with fit(..., checkpoint=PATH))")
    diffs = [f"{k}: the checkpoint has {meta.get(k)!r}, this network {v!r}"
             for k, v in model_meta.items() if meta.get(k) != v]
    saved = training.get("settings", {})
    diffs += [f"{k}: the checkpoint has {saved.get(k)!r}, this call {v!r}"
              for k, v in settings.items() if saved.get(k) != v]
    diffs += [f"{k}: the checkpoint has {saved[k]!r}, this call has none"
              for k in saved if k not in settings]
    if training.get("kind") != kind:
        diffs.insert(0, f"the checkpoint counts {training.get('kind')}, this call {kind}")
    if diffs:
        raise ValueError(f"{name} is a checkpoint of another run; it differs in "
                         + "; ".join(diffs))
    _check_values(arrays, name)
    try:
        dtype = meta["dtype"]

        def put(prefix: str) -> dict[str, Array]:
            keys = [k for k in arrays if "." not in k]
            return {k: target.asarray(arrays[f"{prefix}{k}"], dtype) for k in keys}

        opt: dict[str, Any] = {"t": _count(training, "t")}
        for p in ("v", "s"):
            if p in meta["state_prefixes"]:
                opt[p] = put(f"{p}.")
        best = None
        if "best" in meta["state_prefixes"]:
            best = (_cost(training["best_cost"], "best_cost"), put("best."))
        h = training["history"]
        history = History([_count(h["iterations"], i) for i in range(len(h["iterations"]))],
                          [_cost(c, "history costs") for c in h["costs"]],
                          [_count(h["epochs"], i) for i in range(len(h["epochs"]))],
                          [_cost(v, "history val_costs") for v in h["val_costs"]])
        return Snapshot(_count(training, "position"), put(""), opt,
                        check_state(training["random_state"]), history, best,
                        _count(training, "waited"), _count(training, "step_count"))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{name} is not a consistent nnarray checkpoint: {exc}") from exc


def _check_values(arrays: Mapping[str, np.ndarray], name: str) -> None:
    """Refuse state no run writes, naming the entry: NaN or inf anywhere (a
    checkpoint is written finite), a negative mean of squared gradients
    (``s.W1``, ...: RMSprop's and Adam's, >= 0)."""
    for key, a in arrays.items():
        if not np.isfinite(a).all():
            raise ValueError(f"{name} is not a consistent nnarray checkpoint: {key} holds "
                             f"NaN or inf (a checkpoint is written with finite values only)")
        if key.startswith("s.") and (a < 0).any():
            raise ValueError(f"{name} is not a consistent nnarray checkpoint: {key} holds "
                             f"negative values (the optimizer's running mean of squared "
                             f"gradients is >= 0)")


def _count(where: Any, key: Any) -> int:
    """``where[key]`` if it is an int >= 0 (JSON's, not a bool or a float)."""
    value = where[key]
    if type(value) is not int or value < 0:
        raise ValueError(f"{key!r} must be an integer >= 0, got {value!r}")
    return value


def _cost(value: Any, what: str) -> float:
    """``value`` as a finite float (a recorded cost is finite: training stops
    at the first that is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ValueError(f"{what} must hold finite numbers, got {value!r}")
    return float(value)


def check_resume(snap: Snapshot, *, total: int, record_every: int | None, batches: int,
                 validation: bool, patience: int | None, name: str) -> None:
    """Refuse a :class:`Snapshot` that this run could not have written: a
    position past ``total`` (the iterations or epochs asked for), or state
    fields that disagree with the position: the optimizer's step count, the
    History's record points and costs, early stopping's record. ``batches``
    is the number of mini-batches an epoch takes (``record_every`` ``None``)."""
    unit = "iteration" if record_every is not None else "epoch"
    if snap.position > total:
        raise ValueError(
            f"{name} is a checkpoint at {unit} {snap.position}, past the {total} {unit}s this "
            f"call asks for: resuming would train {snap.position - total} {unit}s more than "
            f"asked (pass {unit}s >= {snap.position}, the run's total)")
    h = snap.history
    if record_every is not None:
        points: list[int] = list(range(0, snap.position, record_every))
        steps, epochs = snap.position, []
        if snap.position % record_every:
            raise ValueError(f"{name}: position {snap.position} is no record point (a "
                             f"multiple of record_every={record_every})")
    else:
        points = [batches * (e + 1) for e in range(snap.position)]
        steps, epochs = batches * snap.position, list(range(snap.position))
        if snap.step_count != steps:
            raise ValueError(f"{name}: step_count {snap.step_count} disagrees with "
                             f"{snap.position} epochs of {batches} batches")
    problems = []
    if snap.opt_state["t"] != steps:
        problems.append(f"the optimizer's step count t is {snap.opt_state['t']}, not {steps}")
    at = f"{unit} {snap.position}"
    if h.iterations != points:
        problems.append(_differ("the History's record points", h.iterations, points, at))
    if h.epochs != epochs:
        problems.append(_differ("the History's epochs", h.epochs, epochs, at))
    if len(h.costs) != len(points):
        problems.append(f"the History holds {len(h.costs)} costs for {len(points)} records")
    if len(h.val_costs) != (len(points) if validation else 0):
        problems.append(f"the History holds {len(h.val_costs)} validation costs for "
                        f"{len(points) if validation else 0}")
    elif validation and h.val_costs:
        best = min(h.val_costs)
        waited = len(h.val_costs) - 1 - h.val_costs.index(best)
        if snap.best is None or snap.best[0] != best or snap.waited != waited:
            problems.append(f"early stopping's record (best cost, waited) is "
                            f"{None if snap.best is None else snap.best[0]}, {snap.waited}; "
                            f"the History says {best}, {waited}")
        elif patience is not None and waited >= patience:
            problems.append(f"waited {waited} >= patience {patience}: that run stopped")
    elif snap.best is not None or snap.waited:
        problems.append("it holds early stopping's record, but this run has no validation")
    if problems:
        raise ValueError(f"{name} is not a consistent checkpoint of this run: "
                         + "; ".join(problems))

def _differ(what: str, got: list[int], want: list[int], at: str) -> str:
    """How the list ``got`` differs from ``want`` (the run's, at ``at``):
    their lengths and ends, or the first entry that differs."""
    def span(values: list[int]) -> str:
        return "none" if not values else (f"{values[0]}" if len(values) == 1
                                          else f"{values[0]} to {values[-1]}")

    if len(got) != len(want):
        return (f"{what} are {len(got)} ({span(got)}) where a checkpoint at {at} has "
                f"{len(want)} ({span(want)})")
    i = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
    return f"{what}: entry {i} is {got[i]!r} where a checkpoint at {at} has {want[i]}"


def attach(extras: Extras, settings: Settings, X: Any, Y: Any, path: Any, every: Any,
           resume: Any, record_every: int | None, batch_size: int | None, *,
           meta: Mapping[str, Any], target: Target, total: int) -> None:
    """Fill ``extras`` with the checkpoint writer (every ``every`` iterations,
    a multiple of ``record_every``, or epochs) and the resumed state of a
    fit of the model ``meta`` on ``(X, Y)`` for ``total`` iterations or
    epochs (see :func:`check_resume`). A ``path`` that could not be written
    is refused here, before training (:func:`nnarray.io.check_writable`)."""
    kind = "iterations" if batch_size is None else "epochs"
    if every is None:
        every = record_every or 1
    every = check_integer("checkpoint_every", every, 1)
    if record_every is not None and every % record_every:
        raise ValueError(f"checkpoint_every must be a multiple of record_every="
                         f"{record_every} (checkpoints fall on record points), got {every}")
    if path is not None and sharding.is_main_process():  # the process that writes
        io.check_writable(path, "checkpoint")  # before training, not at the first checkpoint
    record = {
        "optimizer": repr(settings.optimizer), "learning_rate": settings.learning_rate,
        "decay_rate": settings.decay_rate, "l2": settings.l2,
        "dropout": {str(k): v for k, v in sorted(settings.dropout.items())},
        "seed": settings.seed, "batch_size": batch_size, "record_every": record_every,
        "X": fingerprint(X), "Y": fingerprint(Y),
    }
    if extras.validation is not None:
        record |= {"X_val": fingerprint(extras.validation[0]),
                   "Y_val": fingerprint(extras.validation[1]),
                   "patience": extras.patience}
    if resume is not None:
        snap = read(resume, meta, record, kind, target)
        batches = 0
        if batch_size is not None:
            m = (extras.examples.m if extras.examples is not None
                 else X.m if isinstance(X, Stream) else X.shape[1])
            batches = -(-m // batch_size)
        check_resume(snap, total=total, record_every=record_every, batches=batches,
                     validation=extras.validation is not None, patience=extras.patience,
                     name=repr(str(resume)))
        extras.resume = snap
    if path is not None:
        extras.checkpoint = writer(path, meta, record, kind)
        extras.checkpoint_every = every
