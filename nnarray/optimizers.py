"""Parameter updates, as pure functions: they return new dicts and never
modify arrays in place (JAX and array_api_strict arrays are immutable)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from .backend import Array


def check_learning_rate(learning_rate: float) -> float:
    """``learning_rate`` as a Python float > 0 (a NumPy scalar would promote
    float32 parameters to float64)."""
    try:
        lr = float(learning_rate)
    except (TypeError, ValueError):
        raise TypeError(f"learning_rate must be a number, got {learning_rate!r}") from None
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    return lr


def gradient_descent(
    parameters: Mapping[str, Array], grads: Mapping[str, Array], learning_rate: float
) -> dict[str, Array]:
    """W[l] := W[l] − α dW[l],  b[l] := b[l] − α db[l], for every layer."""
    lr = check_learning_rate(learning_rate)
    missing = [f"d{k}" for k in parameters if f"d{k}" not in grads]
    if missing:
        raise ValueError(f"grads is missing {missing} for the parameters {sorted(parameters)}")
    return apply_gradients(parameters, grads, lr)


def apply_gradients(
    parameters: Mapping[str, Array], grads: Mapping[str, Array], learning_rate: float
) -> dict[str, Array]:
    """θ := θ − α dθ without the checks of :func:`gradient_descent`: for the
    training loop, whose ``learning_rate`` is already a checked Python float."""
    return {k: p - learning_rate * grads[f"d{k}"] for k, p in parameters.items()}
