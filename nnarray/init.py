"""Initial parameters W[l] ``(n[l], n[l-1])`` and b[l] = 0 ``(n[l], 1)``.

Random draws happen on the host with NumPy, are scaled and cast there to the
target dtype, then copied to the device: the same seed gives bit-identical
parameters on every backend and device.

=========  =====================================  ==========================
method     W[l]                                   note
=========  =====================================  ==========================
zeros      0                                      symmetry: hidden units stay equal
random     N(0, 1) · 0.01                         the lecture's first networks
xavier     N(0, 1) / sqrt(n[l-1])                     tanh; the course's deep application
he         N(0, 1) · sqrt(2 / n[l-1])             ReLU
=========  =====================================  ==========================
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import backend
from .backend import Array, Target
from .backend import resolve as _resolve
from .backend.checks import check_seed

METHODS = ("zeros", "random", "xavier", "he")
GENERATORS = ("default", "legacy")


def _scaled(method: str, W: np.ndarray, n_prev: int) -> np.ndarray:
    """Standard-normal draws scaled as the course writes it (bit for bit)."""
    if method == "random":
        return W * 0.01
    if method == "xavier":
        return W / math.sqrt(n_prev)
    return W * math.sqrt(2.0 / n_prev)


def check_layer_dims(layer_dims: Sequence[int]) -> list[int]:
    """``layer_dims`` as a list of positive ints ``[n_x, n[1], ..., n[L]]``."""
    try:
        dims = list(layer_dims)
    except TypeError:
        raise TypeError(
            f"layer_dims must be a sequence of layer sizes such as [2, 4, 1], got {layer_dims!r}"
        ) from None
    if len(dims) < 2:
        raise ValueError(
            f"layer_dims needs at least 2 sizes (n_x and the output n[L]), got {dims!r}"
        )
    for l, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(
                f"layer_dims[{l}] must be a positive integer (units in layer {l}), got {n!r}"
            )
    return [int(n) for n in dims]


def initialize_host(
    layer_dims: Sequence[int],
    method: str = "he",
    seed: int | None = 1,
    dtype: Any = "float32",
    generator: str = "default",
) -> dict[str, np.ndarray]:
    """The initial parameters as host NumPy arrays of ``dtype``.

    ``generator="default"`` draws from ``numpy.random.default_rng(seed)``;
    ``generator="legacy"`` from ``numpy.random.RandomState(seed)`` (the
    course's ``np.random.seed(seed); np.random.randn(...)``), W1 first, then
    each later layer in order, so the course's initial parameters come out
    exactly in float64.
    """
    dims = check_layer_dims(layer_dims)
    if method not in METHODS:
        raise ValueError(f"init method must be one of {list(METHODS)} or a dict, got {method!r}")
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {list(GENERATORS)}, got {generator!r}")
    seed = check_seed(seed, legacy=generator == "legacy")
    name = backend.dtype_name(dtype)
    rng: np.random.RandomState | np.random.Generator
    draw: Callable[[int, int], np.ndarray]
    if generator == "legacy":
        rng = np.random.RandomState(seed)
        draw = rng.randn
    else:
        rng = np.random.default_rng(seed)
        def draw(n: int, n_prev: int) -> np.ndarray:
            return rng.standard_normal((n, n_prev))
    _check_host_draws(dims)
    params: dict[str, np.ndarray] = {}
    for l in range(1, len(dims)):
        n, n_prev = dims[l], dims[l - 1]
        if method == "zeros":
            W = np.zeros((n, n_prev))
        else:
            W = _scaled(method, draw(n, n_prev), n_prev)
        params[f"W{l}"] = W.astype(name)
        params[f"b{l}"] = np.zeros((n, 1), dtype=name)
    return params


def host_memory() -> int | None:
    """This machine's physical memory in bytes; ``None`` where the system
    does not say (then NumPy's own ``MemoryError`` applies)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def _check_host_draws(dims: Sequence[int]) -> None:
    """Refuse, before anything is drawn, a layer whose W[l] ``(n[l],
    n[l-1])`` could not be drawn on the host: the float64 draw alone larger
    than the machine's memory (a ``MemoryError`` naming the layer, the draw
    and both sizes)."""
    memory = host_memory()
    if memory is None:
        return
    for l in range(1, len(dims)):
        need = dims[l] * dims[l - 1] * 8
        if need > memory:
            raise MemoryError(
                f"layer {l}: W{l} ({dims[l]:,} x {dims[l - 1]:,}) is drawn on the host in "
                f"float64 before it is cast and copied to the device: the draw takes "
                f"{_size(need)}, more than this machine's {_size(memory)} of memory; use "
                f"smaller layers")


def _size(nbytes: float) -> str:
    """``7.28 TiB``: bytes in binary units."""
    if nbytes < 1024:
        return f"{int(nbytes)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        nbytes /= 1024
        if nbytes < 1024:
            return f"{nbytes:.3g} {unit}"
    return f"{nbytes / 1024:.3g} PiB"


def initialize_parameters(
    layer_dims: Sequence[int],
    method: str = "he",
    seed: int | None = 1,
    device: str | None = None,
    dtype: Any = "float32",
    backend: str | None = None,
    generator: str = "default",
) -> dict[str, Array]:
    """``{"W1", "b1", ..., "WL", "bL"}`` for ``layer_dims = [n_x, n[1], ..., n[L]]``,
    on ``device`` as ``dtype``.

    ``device=None`` is nnarray's default device (``"cpu"`` unless set) on every
    backend: ``backend="jax"`` alone puts them there, not on JAX's own default
    device (where ``jnp.asarray`` puts arrays: a GPU where JAX has one). The
    functional API refuses to mix the two; pass the device your arrays live
    on: ``device=nn.backend.target_of(X).device``."""
    target = _resolve(backend, device)
    target.dtype(dtype)
    host = initialize_host(layer_dims, method, seed, dtype, generator)
    return to_target(host, target, dtype)


def to_target(params: Mapping[str, Any], target: Target, dtype: Any) -> dict[str, Array]:
    """Copy a parameter dict (any library, any device) to ``target`` as ``dtype``."""
    return {k: backend.convert(v, target, dtype) for k, v in params.items()}


def check_parameters(params: Mapping[str, Any], layer_dims: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``params`` has exactly W1..WL, b1..bL with
    the shapes ``layer_dims`` asks for and finite values."""
    if not isinstance(params, Mapping):
        raise TypeError(f"init must be a method name or a dict of parameters, got {params!r}")
    dims = check_layer_dims(layer_dims)
    expected = {}
    for l in range(1, len(dims)):
        expected[f"W{l}"] = (dims[l], dims[l - 1])
        expected[f"b{l}"] = (dims[l], 1)
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise ValueError(
            f"init dict for layer_dims={dims} must have keys {sorted(expected)}; "
            f"missing {missing}, unexpected {extra}"
        )
    for k, shape in expected.items():
        got = tuple(getattr(params[k], "shape", np.shape(params[k])))
        if got != shape:
            layer = k[1:]
            what = f"(n[{layer}], n[{int(layer) - 1}])" if k[0] == "W" else f"(n[{layer}], 1)"
            raise ValueError(f"init[{k!r}] must have shape {what} = {shape}, got {got}")
