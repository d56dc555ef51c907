"""How a training step runs: eager, jitted (JAX), persisted (Dask)."""

from __future__ import annotations

import os
from typing import Any


def jit_enabled() -> bool:
    """False when the environment sets ``NNARRAY_NO_JIT`` (e.g. to debug or compare)."""
    return not os.environ.get("NNARRAY_NO_JIT")


def compile_step(fn: Any, backend: str, static_argnames: tuple[str, ...] = ()) -> Any:
    """The training step as the loop runs it. JAX: ``jax.jit`` (the whole step
    becomes one XLA program; the optional fast path, off when the environment
    sets ``NNARRAY_NO_JIT=1``, tested to give the same parameters). Dask: every
    array the step returns is computed once (``persist``), so that the graphs
    do not grow step after step. Every other backend: ``fn`` itself."""
    if backend == "dask":
        import dask

        return lambda *args, **kwargs: dask.persist(fn(*args, **kwargs))[0]
    if backend != "jax" or not jit_enabled():
        return fn
    import jax

    return jax.jit(fn, static_argnames=static_argnames)
