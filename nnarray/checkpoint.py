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
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import io
from .backend import Array, Stream, Target, sharding, to_numpy
from .train import History, Snapshot

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
    """The function the training loop calls with each :class:`Snapshot`."""

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


def read(path: str | os.PathLike[str], model_meta: Mapping[str, Any],
         settings: Mapping[str, Any], kind: str, target: Target,
         max_bytes: int = io.DEFAULT_MAX_BYTES) -> Snapshot:
    """The :class:`Snapshot` of a checkpoint, on ``target``; ``ValueError``
    when the file is no checkpoint or belongs to another run (every
    difference of the network or the settings named)."""
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
    try:
        dtype = meta["dtype"]

        def put(prefix: str) -> dict[str, Array]:
            keys = [k for k in arrays if "." not in k]
            return {k: target.asarray(arrays[f"{prefix}{k}"], dtype) for k in keys}

        opt: dict[str, Any] = {"t": int(training["t"])}
        for p in ("v", "s"):
            if p in meta["state_prefixes"]:
                opt[p] = put(f"{p}.")
        best = None
        if "best" in meta["state_prefixes"]:
            best = (float(training["best_cost"]), put("best."))
        h = training["history"]
        history = History([int(i) for i in h["iterations"]], [float(c) for c in h["costs"]],
                          [int(e) for e in h["epochs"]], [float(v) for v in h["val_costs"]])
        return Snapshot(int(training["position"]), put(""), opt,
                        dict(training["random_state"]), history, best,
                        int(training["waited"]), int(training["step_count"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a consistent nnarray checkpoint: {exc}") from exc
