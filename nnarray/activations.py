"""Activation functions g(Z) beside their backward steps dZ = dA * g'(Z).

Each ``name_backward(dA, Z, A=None)`` takes the upstream gradient ``dA``, the
pre-activation ``Z`` and, optionally, the forward output ``A = g(Z)`` (the
training loop passes it so sigmoid and tanh need not recompute it).
All functions are elementwise, keep the dtype and device of ``Z`` and use
only the Array API standard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backend import Array, namespace

LEAKY_SLOPE = 0.01
"""Slope of leaky ReLU for z < 0, as in the lecture."""


def sigmoid(Z: Array, xp: Any = None) -> Array:
    """σ(z) = 1 / (1 + e^{-z}), computed as 0.5·tanh(0.5·z) + 0.5 (no overflow)."""
    xp = xp or namespace(Z)
    return 0.5 * xp.tanh(0.5 * Z) + 0.5


def sigmoid_backward(dA: Array, Z: Array, A: Array | None = None, xp: Any = None) -> Array:
    """dZ = dA · σ(z)(1 − σ(z))."""
    s = sigmoid(Z, xp) if A is None else A
    return dA * (s * (1.0 - s))


def tanh(Z: Array, xp: Any = None) -> Array:
    """tanh(z)."""
    xp = xp or namespace(Z)
    return xp.tanh(Z)


def tanh_backward(dA: Array, Z: Array, A: Array | None = None, xp: Any = None) -> Array:
    """dZ = dA · (1 − tanh²(z))."""
    t = tanh(Z, xp) if A is None else A
    return dA * (1.0 - t * t)


def relu(Z: Array, xp: Any = None) -> Array:
    """ReLU(z) = max(0, z).

    The zero is an array like ``Z``, not the Python scalar ``0.0``: on torch a
    scalar argument becomes a host tensor copied to the device at every call,
    which a CUDA graph cannot capture. The values are those of
    ``maximum(Z, 0.0)`` on every backend, bit for bit: NaN stays NaN, and
    −0.0 gives what the backend's ``maximum`` gives (+0.0 on NumPy and JAX).
    """
    xp = xp or namespace(Z)
    return xp.maximum(Z, xp.zeros_like(Z))


def relu_backward(dA: Array, Z: Array | None, A: Array | None = None, xp: Any = None) -> Array:
    """dZ = dA where z > 0, else 0 (g'(0) taken as 0, as in the lecture's code).
    With ``A`` given, a > 0 is used instead (the same test), so Z may be ``None``."""
    # one of Z and A is given, which the types cannot say
    positive: Array = (Z if A is None else A) > 0  # type: ignore[operator, assignment]
    xp = xp or namespace(dA, positive)
    # a 0/1 mask times dA: NumPy's where() with a scalar is several times slower
    return dA * xp.astype(positive, dA.dtype)


def leaky_relu(Z: Array, xp: Any = None) -> Array:
    """Leaky ReLU(z) = max(0.01·z, z)."""
    xp = xp or namespace(Z)
    return xp.where(Z > 0, Z, LEAKY_SLOPE * Z)


def leaky_relu_backward(
    dA: Array, Z: Array | None, A: Array | None = None, xp: Any = None
) -> Array:
    """dZ = dA where z > 0, else 0.01·dA (with ``A`` given, a > 0 is the same test)."""
    # one of Z and A is given, which the types cannot say
    positive: Array = (Z if A is None else A) > 0  # type: ignore[operator, assignment]
    xp = xp or namespace(dA, positive)
    return xp.where(positive, dA, LEAKY_SLOPE * dA)


def linear(Z: Array, xp: Any = None) -> Array:
    """The identity g(z) = z (regression outputs)."""
    return Z


def linear_backward(dA: Array, Z: Array, A: Array | None = None, xp: Any = None) -> Array:
    """dZ = dA."""
    return dA


def softmax(Z: Array, xp: Any = None) -> Array:
    """softmax(z)_k = e^{z_k} / Σ_j e^{z_j} over the classes (rows) of each
    column, computed from z − max(z) so that no exponential overflows."""
    xp = xp or namespace(Z)
    E = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    return E / xp.sum(E, axis=0, keepdims=True)


def softmax_backward(dA: Array, Z: Array | None, A: Array | None = None, xp: Any = None) -> Array:
    """dZ = A ∗ (dA − Σ_k dA_k A_k), the Jacobian of softmax applied to dA
    column by column (A = softmax(Z))."""
    s = softmax(Z, xp) if A is None else A  # type: ignore[arg-type]  # Z or A is given
    xp = xp or namespace(dA, s)
    return s * (dA - xp.sum(dA * s, axis=0, keepdims=True))


Forward = Callable[..., Array]
Backward = Callable[..., Array]

ACTIVATIONS: dict[str, tuple[Forward, Backward]] = {
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "linear": (linear, linear_backward),
    "softmax": (softmax, softmax_backward),
}
"""Name -> (forward g, backward dA·g'), for ``hidden=`` and ``output=``."""

HIDDEN = tuple(a for a in ACTIVATIONS if a not in ("linear", "softmax"))
"""The activations of hidden layers."""


def check_hidden(hidden: str) -> None:
    """Raise ``ValueError`` unless ``hidden`` names a hidden-layer activation."""
    if hidden not in HIDDEN:
        raise ValueError(f"hidden must be one of {list(HIDDEN)}, got {hidden!r}")


def get(name: str) -> tuple[Forward, Backward]:
    """The (forward, backward) pair of an activation, by name."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}"
        ) from None
