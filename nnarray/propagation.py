"""The lecture's building blocks of forward and backward propagation.

Notation: examples are columns. ``A_prev`` is A[l-1] ``(n[l-1], m)``, ``W`` is
W[l] ``(n[l], n[l-1])``, ``b`` is b[l] ``(n[l], 1)``, ``Z`` and ``A`` are
``(n[l], m)``. A linear cache is ``(A_prev, W, b)``; an activation cache is
``(linear_cache, Z)``. Parameters are ``{"W1", "b1", ..., "WL", "bL"}``;
gradients ``{"dW1", "db1", ..., "dA0", ...}``.

Every function computes where its inputs live (any Array API library, any
device) and raises ``ValueError`` when they mix libraries or devices. On JAX
their float32 products run at ``precision="highest"`` (true float32, as NumPy
gives), not JAX's default, which on a GPU may be TensorFloat-32.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from . import activations
from .backend import Array, namespace
from .backend.precision import highest_precision
from .losses import check_output, check_shapes, output_dA, real_m

LinearCache = tuple[Array, Array, Array]
ActivationCache = tuple[LinearCache, Array]


def _check_linear(A_prev: Array, W: Array, b: Array, l: int | str = "l") -> None:
    """Shapes of one layer, in the lecture's terms."""
    prev = "l-1" if isinstance(l, str) else l - 1
    if len(A_prev.shape) != 2 or len(W.shape) != 2:
        raise ValueError(
            f"A[{prev}] and W[{l}] must be 2-D (examples are columns), got shapes "
            f"{tuple(A_prev.shape)} and {tuple(W.shape)}"
        )
    n, n_prev = W.shape
    if n_prev != A_prev.shape[0]:
        raise ValueError(
            f"W{l} has shape {tuple(W.shape)} but A{prev} has {A_prev.shape[0]} rows: "
            f"W[{l}] must be (n[{l}], n[{prev}]) = ({n}, {A_prev.shape[0]})"
        )
    if tuple(b.shape) != (n, 1):
        raise ValueError(
            f"b{l} has shape {tuple(b.shape)} but W{l} has {n} rows: "
            f"b[{l}] must be (n[{l}], 1) = ({n}, 1)"
        )


@highest_precision
def linear_forward(
    A_prev: Array, W: Array, b: Array, *, xp: Any = None
) -> tuple[Array, LinearCache]:
    """Z[l] = W[l] A[l-1] + b[l]; returns ``(Z, (A_prev, W, b))``."""
    if xp is None:
        namespace(A_prev, W, b)
        _check_linear(A_prev, W, b)
    Z = W @ A_prev + b
    return Z, (A_prev, W, b)


@highest_precision
def linear_activation_forward(
    A_prev: Array, W: Array, b: Array, activation: str, *, xp: Any = None
) -> tuple[Array, ActivationCache]:
    """A[l] = g(W[l] A[l-1] + b[l]); returns ``(A, ((A_prev, W, b), Z))``."""
    g, _ = activations.get(activation)
    if xp is None:
        xp = namespace(A_prev, W, b)
        _check_linear(A_prev, W, b)
    Z, linear_cache = _linear_forward(A_prev, W, b, xp=xp)
    return g(Z, xp), (linear_cache, Z)


def n_layers(parameters: Mapping[str, Array]) -> int:
    """L, the number of layers with parameters (``W1 .. WL``)."""
    L = len(parameters) // 2
    missing = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}") if k not in parameters]
    if L < 1 or missing or len(parameters) != 2 * L:
        raise ValueError(
            "parameters must be {'W1', 'b1', ..., 'WL', 'bL'}, got keys "
            f"{sorted(parameters)}" + (f" (missing {missing})" if missing else "")
        )
    return L


