"""Matmul precision, a property of the arrays' products: JAX runs float32
products as TF32 on a GPU unless told otherwise; nnarray asks for
``"highest"`` (true float32 products, as NumPy, CuPy and PyTorch give)."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

MATMUL_PRECISIONS = ("highest", "tf32")
"""``matmul_precision`` values: ``"highest"`` (the default: true float32
products, relative error ~4e-7, as NumPy, CuPy and PyTorch give) or
``"tf32"`` (JAX only: TensorFloat-32 products on a GPU that has them, faster,
relative error ~3e-4 on the cat net's first layer; no change on a CPU)."""


def check_matmul_precision(value: Any) -> str:
    """``value`` if it names a ``matmul_precision``, else ``ValueError``."""
    if value not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul_precision must be one of {list(MATMUL_PRECISIONS)}, "
                         f"got {value!r}")
    return value


def matmul_precision(value: str = "highest") -> Any:
    """A context in which JAX runs float32 products at ``value`` (see
    :data:`MATMUL_PRECISIONS`); nothing to do when JAX was never imported."""
    jax = sys.modules.get("jax")
    if jax is None:
        return contextlib.nullcontext()
    return jax.default_matmul_precision("tensorfloat32" if value == "tf32" else "highest")


_P = ParamSpec("_P")
_R = TypeVar("_R")


class Wrapped(Protocol[_P, _R]):
    """What :func:`highest_precision` makes of a function: called as the
    function is, and the function itself as ``__wrapped__``."""

    __wrapped__: Callable[_P, _R]

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R: ...


def highest_precision(fn: Callable[_P, _R]) -> Wrapped[_P, _R]:
    """Run ``fn`` (a function of the functional API) with JAX's float32
    products at ``precision="highest"``: the math uses ``@``, which takes
    the precision from this context, not from an argument. The training loop
    (which passes ``xp=``) sets the precision itself, once per chunk."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs.get("xp") is not None or "jax" not in sys.modules:
            return fn(*args, **kwargs)
        with matmul_precision("highest"):
            return fn(*args, **kwargs)

    return wrapper
