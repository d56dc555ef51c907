"""Steps one by one: eager (NumPy, CuPy, array_api_strict, torch), jitted
(JAX: the whole step one XLA program), persisted (Dask: each step's arrays
computed once, so that graphs do not grow)."""

from __future__ import annotations

import os
from typing import Any

from ..backend.precision import matmul_precision


def jit_enabled() -> bool:
    """False when the environment sets ``NNARRAY_NO_JIT`` (e.g. to debug or compare)."""
    return not os.environ.get("NNARRAY_NO_JIT")


def compile_step(fn: Any, backend: str, static_argnames: tuple[str, ...] = (),
                 precision: str = "highest") -> Any:
    """The training step as the loop runs it. JAX: ``jax.jit`` (the whole step
    becomes one XLA program; the optional fast path, off when the environment
    sets ``NNARRAY_NO_JIT=1``, tested to give the same parameters; float32
    products at ``precision="highest"``, TF32 only when ``precision="tf32"``).
    Dask: every
    array the step returns is computed once (``persist``), so that the graphs
    do not grow step after step. Every other backend: ``fn`` itself."""
    if backend == "dask":
        import dask

        return lambda *args, **kwargs: dask.persist(fn(*args, **kwargs))[0]
    if backend != "jax" or not jit_enabled():
        return fn
    import jax

    jitted = jax.jit(fn, static_argnames=static_argnames)

    def run(*args: Any, **kwargs: Any) -> Any:
        with matmul_precision(precision):
            return jitted(*args, **kwargs)

    return run