@highest_precision
def model_forward(
    X: Array,
    parameters: Mapping[str, Array],
    hidden: str = "relu",
    output: str = "sigmoid",
    *,
    xp: Any = None,
    keep_Z: bool = True,
    masks: Mapping[int, Array] | None = None,
) -> tuple[Array, list[ActivationCache]]:
    """[LINEAR -> hidden] × (L−1) -> LINEAR -> output; returns ``(AL, caches)``
    with one activation cache per layer, ``caches[l-1]`` for layer l.

    The training loop passes ``xp`` (its inputs were checked at the boundary,
    so the checks here are skipped) and ``keep_Z=False``: hidden layers' Z is
    then not kept (``None`` in the cache), since ``model_backward(...,
    reuse=True)`` needs only A. ``masks`` (inverted dropout) maps hidden layers
    l to D[l] / keep_prob, which multiplies A[l]; pass the same to
    :func:`model_backward`. A namespace from ``backend.fused.training_namespace``
    (CuPy) computes ``Z = WA + b`` and ``A = g(Z)`` of an elementwise g in one
    fused kernel, with the same operations.
    """
    if xp is None:
        L = n_layers(parameters)
        xp = namespace(X, *parameters.values())
        activations.get(hidden)
        activations.get(output)
        A: Any = X
        for l in range(1, L + 1):
            W = parameters[f"W{l}"]
            _check_linear(A, W, parameters[f"b{l}"], l)
            A = _Shape((W.shape[0], X.shape[1]))  # A[l]'s shape, before any product
    L = len(parameters) // 2
    g_hidden, g_output = activations.get(hidden)[0], activations.get(output)[0]
    fused = getattr(xp, "nnarray_fused", None)  # see backend.fused.training_namespace
    caches: list[ActivationCache] = []
    A = X
    for l, (kW, kb) in enumerate(_parameter_keys(L), 1):
        W, b = parameters[kW], parameters[kb]
        name = hidden if l < L else output
        dropped = masks is not None and l in masks
        keep = keep_Z or dropped or l == L
        A_prev = A
        if fused is not None and name in fused.activations:
            # one kernel for Z = WA + b and A = g(Z), the same operations
            A, Z = fused.linear_activation(name, xp.matmul(W, A_prev), b, keep)
        else:
            Z = xp.matmul(W, A_prev) + b
            A = (g_hidden if l < L else g_output)(Z, xp)
        if dropped:
            A = A * masks[l]  # type: ignore[index]  # dropped: masks is not None
        # Z is None only with keep_Z=False (the training loop's, which never reads it)
        caches.append(((A_prev, W, b), Z if keep else None))  # type: ignore[arg-type]
    return A, caches


@cache
def _parameter_keys(L: int) -> tuple[tuple[str, str], ...]:
    """``(("W1", "b1"), ..., ("WL", "bL"))``."""
    return tuple((f"W{l}", f"b{l}") for l in range(1, L + 1))


@cache
def _gradient_keys(L: int) -> tuple[tuple[str, str, str, str], ...]:
    """``("dW{l}", "db{l}", "dA{l-1}", "dA{l}")`` for l = L .. 1."""
    return tuple((f"dW{l}", f"db{l}", f"dA{l - 1}", f"dA{l}") for l in range(L, 0, -1))


