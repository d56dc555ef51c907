"""Costs J over m examples (columns), and the output layer's error dZ[L].

Every cost is a 0-d array on the inputs' device (a NumPy scalar on NumPy);
turn it into a Python float with ``float()`` only when you need it, since on
a GPU that is a host sync.

Every cost checks that ``AL`` and ``Y`` are 2-D ``(n_y, m)`` and have the same
shape (shapes only: no host sync), and raises ``ValueError`` otherwise: an
``AL`` of ``(1, m)`` and a ``Y`` of ``(m, 1)`` would broadcast to ``(m, m)``
and give a wrong cost without a word.
"""

from __future__ import annotations

from typing import Any

from .backend import Array, namespace


def binary_cross_entropy(AL: Array, Y: Array, from_logits: bool = False,
                         weights: Array | None = None) -> Array:
    """J = −(1/m) Σ [y·log(a) + (1 − y)·log(1 − a)].

    ``AL`` is the output probabilities ``(n_y, m)``; with ``from_logits=True``
    it is the output layer's ``Z[L]`` and the stable form
    J = (1/m) Σ [log(1 + e^{z}) − y·z] is used, which never takes log(0).
    From probabilities, ``a`` is clipped to [eps, 1 − eps] of its dtype.
    ``weights``: see :func:`real_m`.
    """
    xp = namespace(AL, Y)
    check_shapes(AL, Y)
    if from_logits:
        Z = AL
        # max(z, 0) with no Python-scalar array argument (on torch that would
        # make a host tensor every call); the same values, bit for bit
        softplus = xp.where(Z > 0, Z, xp.zeros_like(Z)) + xp.log1p(xp.exp(-xp.abs(Z)))
        return _mean(softplus - Y * Z, weights, xp)
    eps = float(xp.finfo(AL.dtype).eps)
    A = xp.clip(AL, eps, 1.0 - eps)
    return -_mean(Y * xp.log(A) + (1.0 - Y) * xp.log1p(-A), weights, xp)


def categorical_cross_entropy(AL: Array, Y: Array, from_logits: bool = False,
                              weights: Array | None = None) -> Array:
    """J = −(1/m) Σ_i Σ_k y_k log a_k for one-hot ``Y`` ``(n_y, m)``.

    With ``from_logits=True``, ``AL`` is Z[L] and log a = z − logsumexp(z) is
    computed stably (max subtracted first); from probabilities, a is clipped to
    [eps, 1] of its dtype.
    """
    xp = namespace(AL, Y)
    check_shapes(AL, Y)
    if from_logits:
        Z = AL
        top = xp.max(Z, axis=0, keepdims=True)
        log_sum = xp.log(xp.sum(xp.exp(Z - top), axis=0, keepdims=True)) + top
        return -_mean(Y * (Z - log_sum), weights, xp)
    eps = float(xp.finfo(AL.dtype).eps)
    return -_mean(Y * xp.log(xp.clip(AL, eps, 1.0)), weights, xp)


def mean_squared_error(AL: Array, Y: Array, weights: Array | None = None) -> Array:
    """J = (1/2m) Σ (a − y)², whose output error is dZ[L] = A[L] − Y."""
    xp = namespace(AL, Y)
    check_shapes(AL, Y)
    D = AL - Y
    if weights is None:
        return xp.sum(D * D) / (2 * AL.shape[1])
    return xp.sum(D * D * weights) / (2 * xp.sum(weights))


def _mean(loss: Array, weights: Array | None, xp: Any) -> Array:
    """(1/m) Σ loss over every entry; with ``weights``, over the real examples."""
    if weights is None:
        return xp.sum(loss) / loss.shape[1]
    return xp.sum(loss * weights) / xp.sum(weights)


def real_m(weights: Array | None, xp: Any) -> Any:
    """m, the count of real examples, from per-example ``weights``.

    ``weights`` is ``None`` (every column is a real example: m is the
    columns' count, the lecture's formulas unchanged) or a ``(1, m_padded)``
    array of 1 for a real example and 0 for a padding column (data split
    over several devices: ``backend.sharding``). The weights multiply dZ[L]
    and the per-example losses; m = Σ weights divides the sums. ``None``
    here means "take m from the shapes"."""
    return None if weights is None else xp.sum(weights)


def check_shapes(AL: Array, Y: Array) -> None:
    """Raise ``ValueError`` unless ``AL`` and ``Y`` are both 2-D ``(n_y, m)``
    with the same shape; the message names both shapes and the likely fix.
    Reads the shapes only (no host sync)."""
    a, y = tuple(AL.shape), tuple(Y.shape)
    if len(a) == 2 and a == y:
        return
    both = f"Y has shape {y} but AL has shape {a}"
    if len(a) != 2 or len(y) != 2:
        flat = [name for name, s in (("AL", a), ("Y", y)) if len(s) == 1]
        hint = " and ".join(f"{n}.reshape(1, {(a if n == 'AL' else y)[0]})" for n in flat)
        raise ValueError(
            f"{both}: both must be 2-D (n_y, m), examples as columns"
            + (f"; pass {hint} (one output unit)" if hint else "")
        )
    if a == y[::-1]:
        raise ValueError(f"{both}: they must be equal (n_y, m), examples as columns; "
                         "pass Y.T")
    raise ValueError(f"{both}: they must be equal (n_y, m), one row per output unit and "
                     "one column per example")


def output_cost(ZL: Array, AL: Array, Y: Array, output: str,
                weights: Array | None = None) -> Array:
    """The cost that belongs to an output activation, in its stable form:
    cross-entropy from logits for ``sigmoid`` and ``softmax``, MSE for ``linear``.
    ``weights``: see :func:`real_m`."""
    check_output(output)
    if output == "linear":
        return mean_squared_error(AL, Y, weights)
    if output == "softmax":
        return categorical_cross_entropy(ZL, Y, from_logits=True, weights=weights)
    return binary_cross_entropy(ZL, Y, from_logits=True, weights=weights)


def output_dA(AL: Array, Y: Array, output: str) -> Array:
    """dA[L] = ∂L/∂A[L], the lecture's start of backpropagation:
    −(Y/A − (1 − Y)/(1 − A)) for cross-entropy, A − Y for squared error."""
    check_output(output)
    check_shapes(AL, Y)
    if output == "sigmoid":
        return (1.0 - Y) / (1.0 - AL) - Y / AL
    if output == "softmax":
        return -Y / AL
    return AL - Y


def output_dZ(AL: Array, Y: Array, output: str) -> Array:
    """dZ[L] = A[L] − Y: the output error of sigmoid + cross-entropy, softmax
    + categorical cross-entropy and linear + squared error alike, when
    A[L] = g(Z[L]) (no division by A)."""
    check_output(output)
    check_shapes(AL, Y)
    return AL - Y


def check_output(output: str) -> None:
    """Raise ``ValueError`` unless ``output`` names an output activation."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {list(OUTPUTS)}, got {output!r}")


OUTPUTS: dict[str, Any] = {
    "sigmoid": binary_cross_entropy,
    "softmax": categorical_cross_entropy,
    "linear": mean_squared_error,
}
"""Output activations and the loss each is trained with."""
