"""How well a network fits: accuracy (sigmoid and softmax outputs) or R²
(a linear output), on data in memory or streamed batch by batch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import backend
from .backend import Array, Stream


def labels(AL: Array, output: str, threshold: float = 0.5, *, dtype: Any = None,
           xp: Any = None) -> Array:
    """What ``predict`` gives for the outputs ``AL`` ``(n[L], m)``: sigmoid: 1
    where a > threshold, else 0, in ``dtype`` (default AL's); softmax: the index
    of the most probable row of each column, ``(1, m)``; linear: AL itself."""
    if output == "linear":
        return AL
    xp = xp or backend.namespace(AL)
    if output == "softmax":
        return xp.argmax(AL, axis=0, keepdims=True)
    return xp.astype(AL > threshold, AL.dtype if dtype is None else dtype)


def score(AL: Array, Y: Array, output: str, examples: Any = None) -> float:
    """Accuracy of the outputs ``AL`` against the labels ``Y`` (sigmoid:
    ``AL > 0.5``; softmax: the argmax of each column), or R² for a linear
    output. ``examples``: columns padded over a device set
    (``backend.sharding.Examples``), whose padding has weight 0."""
    xp = backend.namespace(AL, Y)
    w = None if examples is None else examples.weights

    def total(a: Array, **kw: Any) -> Array:
        return xp.sum(a if w is None else a * w, **kw)

    if output == "linear":
        residual = total((Y - AL) ** 2)
        if w is None:
            spread = xp.sum((Y - xp.mean(Y, axis=1, keepdims=True)) ** 2)
        else:
            spread = total((Y - total(Y, axis=1, keepdims=True) / examples.m) ** 2)
        return 1.0 - backend.to_float(residual) / backend.to_float(spread)
    if output == "softmax":
        same = xp.argmax(AL, axis=0) == xp.argmax(Y, axis=0)
    else:
        same = (AL > 0.5) == (Y > 0.5)
    count = math.prod(same.shape) if w is None else examples.m * math.prod(same.shape[:-1])
    return backend.to_float(total(xp.astype(same, AL.dtype))) / count


def stream_score(data: Stream, forward: Callable[[Array], Array], output: str,
                 batch_size: int | None = None) -> float:
    """:func:`score` of streamed data, batch by batch (``forward`` gives A[L]
    of a batch): correct labels counted on the device; for R² the residuals
    summed and each row's mean and sum of squared deviations combined batch
    by batch (Chan et al.'s pairwise update)."""
    correct, count, residual, n, mean, ss = None, 0, 0.0, 0, None, None
    with data.batches(batch_size) as batches:
        for Xb, Yb in batches:
            AL = forward(Xb)
            xp = backend.namespace(AL)
            if output == "linear":
                k = Xb.shape[1]
                residual += backend.to_float(xp.sum((Yb - AL) ** 2))
                mean_b = xp.mean(Yb, axis=1, keepdims=True)
                ss_b = backend.to_numpy(xp.sum((Yb - mean_b) ** 2, axis=1, keepdims=True))
                mean_b = backend.to_numpy(mean_b).astype("float64")
                if mean is None:
                    mean, ss = mean_b, ss_b.astype("float64")
                else:
                    delta = mean_b - mean
                    mean = mean + delta * (k / (n + k))
                    ss = ss + ss_b + delta**2 * (n * k / (n + k))
                n += k
                continue
            if output == "softmax":
                same = xp.argmax(AL, axis=0) == xp.argmax(Yb, axis=0)
            else:  # Yb is not None: score's data has Y
                same = (AL > 0.5) == (Yb > 0.5)  # type: ignore[operator]
            right = xp.sum(xp.astype(same, AL.dtype))
            correct = right if correct is None else correct + right
            count += math.prod(same.shape)
    # the first batch set ss (linear output) or correct (the others)
    if output == "linear":
        return 1.0 - residual / float(ss.sum())  # type: ignore[union-attr]
    return backend.to_float(correct) / count  # type: ignore[arg-type]