class _Shape:
    """Stands in for A[l] in the shape checks before any product is computed."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape


@highest_precision
def linear_backward(
    dZ: Array, cache: LinearCache, *, xp: Any = None, need_dA_prev: bool = True,
    m: Any = None,
) -> tuple[Array | None, Array, Array]:
    """dW = dZ A_prevᵀ / m, db = Σ_columns dZ / m, dA_prev = Wᵀ dZ.

    ``need_dA_prev=False`` returns ``None`` for ``dA_prev`` (the input layer).
    ``m`` defaults to A_prev's column count (see ``losses.real_m`` for when
    it is not).
    """
    A_prev, W, _ = cache
    if xp is None:
        xp = namespace(dZ, A_prev, W)
        expected = (W.shape[0], A_prev.shape[1])
        if tuple(dZ.shape) != expected:
            raise ValueError(
                f"dZ has shape {tuple(dZ.shape)} but the cache's W is {tuple(W.shape)} and "
                f"A_prev is {tuple(A_prev.shape)}: dZ[l] must be (n[l], m) = {expected}"
            )
    if m is None:
        m = A_prev.shape[1]
    dW = xp.matmul(dZ, xp.matrix_transpose(A_prev)) / m
    db = xp.sum(dZ, axis=1, keepdims=True) / m
    dA_prev = xp.matmul(xp.matrix_transpose(W), dZ) if need_dA_prev else None
    return dA_prev, dW, db


@highest_precision
def linear_activation_backward(
    dA: Array, cache: ActivationCache, activation: str, *, A: Array | None = None,
    xp: Any = None, need_dA_prev: bool = True, m: Any = None,
) -> tuple[Array | None, Array, Array]:
    """dZ = dA · g'(Z), then :func:`linear_backward`; returns ``(dA_prev, dW, db)``.

    ``A`` (= g(Z), optional) spares sigmoid and tanh recomputing it.
    """
    activations.get(activation)  # an unknown name is refused before the shape checks
    linear_cache, Z = cache
    if xp is None:
        xp = namespace(dA, Z)
        if tuple(dA.shape) != tuple(Z.shape):
            raise ValueError(
                f"dA has shape {tuple(dA.shape)} but the cache's Z has shape "
                f"{tuple(Z.shape)}: dA[l] must be (n[l], m) like Z[l]"
            )
    dZ = _activation_dZ(dA, Z, A, activation, xp)
    return _linear_backward(dZ, linear_cache, xp=xp, need_dA_prev=need_dA_prev, m=m)


def _activation_dZ(dA: Array, Z: Array | None, A: Array | None, activation: str,
                   xp: Any) -> Array:
    """dZ = dA · g'(Z): one fused kernel with a namespace from
    ``backend.fused.training_namespace``, the same operations."""
    fused = getattr(xp, "nnarray_fused", None)
    if fused is not None and activation in fused.activations:
        dZ: Array = fused.activation_backward(activation, dA, Z, A)
        return dZ
    return activations.get(activation)[1](dA, Z, A, xp)


@highest_precision
def model_backward(
    AL: Array,
    Y: Array,
    caches: list[ActivationCache],
    hidden: str = "relu",
    output: str = "sigmoid",
    *,
    dA0: bool = True,
    reuse: bool = False,
    xp: Any = None,
    masks: Mapping[int, Array] | None = None,
    weights: Array | None = None,
    m: Any = None,
) -> dict[str, Array]:
    """Gradients of the cost for every layer, by the lecture's formulas:
    dA[L] = −(Y/A[L] − (1 − Y)/(1 − A[L])) (squared error: A[L] − Y), then
    :func:`linear_activation_backward` from layer L down to 1.

    Returns ``{"dA{l-1}", "dW{l}", "db{l}"}`` for l = L .. 1. ``dA0=False``
    skips the input layer's gradient, which training never uses.
    ``reuse=True`` is for caches made by :func:`model_forward` (so that
    A[l] = g(Z[l])): it starts from dZ[L] = A[L] − Y and reads A[l] from the
    next layer's cache instead of recomputing g(Z[l]). The two modes agree
    only when every cache holds A[l] = g(Z[l]) as ``model_forward`` makes it
    (and dA[L] is the loss's own); with other caches, such as hand-made test
    caches, they differ.
    ``xp`` given means the inputs were checked already (the training loop).
    ``masks`` are the dropout masks given to :func:`model_forward`.
    ``weights`` (1, m) are 0/1 per example (padding columns of data split
    over devices: see ``losses.real_m``): they multiply the output layer's
    error, and m is their sum. ``m`` (without weights) is the column count as
    a 0-d array of the gradients' dtype, the same quotients as by the int: the
    training loop's, for NumPy, which divides small arrays by a 0-d array
    faster than by a Python number; ``None`` reads it from the shapes.
    """
    if xp is None:
        xp = namespace(AL, Y)
        if tuple(AL.shape) != tuple(Y.shape):
            raise ValueError(
                f"Y has shape {tuple(Y.shape)} but AL has shape {tuple(AL.shape)}: "
                "Y must be (n[L], m) like the output layer"
            )
        if weights is not None and tuple(weights.shape) != (1, AL.shape[1]):
            raise ValueError(f"weights has shape {tuple(weights.shape)} but must be (1, m) = "
                             f"(1, {AL.shape[1]}): one 0/1 weight per example")
        check_shapes(AL, Y)
        check_output(output)
        activations.get(hidden)
    L = len(caches)
    if weights is not None:
        m = real_m(weights, xp)
    grads: dict[str, Array] = {}
    for l, (kdW, kdb, kdA_prev, kdA) in zip(range(L, 0, -1), _gradient_keys(L), strict=True):
        need = dA0 or l > 1
        if l == L and reuse:
            dZ = AL - Y  # output_dZ(AL, Y, output), its checks made at the boundary
            if weights is not None:
                dZ = dZ * weights
            dA_prev, dW, db = _linear_backward(dZ, caches[l - 1][0], xp=xp, need_dA_prev=need,
                                              m=m)
        elif l == L:
            dAL = output_dA(AL, Y, output)
            if weights is not None:
                dAL = dAL * weights
            dA_prev, dW, db = _linear_activation_backward(
                dAL, caches[l - 1], output, xp=xp, need_dA_prev=need, m=m
            )
        else:
            dA = grads[kdA]
            dropped = masks is not None and l in masks
            if dropped:
                dA = grads[kdA] = dA * masks[l]  # type: ignore[index]  # masks is not None
            # With reuse, A[l] = g(Z[l]) is read from the next layer's A_prev
            # (not when dropout changed it: then g'(Z) is computed from Z).
            A = caches[l][0][0] if reuse and not dropped else None
            linear_cache, Z = caches[l - 1]  # linear_activation_backward, checked above
            dZ = _activation_dZ(dA, Z, A, hidden, xp)
            dA_prev, dW, db = _linear_backward(dZ, linear_cache, xp=xp, need_dA_prev=need, m=m)
        grads[kdW], grads[kdb] = dW, db
        if need:
            grads[kdA_prev] = dA_prev  # type: ignore[assignment]  # need: not None
    return grads


# The functions without their precision wrapper, for the calls between them
# and from the training loop (which sets the precision itself, per chunk):
# no extra frame per layer and step.
_model_forward = model_forward.__wrapped__
_model_backward = model_backward.__wrapped__
_linear_forward = linear_forward.__wrapped__
_linear_backward = linear_backward.__wrapped__
_linear_activation_backward = linear_activation_backward.__wrapped__
